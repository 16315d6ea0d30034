#!/bin/bash
# Failure: the client's trust store lacks the server's CA (it holds an unrelated CA) from the
# start. The mount must fail promptly (no hang) without installing kTLS, the agent must
# survive, and the same agent process must then serve other handshakes: an NVMe/TCP TLS PSK
# connect, which does not depend on the trust store, is the proof.
source /opt/hsvm/guest/lib.sh
restore() { nvme disconnect -n "$SUBNQN" >/dev/null 2>&1; cp /etc/tlshd/ca.pem /etc/tlshd/client-trust.pem; stop_all_agents; }
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
nvme_target 127.0.0.1 1 || fail "nvmet target or PSK setup failed"
hs1=$(handshakes_total)
in_ns "" timeout -k 5 150 nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$SUBNQN" \
  --hostnqn="$HOSTNQN" --hostid="$HOSTID" --tls --nr-io-queues=1 || fail "after the failed mount, the agent did not serve an NVMe TLS connect"
nvme_disconnect || fail "nvme disconnect failed"
hs2=$(handshakes_total)
[ "$hs2" -ge $((hs1 + 4)) ] || fail "NVMe connect after the failure installed only $((hs2 - hs1)) kTLS contexts (expected 4)"
agent_alive main && [ "$(agent_pid main)" = "$pid" ] || fail "agent exited while serving the NVMe connect"
note "untrusted mount failed in ${bad_secs}s (rc=$bad_rc, no kTLS); same agent then served an NVMe TLS connect (+$((hs2 - hs1)) kTLS)"
