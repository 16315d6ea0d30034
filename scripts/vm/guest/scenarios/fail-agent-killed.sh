#!/bin/bash
# Failure: the agent is killed (SIGKILL, whole process group) while it holds the kernel's
# socket in the middle of a handshake. Loopback gets a netem delay so a handshake lasts
# long enough to be caught; the agent is frozen (SIGSTOP) while we confirm it still
# holds the socket, then killed. The consumer (mount) must give up on its own — not hang until
# our timeout — and a restarted agent must serve the next mount.
source /opt/hsvm/guest/lib.sh
cleanup() { tc qdisc del dev lo root 2>/dev/null; stop_all_agents; }
trap cleanup EXIT
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
set_exports tls 127.0.0.1
# 1 s each way: a TLS handshake then spans several seconds, far longer than one poll.
run tc qdisc add dev lo root netem delay 1000ms || fail "tc netem on lo failed"
HSVM_MOUNT_TIMEOUT=240 nfs_mount 127.0.0.1 tls "" > /tmp/killed-mount.out 2>&1 &
mpid=$!
pgid=$(agent_pid main); t0=$(up); caught=
while kill -0 "$mpid" 2>/dev/null; do
  if [ -n "$(agent_tcp_fds main)" ]; then
    # Freeze first, then confirm the socket is still held: the handshake cannot finish
    # between the check and the kill.
    kill -STOP -- "-$pgid"
    caught=$(agent_tcp_fds main | paste -sd' ')
    [ -n "$caught" ] && break
    kill -CONT -- "-$pgid"
  fi
  awk -v a="$t0" -v b="$(up)" 'BEGIN{exit !(b-a > 60)}' && break
  sleep 0.05
done
[ -n "$caught" ] || { wait "$mpid"; cat /tmp/killed-mount.out; fail "never saw the agent holding a handshake socket"; }
kill -KILL -- "-$pgid"
log "agent held TCP socket(s) $caught $(elapsed "$t0")s into the mount: killed it"
stop_agent main KILL
wait "$mpid"; cat /tmp/killed-mount.out
rc=$(sed -n 's/.*mount rc=\([0-9]*\) after \([0-9.]*\)s.*/\1/p' /tmp/killed-mount.out | tail -1)
secs=$(sed -n 's/.*mount rc=\([0-9]*\) after \([0-9.]*\)s.*/\2/p' /tmp/killed-mount.out | tail -1)
dmesg | grep -iE 'handshake|tls|rpc' | tail -10
[ "$rc" = 124 ] && fail "mount hung for ${secs}s after the agent was killed (consumer never timed out)"
[ "$rc" = 0 ] && { nfs_umount; fail "mount succeeded although the agent was killed mid-handshake"; }
run tc qdisc del dev lo root
start_agent main "$HSVM_AGENT" || fail "restart: $AGENT_ERROR"
nfs_roundtrip 127.0.0.1 tls "" 4 || fail "after restarting the agent: $RT_ERROR"
note "killed mid-handshake ($caught); consumer gave up in ${secs}s (rc=$rc); restarted agent served the next mount"
