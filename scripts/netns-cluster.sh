#!/usr/bin/env bash
# A real multi-host cluster on one machine: three network namespaces (coordinator, worker1,
# worker2) on a private bridge, a CURVE key pair for each, the coordinator and one worker in
# each namespace over tcp; then a single-process run of the same spec (`metastable run
# --in-process --workers 1`: one process, one thread), whose results.json must be
# byte-identical to the cluster's.
#
#   scripts/netns-cluster.sh                  the whole check (root); exit 0 when identical
#   scripts/netns-cluster.sh --check-rights   exit 0 if namespaces can be made here, 77 if not
#   scripts/netns-cluster.sh --network-only   only build the network and ping across it
#
# The last line says PASS or FAIL, why, and how long it took. On failure the end of every log
# is printed, and the logs and results are kept in a directory under $TMPDIR (or /tmp).
#
# Environment: NETNS_CLUSTER_TIMEOUT (seconds for the cluster and the single-process run
# together, after the build; 180), NETNS_CLUSTER_SPEC (experiments/quickstart.yaml).
#
# Everything lives in namespaces this script creates, including the bridge (in a fourth,
# "switch" namespace, so the host's own network and firewall are never touched), and the
# 10.213.0.0/24 addresses exist only there. A trap removes processes and namespaces on any
# exit, Ctrl-C and a closed terminal or pipe included; namespaces left by a run that was
# killed outright (SIGKILL) are removed by the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

log() { echo "netns-cluster: $*"; }
# The EXIT trap prints the verdict line, after the clean-up.
fail() {
  failure="$*"
  exit 1
}

# Unique per run, so two runs (or a leftover of a killed one) never collide; the pid in the
# name tells a leftover (its run is gone) from a namespace of a run still going.
ns_prefix="netns-cluster-$$"
switch="$ns_prefix-switch"
nodes=(coordinator worker1 worker2)
workers=(worker1 worker2)
declare -A address=([coordinator]=10.213.0.1 [worker1]=10.213.0.2 [worker2]=10.213.0.3)
port=7450
timeout_s="${NETNS_CLUSTER_TIMEOUT:-180}"
join_timeout_s=30  # all workers must have joined the coordinator by then

mode=""
namespaces=()     # created so far, for the trap
pids=()           # started and not yet reaped, for the trap
declare -A pid_of # node -> pid of its metastable process
workdir=""        # kept when the check fails
failure=""        # why the check failed, for the verdict

cleanup() {
  local status=$? pid ns alive
  # Nothing may cut the clean-up short: not a second Ctrl-C, not a failing command (a log
  # line to a closed pipe).
  trap '' INT TERM HUP PIPE
  set +e
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # Whatever ignores TERM for 5 s is killed.
    for _ in $(seq 50); do
      alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" -eq 1 ] || break
      sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  fi
  [ "$status" -eq 0 ] || [ "$mode" != full ] || show_logs
  # With their processes gone, deleting a namespace destroys its veth end, the peer on the
  # bridge with it, and (the switch namespace) the bridge.
  for ns in "${namespaces[@]}"; do ip netns delete "$ns" 2>/dev/null || log "could not delete namespace $ns"; done
  case "$mode" in
    check-rights) ;;
    *)
      [ ${#namespaces[@]} -eq 0 ] ||
        log "cleaned up: ${#namespaces[@]} namespaces deleted with their bridge and veth pairs, no process left"
      if [ "$status" -eq 0 ]; then
        [ -z "$workdir" ] || rm -rf "$workdir"
        if [ "$mode" = network-only ]; then
          log "PASS (network only: 3 namespaces on a bridge, every one pings the others, $SECONDS s)"
        else
          log "PASS (coordinator ${address[coordinator]}, ${#workers[@]} workers, results identical, $SECONDS s)"
        fi
      else
        [ -z "$workdir" ] || log "logs and results kept in $workdir"
        log "FAIL (${failure:-exit status $status}; after $SECONDS s)"
      fi
      ;;
  esac
  exit "$status"
}
trap cleanup EXIT
trap 'failure="interrupted"; exit 130' INT
trap 'failure="terminated"; exit 143' TERM
trap 'failure="hung up"; exit 129' HUP
# Output to a reader that went away (`| head`): clean up all the same.
trap 'failure="output closed"; exit 141' PIPE

show_logs() {
  local file
  [ -n "$workdir" ] || return 0
  for file in "$workdir"/*.log; do
    [ -s "$file" ] || continue
    echo "--- last lines of $file"
    tail -n 20 "$file"
  done
  echo "---"
}

# Explicit returns: errexit is off inside functions called from || (as check_rights is).
add_namespace() {
  ip netns add "$1" || return
  namespaces+=("$1")
  ip -n "$1" link set lo up
}

check_rights() {
  [ "$(id -u)" -eq 0 ] || { log "not root"; return 1; }
  command -v ip >/dev/null || { log "no ip command (Debian: iproute2)"; return 1; }
  local probe="$ns_prefix-probe"
  add_namespace "$probe" 2>/dev/null || { log "ip netns add is not permitted here"; return 1; }
  ip -n "$probe" link add name br0 type bridge 2>/dev/null &&
    ip -n "$probe" link add name probe0 type veth peer name probe1 2>/dev/null ||
    { log "no bridge or veth devices in a namespace here"; return 1; }
  ip netns delete "$probe" || return
  namespaces=()
}

# Namespaces of an earlier run that was killed (SIGKILL, a lost machine) before its trap ran:
# their run's pid no longer exists. Their processes are ended by pid, then the namespaces go.
remove_leftovers() {
  local ns owner pid
  for ns in $(ip netns list | awk '{ print $1 }'); do
    [[ "$ns" =~ ^netns-cluster-([0-9]+)- ]] || continue
    owner="${BASH_REMATCH[1]}"
    [ "$owner" != "$$" ] || continue
    ! kill -0 "$owner" 2>/dev/null || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns delete "$ns" && log "removed namespace $ns, left behind by a killed run (pid $owner)"
  done
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
  log "network: namespaces $ns_prefix-{coordinator,worker1,worker2} with 10.213.0.1-3/24, bridged in $switch"
}

ping_all() {
  local from to
  for from in "${nodes[@]}"; do
    for to in "${nodes[@]}"; do
      [ "$from" != "$to" ] || continue
      # -w 5: up to 5 s of tries for one answer (the first ones wait for neighbour discovery).
      ip netns exec "$ns_prefix-$from" ping -q -c 1 -w 5 "${address[$to]}" >/dev/null ||
        fail "no ping from $from to $to (${address[$to]})"
    done
  done
  log "network up: every namespace pings the other two"
}

# Reaps process $1, which has ended: its exit status goes to $reaped. (Not a command
# substitution: a subshell can neither wait for this shell's children nor fail for it.)
reaped=0
reap() {
  local kept=() pid
  reaped=0
  wait "$1" || reaped=$?
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=(${kept[@]+"${kept[@]}"})
}

# Waits until process $1 ends, then reaps it; fails with message $3 if the clock (bash
# SECONDS) reaches $2 first.
wait_for() {
  while kill -0 "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$2" ] || fail "$3"
    sleep 0.2
  done
  reap "$1"
}

# json_field KEY LINE: the value of KEY in one JSON log record (without quotes), or nothing.
json_field() {
  sed -n 's/.*"'"$1"'":"\{0,1\}\([^",}]*\).*/\1/p' <<<"$2"
}

# The coordinator's log, followed while it runs: workers joining and progress records are
# retold as they appear; a refused worker key fails the check at once.
joined=0
progress_seen=0
follow_coordinator() {
  local file="$workdir/coordinator.log" lines line id node n count message eta
  [ -f "$file" ] || return 0
  count=$(grep -c '"message":"worker joined"' "$file" || true)
  if [ "$count" -gt "$joined" ]; then
    lines=$(grep '"message":"worker joined"' "$file" | tail -n +"$((joined + 1))" | head -n "$((count - joined))")
    while IFS= read -r line; do
      id=$(json_field worker_id "$line")
      node="a worker"
      for n in "${workers[@]}"; do [ "${id##*-}" != "${pid_of[$n]}" ] || node="$n"; done
      log "$node joined the coordinator (worker_id $id)"
    done <<<"$lines"
    joined=$count
  fi
  line=$(grep -m 1 '"message":"refused a worker' "$file" || true)
  if [ -n "$line" ]; then
    message=$(json_field message "$line")
    fail "the coordinator refused the worker at $(json_field address "$line"): ${message#refused a worker: }"
  fi
  count=$(grep -c '"message":"progress"' "$file" || true)
  if [ "$count" -gt "$progress_seen" ]; then
    line=$(grep '"message":"progress"' "$file" | tail -n 1)
    eta="$(json_field eta_s "$line") s"
    [[ "$eta" != -* ]] || eta="unknown"
    log "progress: grid point $(json_field round "$line") (0-based): $(json_field batches_done "$line")/$(json_field batches_total "$line") batches," \
      "$(json_field walks_per_s "$line") walks/s, $(json_field workers_live "$line") workers live, ETA $eta"
    progress_seen=$count
  fi
}

case "${1:-}" in
  --check-rights)
    mode=check-rights
    check_rights || exit 77
    exit 0
    ;;
  --network-only)
    mode=network-only
    check_rights || fail "cannot create network namespaces here (needs root)"
    command -v ping >/dev/null || fail "ping not found (Debian: iputils-ping)"
    remove_leftovers
    build_network
    ping_all
    exit 0
    ;;
  "") mode=full ;;
  *)
    mode=usage
    fail "unknown argument '$1' (use --check-rights, --network-only or nothing)"
    ;;
esac

[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || fail "NETNS_CLUSTER_TIMEOUT must be a positive number of seconds, not '$timeout_s'"
check_rights || fail "cannot create network namespaces here (needs root; see --check-rights)"
spec="${NETNS_CLUSTER_SPEC:-experiments/quickstart.yaml}"
[[ "$spec" == /* ]] || spec="$root/$spec"
[ -f "$spec" ] || fail "no spec at $spec"
remove_leftovers
workdir="$(mktemp -d "${TMPDIR:-/tmp}/netns-cluster.XXXXXX")"

# Built when missing or older than a source file, so the check never runs a stale binary.
# Not otherwise: `swift test -c release` builds this binary too, with other flags, and a
# `swift build` after it would build everything again for nothing. A build that finds nothing
# to do leaves the binary's time alone: the stamp records when the sources were last built.
bin="$root/.build/release/metastable"
stamp="$root/.build/netns-cluster.built"
newer=(-newer "$bin")
[ ! -e "$stamp" ] || newer+=(-newer "$stamp")
if [ ! -x "$bin" ] ||
  [ -n "$(find "$root/Sources" "$root/Package.swift" "$root/Package.resolved" "${newer[@]}" -print -quit 2>/dev/null)" ]; then
  command -v swift >/dev/null || fail "swift not found (needed to build the release binary)"
  log "building the release binary (swift build -c release --product metastable)"
  build_start=$SECONDS
  build_epoch=$(date +%s.%N)
  swift build -c release --product metastable >"$workdir/build.log" 2>&1 || fail "swift build failed"
  rm "$workdir/build.log"
  touch -d "@$build_epoch" "$stamp"
  log "built in $((SECONDS - build_start)) s"
else
  log "release binary up to date: ${bin#"$root"/}"
fi

# The clock starts after the build: the time-out bounds the cluster, not the compiler.
deadline=$((SECONDS + timeout_s))

build_network
if command -v ping >/dev/null; then ping_all; else log "ping not installed: no ping check (Debian: iputils-ping)"; fi

# Each machine makes its own key pair; only public keys travel: the workers' into the
# coordinator's authorized directory, the coordinator's to each worker.
mkdir -p "$workdir/authorized"
for node in "${nodes[@]}"; do
  ip netns exec "$ns_prefix-$node" timeout 30 "$bin" keygen --out "$workdir/keys-$node" --name "$node" \
    >>"$workdir/keygen.log" 2>&1 || fail "keygen for $node failed"
done
for node in "${workers[@]}"; do cp "$workdir/keys-$node/$node.pub" "$workdir/authorized/"; done
log "keys: a CURVE key pair per namespace; worker1.pub and worker2.pub authorized by the coordinator"

endpoint="tcp://${address[coordinator]}:$port"
log "coordinator: ${spec#"$root"/} on $endpoint, CURVE on, waiting for ${#workers[@]} workers"
cluster_start=$SECONDS
# Made here, not by the redirections of the background commands, which may come later than
# the first look at the coordinator's log.
for node in "${nodes[@]}"; do : >"$workdir/$node.log"; done
ip netns exec "$ns_prefix-coordinator" "$bin" coordinator "$spec" --bind "$endpoint" \
  --min-workers "${#workers[@]}" \
  --curve-secret-key "$workdir/keys-coordinator/coordinator.key" --authorized-keys "$workdir/authorized" \
  --out "$workdir/cluster" >"$workdir/coordinator.out" 2>"$workdir/coordinator.log" &
coordinator_pid=$!
pids+=("$coordinator_pid")
for node in "${workers[@]}"; do
  ip netns exec "$ns_prefix-$node" "$bin" worker --connect "$endpoint" --threads 1 \
    --curve-secret-key "$workdir/keys-$node/$node.key" \
    --coordinator-key "$workdir/keys-coordinator/coordinator.pub" \
    >"$workdir/$node.out" 2>"$workdir/$node.log" &
  pid_of[$node]=$!
  pids+=("$!")
done
log "workers: worker1 (${address[worker1]}) and worker2 (${address[worker2]}), 1 thread each"

# `ip netns exec` execs the command, so these pids are the metastable processes themselves.
join_deadline=$((SECONDS + join_timeout_s))
declare -A exited=()
while kill -0 "$coordinator_pid" 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || fail "time limit: the coordinator still running $timeout_s s after the build (NETNS_CLUSTER_TIMEOUT)"
  follow_coordinator
  for node in "${workers[@]}"; do
    [ -z "${exited[$node]:-}" ] || continue
    kill -0 "${pid_of[$node]}" 2>/dev/null && continue
    reap "${pid_of[$node]}"
    exited[$node]=$reaped
    # 0 is a worker that heard SHUTDOWN while the coordinator writes its results.
    [ "${exited[$node]}" -eq 0 ] || fail "$node exited with status ${exited[$node]} while the coordinator ran"
  done
  [ "$joined" -ge "${#workers[@]}" ] || [ "$SECONDS" -lt "$join_deadline" ] ||
    fail "only $joined of ${#workers[@]} workers joined within $join_timeout_s s; the worker logs say why"
  sleep 0.2
done
follow_coordinator
reap "$coordinator_pid"
[ "$reaped" -eq 0 ] || fail "the coordinator exited with status $reaped"
grep -q '"message":"coordinator listening".*"curve":"true"' "$workdir/coordinator.log" ||
  fail "the coordinator did not say that CURVE was on"
summary=$(grep '"event":"summary"' "$workdir/coordinator.log" | tail -n 1 || true)
log "coordinator finished in $((SECONDS - cluster_start)) s: $(json_field results_total "$summary") batch results," \
  "$(json_field requeued_total "$summary") requeued, $(json_field bad_messages_total "$summary") bad messages"

# The coordinator's SHUTDOWN ends the workers; give them a little time to say goodbye.
grace=$((SECONDS + 30 < deadline ? SECONDS + 30 : deadline))
for node in "${workers[@]}"; do
  if [ -z "${exited[$node]:-}" ]; then
    wait_for "${pid_of[$node]}" "$grace" "$node still running 30 s after the coordinator finished"
    exited[$node]=$reaped
  fi
  [ "${exited[$node]}" -eq 0 ] || fail "$node exited with status ${exited[$node]}"
done
log "workers exited (status 0) after the coordinator's SHUTDOWN"

log "single-process run for comparison (metastable run --in-process --workers 1)"
single_start=$SECONDS
"$bin" run "$spec" --in-process --workers 1 --quiet --out "$workdir/single" \
  >"$workdir/single.out" 2>"$workdir/single.log" &
single_pid=$!
pids+=("$single_pid")
wait_for "$single_pid" "$deadline" "time limit: the single-process run still running $timeout_s s after the build (NETNS_CLUSTER_TIMEOUT)"
[ "$reaped" -eq 0 ] || fail "the single-process run exited with status $reaped"
log "single-process run finished in $((SECONDS - single_start)) s"

for side in cluster single; do
  [ -s "$workdir/$side/results.json" ] || fail "no $side/results.json"
done
difference=$(cmp "$workdir/cluster/results.json" "$workdir/single/results.json" 2>&1) ||
  fail "results.json differs between the cluster and the single-process run: $difference"
log "results.json byte-identical: $(wc -c <"$workdir/single/results.json") bytes from 3 namespaces over CURVE, and from 1 process"
exit 0
