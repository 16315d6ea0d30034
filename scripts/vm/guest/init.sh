#!/bin/bash
# PID 1 of the test VM (exec'd by the loader after switch_root). Runs one pass — the
# scenarios named on the kernel command line (hsvm.pass=, hsvm.scenarios=) — and prints one
#   HSVM-RESULT <pass> <scenario> <ok|fail|skip> <seconds> <kTLS installs> <agent start-up s> <note>
# line per scenario on the serial console, which the host turns into KTAP. Scenario and
# agent logs go to the payload disk (/opt/hsvm/results/<pass>/). Then it powers off.
set -u
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
source /opt/hsvm/guest/lib.sh

PASS=none SCENARIOS= WATCHDOG=1500 SCEN_LIMIT=420
for a in $(cat /proc/cmdline); do
  case $a in
    hsvm.pass=*) PASS=${a#*=} ;;
    hsvm.scenarios=*) SCENARIOS=${a#*=} ;;
    hsvm.watchdog=*) WATCHDOG=${a#*=} ;;
    hsvm.limit=*) SCEN_LIMIT=${a#*=} ;;
    hsvm.io=*) export HSVM_IO_MIB=${a#*=} ;;
    hsvm.storm.*=*) storm_knob "$a" || echo "ignoring $a: not a storm knob" ;;
  esac
done
echo "HSVM-INIT pass=$PASS uptime=$(up)s kernel=$(uname -r)"

poweroff_now() {
  sync
  umount /opt/hsvm 2>/dev/null || { sync; mount -o remount,ro /opt/hsvm 2>/dev/null; }
  /bin/busybox poweroff -f
  echo o > /proc/sysrq-trigger; sleep 30
}

# Never let the VM hang: the host has its own timeout too, but a clean power-off keeps
# the results disk consistent.
( sleep "$WATCHDOG"; echo "HSVM-WATCHDOG fired after ${WATCHDOG}s"; ps -eo pid,stat,wchan:32,args | tail -40
  dmesg | tail -40; sync; echo s > /proc/sysrq-trigger; sleep 2; echo o > /proc/sysrq-trigger ) &

# --- system setup (once per boot) ------------------------------------------------------
mount -o remount,rw / 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp
# devtmpfs has no /dev/fd; bash process substitution needs it
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
mountpoint -q /dev/pts || mount -t devpts devpts /dev/pts
mountpoint -q /run || mount -t tmpfs -o mode=755 tmpfs /run
mountpoint -q /tmp || mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p "$HSVM_STATE" "$AGENT_DIR" /run/netns
ip link set lo up
hostname hsvm
ln -sfn /opt/hsvm/handshaked /opt/handshaked
export HSVM_RESULTS=$H/results/$PASS
mkdir -p "$HSVM_RESULTS"

setup_ok=1 setup_err=
setup_fail() { echo "SETUP FAILED: $*"; setup_ok=0; setup_err="${setup_err:+$setup_err; }$*"; }
t0=$(up)
for m in tls sunrpc nfsd nfsv4 configfs nvmet nvmet-tcp nvme-tcp sch_netem veth; do
  modprobe "$m" || setup_fail "modprobe $m failed"
done
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
echo "--- handshake family:"; genl ctrl get name handshake 2>&1 | grep -E "Name|ID: |multicast|name:"
write_agent_config
install_pki
echo "setup: modules+config in $(elapsed "$t0")s"

# NFS server (root namespace), shared by every scenario of the pass. nfsdcld lets nfsd skip
# the NFSv4 grace period; the short grace/lease times are a fallback.
t0=$(up)
mkdir -p /export /mnt /run/rpc_pipefs /run/nfsdcld /var/lib/nfs/v4recovery /run/rpcbind
mount -t tmpfs -o size=512m tmpfs /export
mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd
mountpoint -q /run/rpc_pipefs || mount -t rpc_pipefs sunrpc /run/rpc_pipefs
rpcbind -w
nfsdcld -s /run/nfsdcld
echo 10 > /proc/fs/nfsd/nfsv4gracetime; echo 10 > /proc/fs/nfsd/nfsv4leasetime
echo "/export 127.0.0.1(rw,no_root_squash,insecure,sync,fsid=1,xprtsec=tls)" > /etc/exports
exportfs -ra
rpc.mountd
rpc.nfsd 4
[ "$(cat /proc/fs/nfsd/threads)" -gt 0 ] || setup_fail "nfsd did not start"
echo "setup: nfsd in $(elapsed "$t0")s (threads=$(cat /proc/fs/nfsd/threads))"

# The mixed pass puts the NFS/NVMe client and its agent in namespace "cli", joined to the
# root namespace by a veth pair: 10.99.0.1 (root, servers) <-> 10.99.0.2 (cli).
if [ "$PASS" = mixed ]; then
  ip netns add cli
  ip link add veth-srv type veth peer name veth-cli
  ip link set veth-cli netns cli
  ip addr add 10.99.0.1/24 dev veth-srv; ip link set veth-srv up
  ip -n cli addr add 10.99.0.2/24 dev veth-cli; ip -n cli link set veth-cli up; ip -n cli link set lo up
  ip netns exec cli /bin/busybox ping -c1 -W5 10.99.0.1 >/dev/null || setup_fail "veth link 10.99.0.2 -> 10.99.0.1 does not pass traffic"
fi
show_tls_stat boot

# --- scenarios ---------------------------------------------------------------------------
script_for() {  # scenario name -> script path and arguments
  case $1 in
    mixed-nfs-*) echo "$H/guest/scenarios/mixed-nfs.sh" ;;
    mixed-nvme-*) echo "$H/guest/scenarios/mixed-nvme.sh" ;;
    *) echo "$H/guest/scenarios/$1.sh" ;;
  esac
}

echo "HSVM-PASS-BEGIN $PASS uptime=$(up)s"
for s in ${SCENARIOS//,/ }; do
  export HSVM_SCENARIO=$s HSVM_AGENT=$PASS HSVM_NOTE=$HSVM_STATE/note.$s
  rm -f "$HSVM_NOTE" "$HSVM_STATE/startup.$s"
  echo; echo "=================== [$(up)s] BEGIN $PASS/$s"
  hs0=$(handshakes_total); t0=$(up)
  if [ "$setup_ok" != 1 ]; then
    echo "guest setup failed: $setup_err" > "$HSVM_NOTE"; rc=1
  else
    timeout -k 10 "$SCEN_LIMIT" bash "$(script_for "$s")" "$s" 2>&1 | tee "$HSVM_RESULTS/$s.log"
    rc=${PIPESTATUS[0]}
  fi
  secs=$(elapsed "$t0"); hs=$(( $(handshakes_total) - hs0 ))
  case $rc in
    0) st=ok ;;
    77) st=skip ;;
    124|137) st=fail; echo "scenario exceeded ${SCEN_LIMIT}s and was killed" > "$HSVM_NOTE" ;;
    *) st=fail ;;
  esac
  stop_all_agents >/dev/null 2>&1
  mountpoint -q /mnt && { umount -f -l /mnt; }
  start_secs=$(awk '{s += $1} END {printf "%.1f", s}' "$HSVM_STATE/startup.$s" 2>/dev/null)
  note_txt=$(head -c 700 "$HSVM_NOTE" 2>/dev/null | tr '\n#' ' _')
  echo "=================== [$(up)s] END $PASS/$s: $st in ${secs}s"
  echo "HSVM-RESULT $PASS $s $st $secs $hs ${start_secs:-0} ${note_txt:--}"
done
echo "HSVM-PASS-END $PASS uptime=$(up)s"

dmesg > "$HSVM_RESULTS/dmesg.log"
echo "--- kernel messages (handshake/tls/nfs/nvme):"
dmesg | grep -iE 'handshake|tls|nfsd|nfs:|nvme|rpc|grace' | tail -40
poweroff_now
