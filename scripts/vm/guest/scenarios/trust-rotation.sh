#!/bin/bash
# Trust-store rotation without a restart: the agent serves a mount with the right CA, the
# client trust-store file is replaced by an unrelated CA (the next mount must fail), then the
# right CA is put back (the next mount must work again), all with the same agent process.
# tlshd 1.0 re-reads the files per handshake; handshaked notices a replaced file before each
# handshake. An agent that does neither gets a SIGHUP after each change, and the note says so.
source /opt/hsvm/guest/lib.sh
restore() { cp /etc/tlshd/ca.pem /etc/tlshd/client-trust.pem; stop_all_agents; }
trap restore EXIT
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
pid=$(agent_pid main)
set_exports tls 127.0.0.1
nfs_roundtrip 127.0.0.1 tls "" 1 || fail "first mount with the right CA: $RT_ERROR"
how="re-read per handshake"
# rotate FILE EXPECT(ok|fail): swap the client trust store, mount, compare.
rotate() {
  cp "/etc/tlshd/$1" /etc/tlshd/client-trust.pem
  nfs_mount 127.0.0.1 tls ""
  if [ "$MOUNT_RC" = 0 ]; then nfs_umount; fi
  [ "$2" = ok ] && [ "$MOUNT_RC" = 0 ] && return 0
  [ "$2" = fail ] && [ "$MOUNT_RC" != 0 ] && [ "$MOUNT_RC" != 124 ] && return 0
  return 1
}
if ! rotate other-ca.pem fail; then
  log "the agent did not pick up the new trust store by itself; sending SIGHUP (reload)"
  how="picked up only after SIGHUP (not re-read per handshake as tlshd does)"
  kill -HUP "$pid"; sleep 2
  rotate other-ca.pem fail || fail "mount still succeeds with an untrusted server CA, even after SIGHUP"
fi
if ! rotate ca.pem ok; then
  kill -HUP "$pid"; sleep 2
  rotate ca.pem ok || fail "mount fails after the right CA was put back, even after SIGHUP (rc=$MOUNT_RC)"
  how="picked up only after SIGHUP (not re-read per handshake as tlshd does)"
fi
agent_alive main && [ "$(agent_pid main)" = "$pid" ] || fail "agent exited or was restarted"
note "trust store rotation: $how; same agent pid throughout"
