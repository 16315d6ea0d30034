#!/bin/bash
# systemd passes: both NFS mounts of /etc/fstab (xprtsec=tls and xprtsec=mtls, retry=0) were
# mounted during boot on the first attempt, after the agent unit was ready; data round trip on
# each. The scenario's figure is boot to mounted (both mounts active), in seconds since the
# kernel started; the start-up column is the agent unit's exec-to-ready time.
source /opt/hsvm/guest/lib.sh
u=$AGENT_UNIT
systemctl status --no-pager "$u" mnt-tls.mount mnt-mtls.mount 2>&1 | head -40
[ "$(systemctl is-active "$u")" = active ] || fail "$u is $(systemctl is-active "$u") after boot: $(journal_lines "$u" | tail -2 | tr '\n' ' ')"
# When the mtls mount failed: does it work by hand now, with and without the tls mount in place?
diagnose_mtls() {
  local a b
  mkdir -p /mnt/late
  timeout -k 5 90 mount -t nfs -o vers=4.2,xprtsec=mtls,retry=0 127.0.0.1:/srv/mtls /mnt/late; a=$?
  [ $a = 0 ] && umount /mnt/late
  umount /mnt/tls
  timeout -k 5 90 mount -t nfs -o vers=4.2,xprtsec=mtls,retry=0 127.0.0.1:/srv/mtls /mnt/late; b=$?
  [ $b = 0 ] && umount /mnt/late
  echo "by hand: mtls mount rc=$a with the tls mount of the same server in place, rc=$b without it"
}
for m in mnt-tls.mount mnt-mtls.mount; do
  st=$(systemctl is-active "$m")
  [ "$st" = active ] && continue
  why="$m is $st after boot (fstab retry=0: the first attempt failed): $(journalctl -b -u "$m" -o cat --no-pager | tail -3 | tr '\n' ' ')"
  [ "$m" = mnt-mtls.mount ] && why="$why; $(diagnose_mtls)"
  fail "$why"
done
exec_us=$(unit_usec "$u" ExecMainStartTimestampMonotonic)
ready_us=$(unit_usec "$u" ActiveEnterTimestampMonotonic)
m1=$(unit_usec mnt-tls.mount ActiveEnterTimestampMonotonic); m2=$(unit_usec mnt-mtls.mount ActiveEnterTimestampMonotonic)
s1=$(unit_usec mnt-tls.mount InactiveExitTimestampMonotonic); s2=$(unit_usec mnt-mtls.mount InactiveExitTimestampMonotonic)
mounted_us=$(( m1 > m2 ? m1 : m2 ))
echo "agent exec ${exec_us}us ready ${ready_us}us; mnt-tls start ${s1} active ${m1}; mnt-mtls start ${s2} active ${m2}"
[ "$s1" -ge "$ready_us" ] && [ "$s2" -ge "$ready_us" ] || fail "a mount started before $u was ready (ready ${ready_us}us, mounts ${s1}us ${s2}us)"
usec_s "$mounted_us" > "$HSVM_STATE/secs.$HSVM_SCENARIO"
usec_s $((ready_us - exec_us)) > "$HSVM_STATE/startup.$HSVM_SCENARIO"
cur=$(tls_current_total)
[ "$cur" -ge 2 ] || fail "both mounts are up but only $cur kTLS sockets are open (expected at least client and server)"
src_file 8
for d in tls mtls; do
  run dd if=/tmp/src-8 of="/mnt/$d/boot-check" bs=1M conv=fsync status=none || fail "writing to /mnt/$d failed"
  echo 3 > /proc/sys/vm/drop_caches
  [ "$(sha256sum < "/mnt/$d/boot-check" | cut -d' ' -f1)" = "$(src_sha 8)" ] || fail "/mnt/$d read back differs"
  [ "$(sha256sum < "/srv/$d/boot-check" | cut -d' ' -f1)" = "$(src_sha 8)" ] || fail "/srv/$d (server side) differs"
done
note "both fstab mounts active at $(usec_s "$mounted_us")s after boot (first try, retry=0); $u ready at $(usec_s "$ready_us")s, $(usec_s $((ready_us - exec_us)))s after exec; 8 MiB checksums ok on tls and mtls; $cur kTLS sockets open"
