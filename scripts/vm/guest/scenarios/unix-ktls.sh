#!/bin/bash
# handshaked's unix transport with kTLS on, on a kernel that has kTLS (handshaked pass only;
# tlshd has no unix transport, so its pass reports SKIP "not applicable").
#  1. `handshaked serve --transport unix --ktls on` with the config from `companion
#     print-agent-config` (the companion PKI: fixtures/pki in the payload), and `companion
#     agent-test` against it: its KTAP (nested under this line by report.sh) must have no
#     "not ok", and the key checks of the status-0 cases must have gone through kTLS data
#     (the companion says "data through kTLS" or "key logs" per case).
# The client library's example and its kTLS stream against real peers: unix-ktls-stream.sh.
source /opt/hsvm/guest/lib.sh
source /opt/hsvm/guest/unix-agent.sh
[ "$HSVM_AGENT" = handshaked ] || skip "not applicable: $HSVM_AGENT has no unix transport (handshaked only)"
cleanup() {
  [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null
  stop_all_agents
}
trap cleanup EXIT
[ -f "$HANDSHAKED_MAIN" ] || fail "handshaked is not in the payload ($HANDSHAKED_MAIN missing)"
PKI=/opt/handshaked/fixtures/pki
[ -f "$PKI/ca-bundle.pem" ] || fail "the companion PKI is not in the payload ($PKI/ca-bundle.pem missing)"
W=/tmp/unix-ktls; rm -rf "$W"; mkdir -p "$W"
SOCK=@hsvm-unix-ktls

# --- 1. companion agent-test with kTLS on -----------------------------------------------
run node "$HANDSHAKED_MAIN" companion print-agent-config --pki "$PKI" --unix-socket "$SOCK" -o "$W/agent.conf" \
  || fail "companion print-agent-config failed"
start_unix_agent unix -c "$W/agent.conf" --transport unix --unix-socket "$SOCK" --ktls on --keylog "$W/agent.keylog" --log-level debug \
  || fail "$AGENT_ERROR"
out=$HSVM_RESULTS/$HSVM_SCENARIO.ktap
hs0=$(handshakes_total)
t0=$(up)
timeout -k 10 300 node "$HANDSHAKED_MAIN" companion agent-test --agent-socket "$SOCK" --agent-keylog "$W/agent.keylog" --pki "$PKI" \
  > "$out" 2> "$HSVM_RESULTS/$HSVM_SCENARIO.companion.stderr.log"
rc=$?
hs1=$(handshakes_total)
log "companion agent-test rc=$rc after $(elapsed "$t0")s"
cat "$out"; echo "--- stderr:"; cat "$HSVM_RESULTS/$HSVM_SCENARIO.companion.stderr.log"
show_tls_stat "after agent-test"
stop_agent unix
oks=$(grep -cE '^[[:space:]]*ok ' "$out")
notok=$(grep -cE '^[[:space:]]*not ok' "$out")
skips=$(grep -cE '^[[:space:]]*ok .*# SKIP' "$out")
via_ktls=$(grep -c 'keys agree (data through kTLS' "$out")
via_keylog=$(grep -c 'keys agree (key logs' "$out")
summary="agent-test: $oks ok ($skips skipped), $notok not ok; keys checked by kTLS data $via_ktls, by key log $via_keylog; kTLS installs +$((hs1 - hs0))"
[ "$notok" = 0 ] && [ "$rc" = 0 ] || fail "$summary; rc=$rc (KTAP: results/$HSVM_AGENT/$HSVM_SCENARIO.ktap)"
[ "$oks" -gt 40 ] || fail "$summary: too few cases reported (KTAP cut short?)"
[ "$skips" = 0 ] || fail "$summary: cases were skipped (a peer tool missing from the guest?)"
[ "$via_ktls" -ge 16 ] || fail "$summary: expected the key checks to go through kTLS data"
[ "$((hs1 - hs0))" -ge "$((via_ktls + via_keylog))" ] || fail "$summary: fewer kTLS installs than successful handshakes"
note "$summary"
