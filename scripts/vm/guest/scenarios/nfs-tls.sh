#!/bin/bash
# NFSv4.2 over TLS (server authentication only): knfsd exports with xprtsec=tls, the client
# mounts by name (localhost: DNS SAN check, ::1 and 127.0.0.1) with -o xprtsec=tls, writes,
# drops caches, reads back and compares; both handshakes are served by one agent.
source /opt/hsvm/guest/lib.sh
trap stop_all_agents EXIT
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
set_exports tls 127.0.0.1 ::1
nfs_roundtrip localhost tls || fail "$RT_ERROR"
agent_alive main || fail "agent exited during the scenario"
note "$RT_NOTE"
