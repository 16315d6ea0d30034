#!/bin/bash
# NVMe/TCP reconnect storm (issue 8): HSVM_STORM_CTRLS controllers (default 8) connect to the
# nvmet TLS port at the same moment, each with an admin queue, 2 read and 2 write queues,
# as hosts do when a storage server comes back. The agent serves
# both ends of every queue (host = client role, target = server role). Reports handshakes/s
# over the storm: kTLS installs counted by /proc/net/tls_stat, from the first connect to the
# last controller live. Run it with each agent (HSVM_PASSES="tlshd handshaked") and compare
# the notes: the issue's target is handshaked >= 3x tlshd.
source /opt/hsvm/guest/lib.sh
CTRLS=${HSVM_STORM_CTRLS:-8}
trap 'nvme disconnect-all >/dev/null 2>&1; stop_all_agents' EXIT
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
nvme_target 127.0.0.1 1 || fail "nvmet target or PSK setup failed"

hs0=$(handshakes_total)
t0=$(up)
pids=()
for i in $(seq 1 "$CTRLS"); do
  # --duplicate-connect: several controllers of one host to one subsystem, like several hosts
  timeout -k 5 300 nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$SUBNQN" --hostnqn="$HOSTNQN" --hostid="$HOSTID" \
    --tls --duplicate-connect --nr-io-queues=2 --nr-write-queues=2 >/dev/null 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
secs=$(elapsed "$t0")
hs1=$(handshakes_total)
live=$(for c in /sys/class/nvme/nvme*; do [ "$(cat "$c/state" 2>/dev/null)" = live ] && echo x; done | wc -l)
queues=$(cat /sys/class/nvme/nvme*/queue_count 2>/dev/null | awk '{s += $1} END {print s+0}')
show_tls_stat "after the storm"
n=$((hs1 - hs0))
rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')
log "storm: $CTRLS controllers, $live live, $queues queues, $n kTLS installs in ${secs}s = $rate handshakes/s ($failed connects failed)"
agent_alive main || fail "agent exited during the storm"
[ "$failed" = 0 ] || fail "$failed of $CTRLS nvme connect --tls failed ($n handshakes in ${secs}s)"
[ "$n" -ge $((2 * queues)) ] || fail "expected $((2 * queues)) kTLS installs for $queues queues, got $n"
note "storm $CTRLS ctrls x $((queues / CTRLS)) queues: $n handshakes in ${secs}s = $rate hs/s"
