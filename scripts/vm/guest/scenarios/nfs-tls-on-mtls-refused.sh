#!/bin/bash
# Negative: a server-auth-only (xprtsec=tls) mount of an xprtsec=mtls export must be refused:
# the TLS handshake itself succeeds, but the client presents no certificate.
source /opt/hsvm/guest/lib.sh
trap stop_all_agents EXIT
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
set_exports mtls 127.0.0.1
nfs_mount 127.0.0.1 tls ""
if [ "$MOUNT_RC" = 0 ]; then nfs_umount; fail "xprtsec=tls mount of an xprtsec=mtls export succeeded"; fi
[ "$MOUNT_RC" = 124 ] && fail "mount hung until the ${HSVM_MOUNT_TIMEOUT:-150}s timeout instead of being refused"
agent_alive main || fail "agent exited after the refused mount"
note "refused (rc=$MOUNT_RC in ${MOUNT_SECS}s)"
