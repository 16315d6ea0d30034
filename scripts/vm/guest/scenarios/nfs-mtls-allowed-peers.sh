#!/bin/bash
# Who may mount: [authenticate.server] x509.allowed_peers over an xprtsec=mtls export. The
# client certificate (CN hsvm-client) is first outside the list: the server side of the
# handshake must be refused (access_denied, EACCES), the mount must fail, and the agent's log
# must name the rule. After the list is changed to admit it and the agent reloaded (SIGHUP),
# the same mount must succeed with a data round trip. handshaked only: tlshd has no allow list
# (it ignores the key and would admit the client), so the tlshd pass reports "not possible".
source /opt/hsvm/guest/lib.sh
if [ "$HSVM_AGENT" != handshaked ]; then
  skip "not possible with tlshd: it has no per-peer allow list (x509.allowed_peers is handshaked's own key)"
fi
restore() { write_agent_config; stop_all_agents; }
trap restore EXIT
allow() { write_agent_config; printf 'x509.allowed_peers=%s\n' "$1" >> /etc/tlshd/config; }  # [authenticate.server] is the last section
allow "cn:someone-else; dns:*.elsewhere.test"
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
pid=$(agent_pid main)
logf=$(cat "$AGENT_DIR/main.log")
set_exports mtls 127.0.0.1
HSVM_MOUNT_TIMEOUT=${HSVM_REFUSED_MOUNT_TIMEOUT:-40} nfs_mount 127.0.0.1 mtls ""
if [ "$MOUNT_RC" = 0 ]; then nfs_umount; fail "a client certificate outside x509.allowed_peers mounted the mtls export"; fi
refused="rc=$MOUNT_RC in ${MOUNT_SECS}s"
[ "$MOUNT_RC" = 124 ] && refused="mount did not return before the ${HSVM_REFUSED_MOUNT_TIMEOUT:-40}s timeout (the NFS client retries the connection)"
grep -q 'access denied by \[authenticate.server\] x509.allowed_peers (/etc/tlshd/config:[0-9]*): the client certificate (.*cn:hsvm-client' "$logf" \
  || fail "the agent log does not name the allow-list rule that refused the client"
grep -q 'status=EACCES.*alert=access_denied' "$logf" || fail "no handshake line with status=EACCES alert=access_denied"
agent_alive main || fail "agent exited after the refusal"
allow "cn:someone-else; cn:hsvm-client"
kill -HUP "$pid"; sleep 2
nfs_roundtrip 127.0.0.1 mtls || fail "after admitting cn:hsvm-client and SIGHUP: $RT_ERROR"
[ "$(agent_pid main)" = "$pid" ] && agent_alive main || fail "agent exited or was restarted"
note "outside the list refused ($refused, rule logged); inside after SIGHUP: $RT_NOTE"
