#!/bin/bash
# systemd passes: NVMe/TCP with a TLS PSK served by the agent unit systemd started (the PSK in
# the kernel's .nvme keyring, reached under the unit's KeyringMode=shared and its sandbox).
source /opt/hsvm/guest/lib.sh
trap 'nvme disconnect -n "$SUBNQN" >/dev/null 2>&1' EXIT
[ "$(systemctl is-active "$AGENT_UNIT")" = active ] || fail "$AGENT_UNIT is not active"
nvme_target 127.0.0.1 1 || fail "nvmet target or PSK setup failed"
if ! nvme_roundtrip 127.0.0.1 "" 16; then
  # Every failure line of the agent, both roles, so the console says which side failed and why.
  journal_lines "$AGENT_UNIT" | grep -iE 'fail|error' | tail -8 | sed 's/^/    agent: /'
  fail "$RT_ERROR | $(journal_lines "$AGENT_UNIT" | grep -iE 'fail|error' | tail -1)"
fi
[ "$(systemctl is-active "$AGENT_UNIT")" = active ] || fail "$AGENT_UNIT is not active after the connect"
note "$RT_NOTE (agent: $AGENT_UNIT)"
