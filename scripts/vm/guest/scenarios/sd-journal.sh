#!/bin/bash
# systemd-handshaked: journalctl -u handshaked has one line per handshake at the right priority:
# successes at info (6), failures at warning (4), and `journalctl -p warning` lists exactly the
# failed handshakes. A clean mount adds one success line per kTLS install; a refused one (tls
# client on the mtls export) adds a failure line.
source /opt/hsvm/guest/lib.sh
u=$AGENT_UNIT
ok_all() { journal_lines "$u" | grep -c 'handshake succeeded'; }
ok_info() { journal_lines "$u" -p info..info | grep -c 'handshake succeeded'; }
failed_all() { journal_lines "$u" | grep -c 'handshake failed'; }
journal_lines "$u" | tail -n 8
a0=$(ok_all); f0=$(failed_all); hs0=$(handshakes_total)
[ "$a0" -ge 4 ] || fail "the boot mounts logged $a0 'handshake succeeded' lines (expected >= 4: two mounts, client and server)"
mkdir -p /mnt/late
HSVM_MOUNT_TIMEOUT=90 run mount -t nfs -o vers=4.1,xprtsec=tls,retry=0 [::1]:/srv/tls /mnt/late || fail "mount of /srv/tls failed"
umount /mnt/late
a1=$(ok_all); hs1=$(handshakes_total)
[ $((a1 - a0)) = $((hs1 - hs0)) ] || fail "one clean mount: $((a1 - a0)) success lines for $((hs1 - hs0)) kTLS installs (want one line per handshake)"
# the client refuses a server certificate that does not name 127.0.0.2
timeout -k 5 90 mount -t nfs -o vers=4.1,xprtsec=tls,retry=0 127.0.0.2:/srv/tls /mnt/late && { umount /mnt/late; fail "a mount of 127.0.0.2 (not in the server certificate) succeeded"; }
sleep 1
f1=$(failed_all)
[ "$f1" -gt "$f0" ] || fail "the refused mount logged no 'handshake failed' line"
[ "$(ok_info)" = "$(ok_all)" ] || fail "$(ok_all) success lines, but only $(ok_info) at priority info"
warn=$(journal_lines "$u" -p warning)
echo "--- journalctl -u $u -p warning:"; echo "$warn"
nw=$(grep -c . <<< "$warn"); nf=$(grep -c 'handshake failed' <<< "$warn")
[ "$nf" = "$f1" ] || fail "journalctl -p warning shows $nf of the $f1 'handshake failed' lines"
[ "$nw" = "$nf" ] || fail "journalctl -p warning shows $((nw - nf)) lines that are not failed handshakes: $(grep -v 'handshake failed' <<< "$warn" | head -2 | tr '\n' ' ')"
note "$(ok_all) success lines all at info (one per kTLS install: +$((a1 - a0)) for +$((hs1 - hs0))); $f1 failed-handshake lines, exactly what journalctl -p warning shows"
