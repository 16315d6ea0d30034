#!/bin/bash
# Mixed agents, NFS over mutual TLS across a veth pair: the server (knfsd, root namespace)
# with one agent, the client (mount in namespace "cli") with the other.
# Name: mixed-nfs-server_<agent>-client_<agent>.
source /opt/hsvm/guest/lib.sh
trap stop_all_agents EXIT
srv=$(echo "$1" | sed -n 's/.*server_\([a-z]*\).*/\1/p'); cli=$(echo "$1" | sed -n 's/.*client_\([a-z]*\).*/\1/p')
[ -n "$srv" ] && [ -n "$cli" ] || fail "bad scenario name $1"
start_agent server "$srv" || fail "$AGENT_ERROR"
start_agent client "$cli" cli || fail "$AGENT_ERROR"
set_exports mtls 10.99.0.2
r0=$(tls_counter "" TlsTxSw); c0=$(tls_counter cli TlsTxSw)
nfs_roundtrip 10.99.0.1 mtls cli || fail "$RT_ERROR"
r1=$(tls_counter "" TlsTxSw); c1=$(tls_counter cli TlsTxSw)
[ "$r1" -gt "$r0" ] && [ "$c1" -gt "$c0" ] || fail "expected kTLS on both sides (server ns +$((r1-r0)), client ns +$((c1-c0)))"
agent_alive server && agent_alive client || fail "an agent exited during the scenario"
note "server $srv / client $cli: $RT_NOTE"
