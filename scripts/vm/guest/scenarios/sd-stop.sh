#!/bin/bash
# systemd-handshaked: `systemctl stop` while handshakes are in flight (loopback delayed 1 s by
# netem): the stop ends cleanly within the unit's timeout, and every handshake the agent held
# ends with a logged status. The unit is started again afterwards.
source /opt/hsvm/guest/lib.sh
u=$AGENT_UNIT
cleanup() { tc qdisc del dev lo root 2>/dev/null; for i in 1 2 3; do umount -l "/mnt/stop$i" 2>/dev/null; done; }
trap cleanup EXIT
pid=$(systemctl show -P MainPID "$u"); echo "$pid" > "$AGENT_DIR/unit.pid"
run tc qdisc add dev lo root netem delay 1000ms || fail "tc netem on lo failed"
cursor=$(journalctl -b -u "$u" -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
for i in 1 2 3; do
  mkdir -p "/mnt/stop$i"
  timeout -k 5 200 mount -t nfs -o vers=4.1,xprtsec=tls,retry=0 [::1]:/srv/tls "/mnt/stop$i" > "/tmp/stop-mount$i.out" 2>&1 &
done
t0=$(up); held=0
while awk -v a="$t0" -v b="$(up)" 'BEGIN{exit !(b-a < 60)}'; do
  # distinct sockets: the agent may hold a socket under more than one fd
  held=$(agent_tcp_fds unit | cut -d: -f2 | sort -u | wc -l)
  [ "$held" -ge 1 ] && break
  sleep 0.05
done
[ "$held" -ge 1 ] || fail "never saw $u holding a handshake socket"
log "$u holds $held handshake socket(s): stopping it"
t1=$(up); run systemctl stop "$u"; stop_secs=$(elapsed "$t1")
result=$(systemctl show -P Result "$u"); status=$(systemctl show -P ExecMainStatus "$u")
after=$(journalctl -b -u "$u" -o cat --no-pager ${cursor:+--after-cursor="$cursor"})
echo "--- journal since the stop began:"; echo "$after"
tc qdisc del dev lo root
wait
for i in 1 2 3; do echo "mount $i: $(cat "/tmp/stop-mount$i.out")"; umount "/mnt/stop$i" 2>/dev/null; done
[ "$result" = success ] && [ "$status" = 0 ] || fail "stop ended with Result=$result ExecMainStatus=$status after ${stop_secs}s"
ended=$(grep -cE 'handshake (succeeded|failed) .*status=' <<< "$after")
grep -q 'handshaked stopped' <<< "$after" || fail "no 'handshaked stopped' line"
[ "$ended" -ge "$held" ] || fail "$held handshakes in flight at stop, $ended ended with a logged status"
run systemctl start "$u" || fail "restart after stop failed"
note "stop with $held handshake(s) in flight: Result=$result in ${stop_secs}s, $ended handshake lines with a status after it ($(grep -oE 'status=[A-Z]+' <<< "$after" | sort | uniq -c | tr -s ' \n' ' '))"
