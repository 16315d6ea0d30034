#!/bin/bash
# Negative: a plaintext mount of an xprtsec=tls export must be refused by the server.
source /opt/hsvm/guest/lib.sh
trap stop_all_agents EXIT
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
set_exports tls 127.0.0.1
nfs_mount 127.0.0.1 none ""
if [ "$MOUNT_RC" = 0 ]; then nfs_umount; fail "plaintext mount of an xprtsec=tls export succeeded"; fi
[ "$MOUNT_RC" = 124 ] && fail "plaintext mount hung until the ${HSVM_MOUNT_TIMEOUT:-150}s timeout instead of being refused"
note "refused (rc=$MOUNT_RC in ${MOUNT_SECS}s)"
