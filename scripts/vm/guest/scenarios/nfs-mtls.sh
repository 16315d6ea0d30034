#!/bin/bash
# NFSv4.2 over mutual TLS: the export requires xprtsec=mtls; the client certificate comes
# from [authenticate.client] in the config (the kernel passes no key serial); the server
# verifies it against [authenticate.server] x509.truststore and reports the peer identity.
source /opt/hsvm/guest/lib.sh
trap stop_all_agents EXIT
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
set_exports mtls 127.0.0.1
nfs_roundtrip 127.0.0.1 mtls || fail "$RT_ERROR"
agent_alive main || fail "agent exited during the scenario"
note "$RT_NOTE"
