#!/bin/bash
# systemd-handshaked: `handshaked inspect monitor --json`, started before a mount, prints that
# mount's READY notification (next to the packaged agent, which serves the mount).
source /opt/hsvm/guest/lib.sh
handshaked inspect monitor --json > /tmp/monitor.out 2> /tmp/monitor.err &
mon=$!
wait_agent_ready "$mon" handshaked || fail "inspect monitor did not join the tlshd group: $AGENT_WAIT_ERROR $(cat /tmp/monitor.err)"
mkdir -p /mnt/late
run timeout -k 5 90 mount -t nfs -o vers=4.1,xprtsec=tls,retry=0 [::1]:/srv/tls /mnt/late || { kill "$mon"; fail "mount failed with the monitor running"; }
umount /mnt/late
sleep 1; kill -INT "$mon"; wait "$mon"
echo "--- monitor output:"; cat /tmp/monitor.out /tmp/monitor.err
n=$(grep -c '"cmd":"ready".*"handler-class":"tlshd"' /tmp/monitor.out)
[ "$n" -ge 1 ] || fail "inspect monitor printed no READY notification for the mount"
note "inspect monitor --json printed $n READY notification(s) (handler-class tlshd) for one mount"
