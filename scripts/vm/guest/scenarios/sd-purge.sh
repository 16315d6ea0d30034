#!/bin/bash
# systemd-handshaked: the maintainer scripts. The upgrade path of the postinst while tlshd.service
# runs must not start handshaked (and must say so); dpkg --purge must leave nothing the
# installation created.
source /opt/hsvm/guest/lib.sh
deb=$(ls "$H"/deb/handshaked_*.deb | head -1)
run systemctl stop handshaked.service
run systemctl start tlshd.service || fail "tlshd.service did not start"
# what dpkg runs after unpacking an upgrade (the package is installed already: a full dpkg -i
# again costs a minute under emulation and exercises nothing more)
out=$(/var/lib/dpkg/info/handshaked.postinst configure "$(dpkg-query -W -f '${Version}' handshaked)" 2>&1); echo "$out"
grep -q 'tlshd.service is running, so handshaked.service was not started' <<< "$out" || fail "postinst (upgrade) with tlshd running did not say it left handshaked stopped"
[ "$(systemctl is-active handshaked.service)" != active ] || fail "postinst started handshaked while tlshd.service was running"
run systemctl stop tlshd.service
run dpkg --purge handshaked || fail "dpkg --purge failed"
left=$(ls -d /usr/lib/handshaked /usr/bin/handshaked /usr/lib/systemd/system/handshaked.service /etc/systemd/system/handshaked.service \
  /etc/systemd/system/*/handshaked.service /var/lib/systemd/deb-systemd-helper-enabled/handshaked.service* \
  /var/lib/systemd/deb-systemd-helper-enabled/*/handshaked.service /var/lib/systemd/deb-systemd-helper-masked/handshaked.service \
  /usr/share/doc/handshaked /usr/share/man/man8/handshaked.8.gz 2>/dev/null)
[ -z "$left" ] || fail "left behind after purge: $(echo $left)"
dpkg -s handshaked >/dev/null 2>&1 && fail "dpkg -s still knows handshaked after purge"
[ -f /etc/tlshd/config ] || fail "purge removed /etc/tlshd/config (the administrator's, shared with tlshd)"
note "postinst (upgrade) with tlshd.service running: not started, said so; dpkg --purge left nothing behind"
