#!/bin/bash
# NVMe/TCP reconnect storm (issue 8): HSVM_STORM_CTRLS controllers (default 8) connect to the
# nvmet TLS port at the same moment, each with an admin queue, 2 read and 2 write queues, as
# hosts do when a storage server comes back. The agent serves both ends of every queue (host =
# client role, target = server role). handshakes/s = kTLS installs counted by
# /proc/net/tls_stat over the time from the first connect to the last one returning. The storm
# runs once "cold" right after the agent started (a fresh Node process still compiles its code;
# tlshd forks anyway), then HSVM_STORM_WARM_ROUNDS times "warm" (default 3), each after
# disconnecting everything, as in a server restart that is not the agent's first; the note gives
# every warm rate and their median. Run it with each agent (HSVM_PASSES="tlshd handshaked",
# HSVM_ONLY=nvme-storm) and compare the notes (docs/bench.md, "The VM storm").
#
# HSVM_STORM_AGENTS="handshaked tlshd" runs both agents in one boot instead of the pass's agent,
# storm by storm: each starts and takes its cold storm while the other is stopped (handshaked
# with SIGSTOP, tlshd ended and started again; see pause), so the running one gets every request;
# then the warm rounds alternate (AB, BA, AB, ...). The host's load then moves both agents' figures
# alike, which two passes (two boots, minutes apart) cannot promise. One pass is enough:
# HSVM_PASSES=handshaked HSVM_ONLY=nvme-storm HSVM_STORM_AGENTS="handshaked tlshd".
#
# HSVM_STORM_CODE_CACHE says what handshaked's code cache holds when the measured agent starts:
#   first   (default) an empty cache directory, as on the first boot after installing the unit
#           (CacheDirectory=): the agent writes its cache a second after ready; the storm waits
#           for the file so that write does not land inside the cold storm
#   primed  a cache written by an earlier start in this boot, as on every later boot of a real
#           machine (CacheDirectory= persists; this VM starts empty every boot): one start writes
#           it and is stopped, then the measured agent starts (tlshd is started and stopped the
#           same way, so both agents' boots do the same things)
#   off     no cache at all (HANDSHAKED_CODE_CACHE=off; the storm runs 1-4 of docs/bench.md)
#
# Both agents read the harness's config (write_agent_config: [debug] loglevel=2, which is debug
# logging for handshaked too: a line per record) unless
#   HSVM_STORM_LOGLEVEL=N  sets [debug] loglevel=N for both (0 is what both ship with)
#   HSVM_STORM_GROUPS="x25519 secp256r1"  sets handshaked's [handshaked] groups (it ships
#           preferring the X25519MLKEM768 hybrid, so between two handshakeds every storm
#           handshake does ML-KEM-768 as well; tlshd's GnuTLS offers classical groups only)
# The host passes HSVM_STORM_* through run.sh (kernel command line hsvm.storm.*).
source /opt/hsvm/guest/lib.sh
CTRLS=${HSVM_STORM_CTRLS:-8}
ROUNDS=${HSVM_STORM_WARM_ROUNDS:-3}
CACHE_MODE=${HSVM_STORM_CODE_CACHE:-first}
read -ra AGENTS <<< "${HSVM_STORM_AGENTS:-$HSVM_AGENT}"
[[ $CTRLS =~ ^[0-9]+$ ]] && [ "$CTRLS" -ge 1 ] && [ "$CTRLS" -le 64 ] \
  || fail "HSVM_STORM_CTRLS must be a whole number from 1 to 64, got '$CTRLS'"
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] \
  || fail "HSVM_STORM_WARM_ROUNDS must be a whole number from 1 to 20, got '$ROUNDS'"
case $CACHE_MODE in first|primed|off) ;; *) fail "HSVM_STORM_CODE_CACHE must be first, primed or off, got '$CACHE_MODE'" ;; esac
case "${AGENTS[*]}" in
  tlshd|handshaked|"handshaked tlshd"|"tlshd handshaked") ;;
  *) fail "HSVM_STORM_AGENTS must be one agent or 'handshaked tlshd' (either order), got '${AGENTS[*]}'" ;;
esac
[ -z "${HSVM_STORM_LOGLEVEL:-}" ] || [[ $HSVM_STORM_LOGLEVEL =~ ^[0-9]$ ]] \
  || fail "HSVM_STORM_LOGLEVEL must be a digit, got '$HSVM_STORM_LOGLEVEL'"
[[ ${HSVM_STORM_GROUPS:-} =~ ^[A-Za-z0-9\ ]*$ ]] || fail "HSVM_STORM_GROUPS must be group names separated by spaces, got '$HSVM_STORM_GROUPS'"
CACHE_FILE=$HANDSHAKED_CODE_CACHE_DIR/program.v8cache
# The storm's configs: the harness's, with the knobs above applied.
CONF=/etc/tlshd/storm.conf CONF_HSD=/etc/tlshd/storm-handshaked.conf
if [ -n "${HSVM_STORM_LOGLEVEL:-}" ]; then
  sed "s/^loglevel=.*/loglevel=$HSVM_STORM_LOGLEVEL/" /etc/tlshd/config > "$CONF"
else
  cp /etc/tlshd/config "$CONF"
fi
cp "$CONF" "$CONF_HSD"
[ -n "${HSVM_STORM_GROUPS:-}" ] && set_handshaked_groups "$CONF_HSD" "$HSVM_STORM_GROUPS"
# Both agents as they ship otherwise: the systemd unit's V8 heap options and a cache directory
# for handshaked.
agent_cmd() {
  local cache=$HANDSHAKED_CODE_CACHE_DIR
  [ "$CACHE_MODE" = off ] && cache=off
  case $1 in
    tlshd) echo "/usr/sbin/tlshd -s -c $CONF" ;;
    handshaked) echo "env HANDSHAKED_CODE_CACHE=$cache node ${HSVM_STORM_NODE_FLAGS:---max-semi-space-size=2 --max-old-space-size=128} $HANDSHAKED_MAIN serve -c $CONF_HSD" ;;
    *) echo "false unknown-agent-$1" ;;
  esac
}
# A stopped handshaked is resumed before it is stopped for good (TERM would wait for it otherwise).
trap 'nvme disconnect-all >/dev/null 2>&1; p=$(agent_pid handshaked); [ -n "$p" ] && kill -CONT -- "-$p" 2>/dev/null; stop_all_agents' EXIT
# pause/resume AGENT between its storms when both agents share the boot. handshaked is stopped
# with SIGSTOP and keeps what its JIT compiled; the READY notifications of the other agent's
# storms overflow its netlink socket meanwhile, and on SIGCONT it drains the kernel's queue
# (ENOBUFS is a signal to it, and the queue is empty). tlshd cannot be stopped that way: its
# main process exits on the first receive error ("nl_recvmsgs: Out of memory", then "Shutting
# down"), so it is stopped and started again. That costs it nothing warm: every handshake runs in
# a child forked from a main process that only listens, new or not.
pause() {
  [ ${#AGENTS[@]} = 2 ] || return 0
  case $1 in
    handshaked) kill -STOP -- "-$(agent_pid handshaked)" ;;
    tlshd) stop_agent tlshd ;;
  esac
}
resume() {
  [ ${#AGENTS[@]} = 2 ] || return 0
  case $1 in
    handshaked) kill -CONT -- "-$(agent_pid handshaked)"; settle handshaked ;;
    # its own start-up file, so the report's agent start-up is the first starts' alone
    tlshd) HSVM_SCENARIO=$HSVM_SCENARIO.restart start_agent tlshd tlshd || fail "$AGENT_ERROR" ;;
  esac
}
# settle AGENT: a second after SIGCONT for the agent to drain the READY backlog before its storm
# is timed, and until its process group is one process.
settle() {
  local p t0 n
  p=$(agent_pid "$1"); t0=$(up)
  sleep 1
  for _ in $(seq 1 120); do
    n=$(ps -e -o pgid= | awk -v g="$p" '$1 == g' | wc -l)
    [ "$n" -le 1 ] && break
    sleep 0.25
  done
  log "$1 resumed; settled after $(elapsed "$t0")s ($n processes in its group)"
  agent_alive "$1" || fail "$1 exited while it was stopped between storms"
}

# wait_code_cache AGENT: until handshaked's cache file exists (with a cache directory only).
wait_code_cache() {
  local t0
  [ "$1" = handshaked ] && [ "$CACHE_MODE" != off ] || return 0
  t0=$(up)
  for _ in $(seq 1 240); do [ -s "$CACHE_FILE" ] && break; sleep 0.25; done
  if [ -s "$CACHE_FILE" ]; then log "code cache $CACHE_FILE present ($(stat -c %s "$CACHE_FILE") bytes) after waiting $(elapsed "$t0")s"
  else log "code cache $CACHE_FILE not written $(elapsed "$t0")s after ready"; CACHE_NOTE=" (cache not written)"; fi
}

# storm LABEL AGENT: connect CTRLS controllers at once; sets RATE and N, fails the scenario on error.
storm() {
  local label=$1 agent=$2 hs0 hs1 t0 secs failed=0 live queues p pids=()
  hs0=$(handshakes_total)
  t0=$(up)
  for _ in $(seq 1 "$CTRLS"); do
    # --duplicate-connect: several controllers of one host to one subsystem, like several hosts
    timeout -k 5 300 nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$SUBNQN" --hostnqn="$HOSTNQN" --hostid="$HOSTID" \
      --tls --duplicate-connect --nr-io-queues=2 --nr-write-queues=2 >/dev/null 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  secs=$(elapsed "$t0")
  hs1=$(handshakes_total)
  live=$(for c in /sys/class/nvme/nvme*; do [ "$(cat "$c/state" 2>/dev/null)" = live ] && echo x; done | wc -l)
  queues=$(cat /sys/class/nvme/nvme*/queue_count 2>/dev/null | awk '{s += $1} END {print s+0}')
  N=$((hs1 - hs0))
  RATE=$(awk -v n="$N" -v s="$secs" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')
  QPC=$((queues / CTRLS))
  log "$label storm ($agent): $CTRLS controllers, $live live, $queues queues, $N kTLS installs in ${secs}s = $RATE handshakes/s ($failed connects failed)"
  agent_alive "$agent" || fail "$agent exited during the $label storm"
  [ "$failed" = 0 ] || fail "$label storm ($agent): $failed of $CTRLS nvme connect --tls failed ($N handshakes in ${secs}s)"
  [ "$N" -ge $((2 * queues)) ] || fail "$label storm ($agent): expected $((2 * queues)) kTLS installs for $queues queues, got $N"
}

# disconnect_all WHAT: every controller gone, or the scenario fails (a leftover controller's
# queues would be counted in the next storm).
disconnect_all() {
  run timeout -k 5 120 nvme disconnect-all >/dev/null
  for _ in $(seq 1 80); do ls /sys/class/nvme/ 2>/dev/null | grep -q nvme || return 0; sleep 0.25; done
  fail "nvme disconnect-all left controllers after $1: $(ls /sys/class/nvme/ | paste -sd' ')"
}


CACHE_NOTE=
rm -f "$CACHE_FILE"
declare -A COLD WARM PRIME_READY READY
nvme_target 127.0.0.1 1 || fail "nvmet target or PSK setup failed"
for a in "${AGENTS[@]}"; do
  if [ "$CACHE_MODE" = primed ]; then
    # Its own start-up file, so the report's agent start-up is the measured starts' alone.
    HSVM_SCENARIO=$HSVM_SCENARIO.prime start_agent "prime-$a" "$a" || fail "$AGENT_ERROR"
    PRIME_READY[$a]=$AGENT_READY_SECS
    wait_code_cache "$a"
    stop_agent "prime-$a"
  fi
  start_agent "$a" "$a" || fail "$AGENT_ERROR"
  READY[$a]=$AGENT_READY_SECS
  [ "$CACHE_MODE" = primed ] || wait_code_cache "$a"
  storm cold "$a"
  COLD[$a]=$RATE
  disconnect_all "the cold storm ($a)"
  pause "$a"
done
order=("${AGENTS[@]}")
for r in $(seq 1 "$ROUNDS"); do
  for a in "${order[@]}"; do
    resume "$a"
    storm "warm $r" "$a"
    WARM[$a]="${WARM[$a]:+${WARM[$a]} }$RATE"
    disconnect_all "the warm $r storm ($a)"
    pause "$a"
  done
  [ ${#order[@]} = 2 ] && order=("${order[1]}" "${order[0]}")
done

# The note: per agent "cold X hs/s, warm M hs/s (median of n: ...)", the prefix that one agent's
# runs always noted (M was one storm's rate before the rounds).
summary=
for a in "${AGENTS[@]}"; do
  read -ra w <<< "${WARM[$a]}"
  m=$(median "${w[@]}"); m=${m%0}
  part="cold ${COLD[$a]} hs/s, warm $m hs/s (median of $ROUNDS: ${w[*]})"
  [ "$a" = handshaked ] && part="$part; code cache $CACHE_MODE$CACHE_NOTE"
  [ "$CACHE_MODE" = primed ] && part="$part, the start before was ready after ${PRIME_READY[$a]}s"
  [ ${#AGENTS[@]} = 2 ] && part="$a ${part}, ready ${READY[$a]}s"
  summary="${summary:+$summary; }$part"
done
if [ ${#AGENTS[@]} = 2 ]; then
  # handshaked / tlshd per round (the two storms of a round are back to back), and their median
  read -ra h <<< "${WARM[handshaked]}"; read -ra t <<< "${WARM[tlshd]}"
  ratios=()
  for i in "${!h[@]}"; do ratios+=("$(awk -v a="${h[$i]}" -v b="${t[$i]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"); done
  summary="$summary; handshaked/tlshd warm $(median "${ratios[@]}") (median of rounds: ${ratios[*]}), cold $(awk -v a="${COLD[handshaked]}" -v b="${COLD[tlshd]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
fi
conf=
[ -n "${HSVM_STORM_LOGLEVEL:-}" ] && conf="; loglevel=$HSVM_STORM_LOGLEVEL"
[ -n "${HSVM_STORM_GROUPS:-}" ] && conf="$conf; handshaked groups=${HSVM_STORM_GROUPS// /;}"
note "storm $CTRLS ctrls x $QPC queues, $N handshakes: $summary$conf"
