#!/usr/bin/env bash
# A real multi-host cluster on one machine: three network namespaces (coordinator, worker1,
# worker2) on a private bridge, CURVE keys for each, the coordinator and one worker in each
# namespace over tcp; then a single-process run of the same spec, whose results.json must be
# byte-identical to the cluster's.
#
#   scripts/netns-cluster.sh                  the whole check (root); exit 0 when identical
#   scripts/netns-cluster.sh --check-rights   exit 0 if namespaces can be made here, 77 if not
#   scripts/netns-cluster.sh --network-only   only build the network and ping across it
#
# Environment: NETNS_CLUSTER_TIMEOUT (seconds for the whole check after the build; 300),
# NETNS_CLUSTER_SPEC (experiments/quickstart.yaml).
#
# Everything lives in namespaces this script creates, including the bridge (in a fourth,
# "switch" namespace, so the host's own network and firewall are never touched), and the
# 10.213.0.0/24 addresses exist only there. A trap removes processes and namespaces on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

log() { echo "netns-cluster: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# Unique per run, so two runs (or a leftover of a killed one) never collide.
ns_prefix="ms$$"
switch="$ns_prefix-switch"
nodes=(coordinator worker1 worker2)
declare -A address=([coordinator]=10.213.0.1 [worker1]=10.213.0.2 [worker2]=10.213.0.3)
port=7450

namespaces=()  # created so far, for the trap
pids=()        # started and not yet reaped, for the trap
workdir=""  # kept when the check fails

cleanup() {
  local status=$?
  local pid ns
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    # A process that ignores TERM for 5 s is killed.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # Deleting a namespace destroys its veth ends and the bridge with it.
  for ns in "${namespaces[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
  if [ -n "$workdir" ]; then
    if [ "$status" -ne 0 ]; then log "logs and results kept in $workdir"; else rm -rf "$workdir"; fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Explicit returns: errexit is off inside functions called from || (as check_rights is).
add_namespace() {
  ip netns add "$1" || return
  namespaces+=("$1")
  ip -n "$1" link set lo up
}

check_rights() {
  [ "$(id -u)" -eq 0 ] || { log "not root"; return 1; }
  command -v ip >/dev/null || { log "no ip (iproute2)"; return 1; }
  local probe="$ns_prefix-probe"
  add_namespace "$probe" 2>/dev/null || { log "ip netns add is not permitted here"; return 1; }
  ip -n "$probe" link add name br0 type bridge 2>/dev/null &&
    ip -n "$probe" link add name probe0 type veth peer name probe1 2>/dev/null ||
    { log "no bridge or veth devices in a namespace here"; return 1; }
  ip netns delete "$probe"
  namespaces=()
}

# The switch namespace holds the bridge; each node gets a veth pair: eth0 in the node,
# p-<node> on the bridge.
build_network() {
  add_namespace "$switch"
  ip -n "$switch" link add name br0 type bridge
  ip -n "$switch" link set br0 up
  local node ns
  for node in "${nodes[@]}"; do
    ns="$ns_prefix-$node"
    add_namespace "$ns"
    ip -n "$switch" link add name "p-$node" type veth peer name eth0 netns "$ns"
    ip -n "$switch" link set "p-$node" master br0 up
    ip -n "$ns" addr add "${address[$node]}/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
}

ping_all() {
  local from to
  for from in "${nodes[@]}"; do
    for to in "${nodes[@]}"; do
      [ "$from" != "$to" ] || continue
      # A few tries: the bridge ports need a moment to reach the forwarding state.
      ip netns exec "$ns_prefix-$from" ping -q -c 1 -w 5 "${address[$to]}" >/dev/null ||
        die "no ping from $from to $to (${address[$to]})"
    done
  done
  log "network up: every namespace pings every other"
}

# Waits until process $1 ends or the clock reaches $2 (bash SECONDS); returns its status,
# 124 on time-out (the process is then left to the trap).
wait_until() {
  local pid=$1 until=$2 status=0
  while kill -0 "$pid" 2>/dev/null; do
    [ "$SECONDS" -lt "$until" ] || return 124
    sleep 0.2
  done
  wait "$pid" || status=$?
  forget "$pid"
  return "$status"
}

forget() {
  local kept=() pid
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=("${kept[@]}")
}

show_logs() {
  local file
  for file in "$workdir"/*.log; do
    [ -e "$file" ] || continue
    log "--- last lines of $(basename "$file")"
    tail -n 20 "$file" >&2
  done
}

case "${1:-}" in
  --check-rights)
    check_rights || exit 77
    exit 0
    ;;
  --network-only)
    check_rights || die "cannot create network namespaces here (needs root)"
    command -v ping >/dev/null || die "ping not found (Debian: iputils-ping)"
    build_network
    ping_all
    exit 0
    ;;
  "") ;;
  *) die "unknown argument '$1' (use --check-rights, --network-only or nothing)" ;;
esac

check_rights || die "cannot create network namespaces here (needs root; see --check-rights)"
spec="$root/${NETNS_CLUSTER_SPEC:-experiments/quickstart.yaml}"
[ -f "$spec" ] || die "no spec at $spec"
bin="$root/.build/release/metastable"
if [ ! -x "$bin" ]; then
  log "building the release binary"
  swift build -c release --product metastable >&2
fi

# The clock starts after the build: the time-out bounds the cluster, not the compiler.
deadline=$((SECONDS + ${NETNS_CLUSTER_TIMEOUT:-300}))
workdir="$(mktemp -d "${TMPDIR:-/tmp}/netns-cluster.XXXXXX")"

build_network
if command -v ping >/dev/null; then ping_all; fi

# Each machine makes its own key pair; only public keys travel: the workers' into the
# coordinator's authorized directory, the coordinator's to each worker.
mkdir -p "$workdir/authorized"
for node in "${nodes[@]}"; do
  timeout 30 "$bin" keygen --out "$workdir/keys-$node" --name "$node" >>"$workdir/keygen.log" 2>&1 ||
    { show_logs; die "keygen for $node failed"; }
done
for node in worker1 worker2; do cp "$workdir/keys-$node/$node.pub" "$workdir/authorized/"; done

endpoint="tcp://${address[coordinator]}:$port"
log "coordinator on $endpoint, workers in worker1 and worker2"
ip netns exec "$ns_prefix-coordinator" "$bin" coordinator "$spec" --bind "$endpoint" --min-workers 2 \
  --curve-secret-key "$workdir/keys-coordinator/coordinator.key" --authorized-keys "$workdir/authorized" \
  --out "$workdir/cluster" >"$workdir/coordinator.out" 2>"$workdir/coordinator.log" &
coordinator_pid=$!
pids+=("$coordinator_pid")
for node in worker1 worker2; do
  ip netns exec "$ns_prefix-$node" "$bin" worker --connect "$endpoint" --threads 1 \
    --curve-secret-key "$workdir/keys-$node/$node.key" \
    --coordinator-key "$workdir/keys-coordinator/coordinator.pub" \
    >"$workdir/$node.out" 2>"$workdir/$node.log" &
  pids+=("$!")
done
worker_pids=("${pids[@]:1}")

status=0
wait_until "$coordinator_pid" "$deadline" || status=$?
[ "$status" -ne 124 ] || { show_logs; die "coordinator still running after ${NETNS_CLUSTER_TIMEOUT:-300} s"; }
[ "$status" -eq 0 ] || { show_logs; die "coordinator exited with status $status"; }
log "coordinator finished"

# The coordinator's SHUTDOWN ends the workers; give them a little time to say goodbye.
grace=$((SECONDS + 30 < deadline ? SECONDS + 30 : deadline))
for pid in "${worker_pids[@]}"; do
  status=0
  wait_until "$pid" "$grace" || status=$?
  [ "$status" -ne 124 ] || { show_logs; die "a worker (pid $pid) did not exit after the coordinator finished"; }
  [ "$status" -eq 0 ] || { show_logs; die "a worker (pid $pid) exited with status $status"; }
done
log "workers exited"

log "single-process run for comparison"
"$bin" run "$spec" --workers 1 --out "$workdir/single" >"$workdir/single.out" 2>"$workdir/single.log" &
single_pid=$!
pids+=("$single_pid")
status=0
wait_until "$single_pid" "$deadline" || status=$?
[ "$status" -ne 124 ] || { show_logs; die "single-process run still running at the time limit"; }
[ "$status" -eq 0 ] || { show_logs; die "single-process run exited with status $status"; }

for side in cluster single; do
  [ -s "$workdir/$side/results.json" ] || die "no $side/results.json"
done
cmp "$workdir/cluster/results.json" "$workdir/single/results.json" >&2 ||
  die "results differ between the 2-worker cluster and the single-process run"
log "ok: results.json byte-identical ($(wc -c <"$workdir/single/results.json") bytes) across 3 namespaces and 1 process"
