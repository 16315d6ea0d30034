#!/bin/bash
# Mixed agents, NVMe/TCP TLS PSK across a veth pair: nvmet target (root namespace) with one
# agent, nvme connect from namespace "cli" with the other.
# Name: mixed-nvme-target_<agent>-host_<agent>.
source /opt/hsvm/guest/lib.sh
trap 'nvme disconnect -n "$SUBNQN" >/dev/null 2>&1; stop_all_agents' EXIT
tgt=$(echo "$1" | sed -n 's/.*target_\([a-z]*\).*/\1/p'); hst=$(echo "$1" | sed -n 's/.*host_\([a-z]*\).*/\1/p')
[ -n "$tgt" ] && [ -n "$hst" ] || fail "bad scenario name $1"
start_agent target "$tgt" || fail "$AGENT_ERROR"
start_agent host "$hst" cli || fail "$AGENT_ERROR"
nvme_target 10.99.0.1 2 || fail "nvmet target or PSK setup failed"
r0=$(tls_counter "" TlsTxSw); c0=$(tls_counter cli TlsTxSw)
nvme_roundtrip 10.99.0.1 cli 16 || fail "$RT_ERROR"
r1=$(tls_counter "" TlsTxSw); c1=$(tls_counter cli TlsTxSw)
[ "$r1" -gt "$r0" ] && [ "$c1" -gt "$c0" ] || fail "expected kTLS on both sides (target ns +$((r1-r0)), host ns +$((c1-c0)))"
note "target $tgt / host $hst: $RT_NOTE"
