#!/bin/bash
# systemd-handshaked: `systemctl reload handshaked` three times while mounts keep asking for
# handshakes: every mount succeeds, the main PID stays, the unit stays active, three reloads logged.
source /opt/hsvm/guest/lib.sh
u=$AGENT_UNIT
pid0=$(systemctl show -P MainPID "$u")
r0=$(journal_lines "$u" | grep -c 'configuration reloaded')
mkdir -p /mnt/late
( fails=0
  for i in 1 2 3 4 5 6; do
    timeout -k 5 90 mount -t nfs -o vers=4.1,xprtsec=tls,retry=0 [::1]:/srv/tls /mnt/late || { fails=$((fails + 1)); continue; }
    dd if=/dev/zero of=/mnt/late/reload-$i bs=64k count=16 conv=fsync status=none || fails=$((fails + 1))
    umount /mnt/late || fails=$((fails + 1))
  done
  echo "$fails" > /tmp/reload-traffic.fails ) &
traffic=$!
for i in 1 2 3; do
  sleep 2
  t0=$(up); run systemctl reload "$u" || fail "systemctl reload $u failed"
  log "reload $i returned after $(elapsed "$t0")s; $u is $(systemctl is-active "$u")"
done
wait "$traffic"
fails=$(cat /tmp/reload-traffic.fails)
sleep 1
r1=$(journal_lines "$u" | grep -c 'configuration reloaded')
[ "$fails" = 0 ] || fail "$fails of 6 mounts (with their I/O) failed while reloading"
[ "$(systemctl show -P MainPID "$u")" = "$pid0" ] || fail "main PID changed across reloads ($pid0 -> $(systemctl show -P MainPID "$u"))"
[ "$(systemctl is-active "$u")" = active ] || fail "$u is $(systemctl is-active "$u") after the reloads"
[ $((r1 - r0)) = 3 ] || fail "$((r1 - r0)) 'configuration reloaded' lines for 3 reloads"
note "3 reloads during 6 mounts with I/O: all mounts ok, same PID, 3 reloads logged"
