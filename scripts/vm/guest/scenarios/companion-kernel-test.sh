#!/bin/bash
# `handshaked companion kernel-test` against the real handshake family: the companion plays a
# fault-injecting agent (no other agent may run) and prints its own KTAP, nested under this
# scenario's line by the host. Its last cases need handshake requests from a consumer, so NFS
# mounts of an xprtsec=tls export run in a loop while it waits (each fails: the companion
# answers DONE with --status EACCES, or not at all). SKIP while the subcommand does not exist.
source /opt/hsvm/guest/lib.sh
cleanup() { [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null; mountpoint -q /mnt && umount -f -l /mnt; stop_all_agents; }
trap cleanup EXIT
[ -f "$HANDSHAKED_MAIN" ] || fail "handshaked is not in the payload ($HANDSHAKED_MAIN missing)"
# yargs prints the parent's help for an unknown subcommand, so look for the subcommand
# in the companion's command list instead of trusting the exit status of --help.
help=$(timeout 120 node "$HANDSHAKED_MAIN" companion --help 2>&1)
if ! grep -qE 'companion kernel-test' <<< "$help"; then
  echo "$help" | head -20
  skip "handshaked companion kernel-test does not exist yet"
fi
set_exports tls 127.0.0.1
out=$HSVM_RESULTS/companion-kernel-test.ktap
timeout -k 10 400 node "$HANDSHAKED_MAIN" companion kernel-test --status EACCES --late-done 20000 --wait 90000 \
  > "$out" 2> "$HSVM_RESULTS/companion-kernel-test.stderr.log" &
cpid=$!
# Consumers: one mount at a time until the companion is done (each makes 1-2 requests).
for i in $(seq 1 15); do
  kill -0 "$cpid" 2>/dev/null || break
  grep -q '^# waiting' "$out" 2>/dev/null || { sleep 1; continue; }
  HSVM_MOUNT_TIMEOUT=45 nfs_mount 127.0.0.1 tls ""
  [ "$MOUNT_RC" = 0 ] && { echo "unexpected: mount succeeded with the companion as the agent"; nfs_umount; }
  sleep 1
done
wait "$cpid"; rc=$?; cpid=
cat "$out"; echo "--- stderr:"; cat "$HSVM_RESULTS/companion-kernel-test.stderr.log"
notok=$(grep -cE '^[[:space:]]*not ok' "$out")
[ "$rc" = 0 ] || fail "companion kernel-test exited rc=$rc ($notok not-ok lines; KTAP in results/$HSVM_AGENT/companion-kernel-test.ktap)"
note "companion KTAP: $(grep -cE '^[[:space:]]*ok' "$out") ok, $notok not ok"
