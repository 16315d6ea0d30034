#!/bin/bash
# NVMe/TCP with a TLS 1.3 PSK on loopback: nvmet target (configfs) on a port with
# addr_tsas=tls1.3; PSK made with nvme gen-tls-key and inserted into the .nvme keyring with
# nvme check-tls-key --insert; nvme connect --tls with 4 I/O queues (2 read + 2 write), so
# the agent serves 5 client and 5 server handshakes; O_DIRECT pattern write/read; disconnect.
source /opt/hsvm/guest/lib.sh
trap 'nvme disconnect -n "$SUBNQN" >/dev/null 2>&1; stop_all_agents' EXIT
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
nvme_target 127.0.0.1 1 || fail "nvmet target or PSK setup failed"
nvme_roundtrip 127.0.0.1 "" 32 || fail "$RT_ERROR"
agent_alive main || fail "agent exited during the scenario"
note "$RT_NOTE"
