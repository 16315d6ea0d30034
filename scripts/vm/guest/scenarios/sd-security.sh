#!/bin/bash
# systemd passes: systemd-analyze security's exposure score of the agent unit, reported.
source /opt/hsvm/guest/lib.sh
out=$(systemd-analyze security --no-pager "$AGENT_UNIT" 2>&1); rc=$?
echo "$out"
score=$(sed -n 's/.*Overall exposure level for [^:]*: *\([0-9.]*\) *\(.*\)$/\1 \2/p' <<< "$out" | tail -1)
[ -n "$score" ] || fail "systemd-analyze security printed no exposure level (rc=$rc): $(tail -1 <<< "$out")"
note "systemd-analyze security $AGENT_UNIT: exposure $score"
