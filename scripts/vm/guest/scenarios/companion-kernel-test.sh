#!/bin/bash
# `handshaked companion kernel-test` against the real handshake family: the companion runs
# its own KTAP suite (it plays the agent, injecting faults). Until that subcommand exists
# this scenario reports SKIP with the reason.
source /opt/hsvm/guest/lib.sh
trap stop_all_agents EXIT
[ -f "$HANDSHAKED_MAIN" ] || fail "handshaked is not in the payload ($HANDSHAKED_MAIN missing)"
# yargs prints the parent's help for an unknown subcommand, so look for the subcommand
# in the companion's command list instead of trusting the exit status of --help.
help=$(timeout 120 node "$HANDSHAKED_MAIN" companion --help 2>&1)
if ! grep -qE 'companion kernel-test' <<< "$help"; then
  echo "$help" | head -20
  skip "handshaked companion kernel-test does not exist yet"
fi
echo "$help" | head -20
out=$HSVM_RESULTS/companion-kernel-test.ktap
timeout -k 10 300 node "$HANDSHAKED_MAIN" companion kernel-test 2>"$HSVM_RESULTS/companion-kernel-test.stderr.log" | tee "$out"
rc=${PIPESTATUS[0]}
notok=$(grep -cE '^[[:space:]]*not ok' "$out")
[ "$rc" = 0 ] || fail "companion kernel-test exited rc=$rc ($notok not-ok lines; KTAP in results/$HSVM_AGENT/companion-kernel-test.ktap)"
note "companion KTAP: $(grep -cE '^[[:space:]]*ok' "$out") ok, $notok not ok"
