#!/bin/bash
# `handshaked companion kernel-test` against the real handshake family: the companion runs
# its own KTAP suite (it plays the agent, injecting faults). Until that subcommand exists
# this scenario reports SKIP with the reason.
source /opt/hsvm/guest/lib.sh
trap stop_all_agents EXIT
[ -f "$HANDSHAKED_MAIN" ] || fail "handshaked is not in the payload ($HANDSHAKED_MAIN missing)"
if ! help=$(timeout 120 node "$HANDSHAKED_MAIN" companion kernel-test --help 2>&1); then
  echo "$help" | tail -5
  skip "handshaked companion kernel-test does not exist yet"
fi
echo "$help" | head -20
out=$HSVM_RESULTS/companion-kernel-test.ktap
timeout -k 10 300 node "$HANDSHAKED_MAIN" companion kernel-test 2>"$HSVM_RESULTS/companion-kernel-test.stderr.log" | tee "$out"
rc=${PIPESTATUS[0]}
notok=$(grep -cE '^[[:space:]]*not ok' "$out")
[ "$rc" = 0 ] || fail "companion kernel-test exited rc=$rc ($notok not-ok lines; KTAP in $out)"
note "companion KTAP: $(grep -cE '^[[:space:]]*ok' "$out") ok, $notok not ok"
