#!/bin/bash
# Failure: the client's trust store lacks the server's CA (it holds an unrelated CA). The
# mount must fail promptly (no hang), the agent must survive, and once the trust store
# holds the right CA again the same agent process must serve the next mount. This relies on
# the agent reading trust-store files per handshake, as tlshd does.
source /opt/hsvm/guest/lib.sh
restore() { cp /etc/tlshd/ca.pem /etc/tlshd/client-trust.pem; stop_all_agents; }
trap restore EXIT
cp /etc/tlshd/other-ca.pem /etc/tlshd/client-trust.pem
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
pid=$(agent_pid main)
set_exports tls 127.0.0.1
hs0=$(handshakes_total)
nfs_mount 127.0.0.1 tls ""
if [ "$MOUNT_RC" = 0 ]; then nfs_umount; fail "mount succeeded although the client does not trust the server's CA"; fi
[ "$MOUNT_RC" = 124 ] && fail "mount with an untrusted server hung until the timeout instead of failing"
bad_secs=$MOUNT_SECS bad_rc=$MOUNT_RC
[ "$(handshakes_total)" = "$hs0" ] || fail "kTLS was installed although verification should have failed"
sleep 1
agent_alive main || fail "agent died after the failed handshake"
[ "$(agent_pid main)" = "$pid" ] || fail "agent was restarted"
cp /etc/tlshd/ca.pem /etc/tlshd/client-trust.pem
nfs_roundtrip 127.0.0.1 tls "" 4 || fail "after the failure, with the right CA back: $RT_ERROR"
agent_alive main || fail "agent exited during the follow-up mount"
note "untrusted mount failed in ${bad_secs}s (rc=$bad_rc); same agent pid served the next mount"
