#!/bin/bash
# The systemd passes' scenario runner (hsvm-run.service, after the boot reached multi-user and
# remote-fs): runs the scenarios named on the kernel command line against the agent systemd
# started at boot, prints one HSVM-RESULT line each (as init.sh does for the other passes), saves
# the journal and powers the guest off.
source /opt/hsvm/guest/lib.sh
PASS=$(sed -n 's/.*hsvm\.pass=\([^ ]*\).*/\1/p' /proc/cmdline)
SCENARIOS=$(sed -n 's/.*hsvm\.scenarios=\([^ ]*\).*/\1/p' /proc/cmdline)
SCEN_LIMIT=300
export HSVM_RESULTS=$H/results/$PASS HSVM_PASS=$PASS
case $PASS in
  systemd-tlshd) export AGENT_UNIT=tlshd.service ;;
  *) export AGENT_UNIT=handshaked.service ;;
esac
mkdir -p "$HSVM_RESULTS" "$HSVM_STATE" "$AGENT_DIR"
echo "HSVM-PASS-BEGIN $PASS uptime=$(up)s (systemd: $(systemctl is-system-running 2>&1); agent $AGENT_UNIT: $(systemctl is-active "$AGENT_UNIT"))"
systemctl list-units --failed --no-legend --plain | sed 's/^/  failed unit: /'
for s in ${SCENARIOS//,/ }; do
  export HSVM_SCENARIO=$s HSVM_NOTE=$HSVM_STATE/note.$s
  rm -f "$HSVM_NOTE" "$HSVM_STATE/startup.$s" "$HSVM_STATE/secs.$s"
  echo "=================== [$(up)s] BEGIN $PASS/$s"
  hs0=$(handshakes_total); t0=$(up)
  timeout -k 10 "$SCEN_LIMIT" bash "$H/guest/scenarios/$s.sh" "$s" > "$HSVM_RESULTS/$s.log" 2>&1
  rc=$?
  secs=$(elapsed "$t0"); hs=$(( $(handshakes_total) - hs0 ))
  case $rc in 0) st=ok ;; 77) st=skip ;; 124|137) st=fail; echo "scenario exceeded ${SCEN_LIMIT}s and was killed" > "$HSVM_NOTE" ;; *) st=fail ;; esac
  # A scenario may report its own figure (sd-boot-mounts: boot to mounted) instead of its wall time.
  [ -s "$HSVM_STATE/secs.$s" ] && secs=$(cat "$HSVM_STATE/secs.$s")
  start_secs=$(cat "$HSVM_STATE/startup.$s" 2>/dev/null)
  note_txt=$(head -c 700 "$HSVM_NOTE" 2>/dev/null | tr '\n#' ' _')
  [ "$st" = fail ] && tail -n 15 "$HSVM_RESULTS/$s.log" | sed 's/^/    | /'
  echo "=================== [$(up)s] END $PASS/$s: $st"
  echo "HSVM-RESULT $PASS $s $st $secs $hs ${start_secs:-0} ${note_txt:--}"
done
echo "HSVM-PASS-END $PASS uptime=$(up)s"
journalctl -b --no-pager -o short-monotonic > "$HSVM_RESULTS/journal.log" 2>&1
dmesg > "$HSVM_RESULTS/dmesg.log"
sync
# A clean shutdown unmounts the NFS mounts and stops the agent; force it if that stalls.
(sleep 90; echo "HSVM: shutdown stalled, forcing"; sync; echo o > /proc/sysrq-trigger) </dev/null > /dev/console 2>&1 &
systemctl --no-block poweroff
