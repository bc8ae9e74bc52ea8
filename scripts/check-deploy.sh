#!/usr/bin/env bash
# Static checks of deploy/ and the scripts, for CI (no cluster, no network, no root needed):
# the Kubernetes manifests parse and agree with each other, kustomize renders them (when
# kubectl is there), systemd accepts the units (when systemd-analyze is there), every shell
# script parses, and the container file copies only what exists.
#
#   scripts/check-deploy.sh       ends with "check-deploy: N passed, M failed"; exit 1 if M > 0
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0
check() { # check NAME COMMAND...: runs the command, counts and reports it
  local name=$1 output
  shift
  if output="$("$@" 2>&1)"; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    echo "FAIL  $name"
    [ -z "$output" ] || printf '%s\n' "$output" | sed 's/^/      /'
  fi
}

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

kubernetes_manifests() {
  python3 - deploy/kubernetes <<'EOF'
import glob, os, sys, yaml

root = sys.argv[1]
problems = []
docs = {}  # (kind, name) -> document
kustomization = None
for path in sorted(glob.glob(os.path.join(root, "*.yaml"))):
    try:
        loaded = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    except yaml.YAMLError as error:
        problems.append(f"{path}: {error}")
        continue
    for doc in loaded:
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            problems.append(f"{path}: a document without apiVersion and kind")
        elif doc["kind"] == "Kustomization":
            kustomization = (path, doc)
        elif not doc.get("metadata", {}).get("name"):
            problems.append(f"{path}: {doc['kind']} without metadata.name")
        else:
            docs[(doc["kind"], doc["metadata"]["name"])] = (path, doc)
if kustomization is None:
    sys.exit("\n".join(problems + [f"{root}: no kustomization.yaml"]))
kpath, k = kustomization

# Every manifest is a resource of the kustomization, and every resource exists.
listed = set(k.get("resources", []))
on_disk = {os.path.basename(p) for p, _ in docs.values()}
for missing in sorted(listed - on_disk):
    problems.append(f"{kpath}: resource {missing} does not exist")
for forgotten in sorted(on_disk - listed):
    problems.append(f"{kpath}: {forgotten} is not among the resources")
for generator in k.get("configMapGenerator", []):
    for entry in generator.get("files", []):
        if not os.path.exists(os.path.join(root, entry.split("=")[-1])):
            problems.append(f"{kpath}: {generator['name']}: no file {entry}")
config_maps = {g["name"] for g in k.get("configMapGenerator", [])}
secrets = {g["name"] for g in k.get("secretGenerator", [])}
claims = {name for kind, name in docs if kind == "PersistentVolumeClaim"}

def option(args, flag):
    return args[args.index(flag) + 1] if flag in args else None

deployments = {name: doc for (kind, name), (_, doc) in docs.items() if kind == "Deployment"}
containers = {}
for name, doc in deployments.items():
    pod = doc["spec"]["template"]["spec"]
    labels = doc["spec"]["template"]["metadata"]["labels"]
    if doc["spec"]["selector"]["matchLabels"].items() - labels.items():
        problems.append(f"Deployment {name}: the selector does not match the pod labels")
    for volume in pod.get("volumes", []):
        for source, known in (("configMap", config_maps), ("secret", secrets), ("persistentVolumeClaim", claims)):
            if source in volume:
                ref = volume[source].get("name") or volume[source].get("secretName") or volume[source].get("claimName")
                if ref not in known:
                    problems.append(f"Deployment {name}: volume {volume['name']} refers to unknown {source} {ref}")
    mounts = {v["name"] for v in pod.get("volumes", [])}
    for container in pod["containers"]:
        containers[container["args"][0]] = (name, doc, container)
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in mounts:
                problems.append(f"Deployment {name}: mount of unknown volume {mount['name']}")
        if not container.get("resources", {}).get("requests"):
            problems.append(f"Deployment {name}: container {container['name']} has no resource requests")

# The workers connect to the coordinator's Service, on the port the coordinator binds.
if set(containers) != {"coordinator", "worker"}:
    problems.append(f"expected one coordinator and one worker container, found {sorted(containers)}")
else:
    _, coordinator_doc, coordinator = containers["coordinator"]
    _, worker_doc, worker = containers["worker"]
    bind_port = option(coordinator["args"], "--bind").rsplit(":", 1)[1]
    host, port = option(worker["args"], "--connect").removeprefix("tcp://").rsplit(":", 1)
    service = docs.get(("Service", host.split(".")[0]), (None, None))[1]
    if service is None:
        problems.append(f"the workers connect to {host}, which is no Service here")
    else:
        ports = service["spec"]["ports"]
        if not any(str(p["port"]) == port for p in ports):
            problems.append(f"Service {host} has no port {port}")
        pod_labels = coordinator_doc["spec"]["template"]["metadata"]["labels"]
        if service["spec"]["selector"].items() - pod_labels.items():
            problems.append(f"Service {host} does not select the coordinator pods")
        named = {p["name"]: str(p["containerPort"]) for p in coordinator.get("ports", [])}
        for p in ports:
            if named.get(p["targetPort"], str(p["targetPort"])) != bind_port:
                problems.append(f"Service {host} targets {p['targetPort']}, the coordinator binds {bind_port}")
    if int(option(coordinator["args"], "--min-workers") or 1) > worker_doc["spec"]["replicas"]:
        problems.append("--min-workers exceeds the worker replicas: the run would never start")
    for args, flags in ((coordinator["args"], ["--curve-secret-key", "--authorized-keys"]),
                        (worker["args"], ["--curve-secret-key", "--coordinator-key"])):
        for flag in flags:
            if option(args, flag) is None:
                problems.append(f"{args[0]} without {flag}: CURVE must be on")

yaml.safe_load(open(os.path.join(root, "spec", "spec.yaml")))
if problems:
    sys.exit("\n".join(problems))
EOF
}
check "kubernetes manifests parse and agree" kubernetes_manifests

if command -v kubectl >/dev/null; then
  kustomize_renders() {
    # Stand-in keys: the real ones are made by keygen and never committed.
    cp -r deploy/kubernetes "$scratch/kubernetes"
    local name
    for name in coordinator worker; do
      echo "stand-in-$name-secret" >"$scratch/kubernetes/keys/$name.key"
      echo "stand-in-$name-public" >"$scratch/kubernetes/keys/$name.pub"
    done
    kubectl kustomize "$scratch/kubernetes" >"$scratch/rendered.yaml" &&
      python3 -c 'import sys, yaml; assert len([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]) >= 8' \
        "$scratch/rendered.yaml"
  }
  check "kubectl kustomize deploy/kubernetes" kustomize_renders
else
  echo "skip  kubectl kustomize (no kubectl)"
fi

if command -v systemd-analyze >/dev/null; then
  systemd_units() {
    # verify wants the ExecStart binary to exist: point the units at a stand-in, and give
    # the template an instance. Warnings (unknown keys, bad values) exit 0, so any output fails.
    mkdir -p "$scratch/systemd/bin"
    printf '#!/bin/sh\n' >"$scratch/systemd/bin/metastable"
    chmod +x "$scratch/systemd/bin/metastable"
    local unit name output
    for unit in deploy/systemd/*.service; do
      name="$(basename "$unit")"
      sed "s|/usr/local/bin/metastable|$scratch/systemd/bin/metastable|" "$unit" \
        >"$scratch/systemd/${name/@./@check.}"
    done
    output="$(cd "$scratch/systemd" && systemd-analyze verify --man=no --generators=no ./*.service 2>&1)" &&
      [ -z "$output" ] || { printf '%s\n' "$output"; return 1; }
  }
  check "systemd-analyze verify deploy/systemd" systemd_units
else
  echo "skip  systemd-analyze verify (not installed)"
fi

for script in scripts/*.sh deploy/slurm/*.sbatch .ci/run; do
  check "bash -n $script" bash -n "$script"
done

container_copies() {
  # Every COPY from the build context exists, and the ignore file lets it through.
  local source status=0
  while read -r source; do
    [ -e "$source" ] || { echo "COPY $source: no such file"; status=1; }
    grep -qx "!$source" deploy/container/Containerfile.dockerignore ||
      { echo "COPY $source: excluded by Containerfile.dockerignore"; status=1; }
  done < <(awk '$1 == "COPY" && $2 !~ /^--/ { for (i = 2; i < NF; i++) print $i }' deploy/container/Containerfile)
  return "$status"
}
check "Containerfile copies what exists" container_copies

echo "check-deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
