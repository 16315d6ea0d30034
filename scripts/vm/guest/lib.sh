# shellcheck shell=bash
# Guest-side helpers shared by init.sh and the scenario scripts (sourced).
# Everything here runs inside the VM as root; the kernel is the Debian cloud kernel with
# the handshake family built in and tls.ko loadable.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
H=/opt/hsvm                       # payload disk: harness, PKI, built project, results
HSVM_STATE=/run/hsvm              # per-boot state: agent pids, notes
AGENT_DIR=$HSVM_STATE/agents
IO_MIB=${HSVM_IO_MIB:-64}
HANDSHAKED_MAIN=/opt/handshaked/dist/cli/main.js
# The bundled program that main.js (a loader) compiles, and the V8 code cache it keeps, as the
# packaged unit keeps it in its CacheDirectory=: the first handshaked start of a boot writes it,
# later starts use it (docs/serve.md, "Start-up and the code cache").
HANDSHAKED_PROGRAM=/opt/handshaked/dist/cli/program.js
HANDSHAKED_CODE_CACHE_DIR=$HSVM_STATE/code-cache

up() { cut -d' ' -f1 /proc/uptime; }
# median N...: the middle value (the mean of the two middle ones for an even count), 2 decimals.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END { if (NR) printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# storm_knob WORD: one hsvm.storm.<name>=<value> word of the kernel command line (run.sh's
# storm_args) exported as HSVM_STORM_<NAME>, commas back to spaces; 1 for a name it does not know.
storm_knob() {
  local w=${1#hsvm.storm.} name
  name=${w%%=*}
  case $name in ctrls|warm_rounds|code_cache|agents|loglevel|groups|node_flags) ;; *) return 1 ;; esac
  w=${w#*=}
  export "HSVM_STORM_${name^^}=${w//,/ }"
}
# set_handshaked_groups FILE "G1 G2": handshaked's [handshaked] groups in an agent config, in the
# [handshaked] section write_agent_config made for HSVM_WORKERS if there is one, else a new one.
set_handshaked_groups() {
  local file=$1 groups=${2// /;}
  if grep -q '^\[handshaked\]' "$file"; then
    sed -i "/^\[handshaked\]/a groups=$groups" "$file"
  else
    printf '\n[handshaked]\ngroups=%s\n' "$groups" >> "$file"
  fi
}
elapsed() { awk -v a="$1" -v b="$(up)" 'BEGIN{printf "%.1f", b-a}'; }
log() { echo "[$(up)] $*"; }
run() { echo "+ $*"; "$@"; local rc=$?; [ $rc -ne 0 ] && echo "  -> rc=$rc"; return $rc; }

# A scenario ends with ok (exit 0), fail (exit 1) or skip (exit 77); the one-line reason
# goes to $HSVM_NOTE, which init.sh copies into the KTAP line.
note() { echo "$*" > "${HSVM_NOTE:-/dev/null}"; log "NOTE: $*"; }
fail() { note "$*$(agent_complaints)"; echo "SCENARIO FAIL: $*"; exit 1; }
# The last failure line each running agent logged, so the KTAP line says why in one place.
agent_complaints() {
  local f label line
  for f in "$AGENT_DIR"/*.log; do
    [ -e "$f" ] || continue
    label=$(basename "$f" .log)
    line=$(grep -iE 'fail|error|refus|reject|denied|unable|cannot' "$(cat "$f")" 2>/dev/null | tail -1 | cut -c1-240)
    [ -n "$line" ] && printf ' | %s agent (%s): %s' "$label" "$(cat "$AGENT_DIR/$label.agent")" "$line"
  done
}
skip() { note "$*"; echo "SCENARIO SKIP: $*"; exit 77; }

# --- kTLS counters ----------------------------------------------------------------------
# /proc/net/tls_stat is per network namespace; handshakes completed = TX contexts
# installed (software + device), summed over the root namespace and every named one.
tls_stat_in() {  # $1 = netns name or "" for the root namespace; prints "Key Value" lines
  if [ -n "$1" ]; then nsenter --net="/run/netns/$1" cat /proc/net/tls_stat; else cat /proc/net/tls_stat; fi
}
tls_counter() {  # $1 = netns or "", $2.. = counter names; prints their sum
  local ns=$1; shift
  tls_stat_in "$ns" | awk -v keys=" $* " 'index(keys, " " $1 " ") {s += $2} END {print s+0}'
}
all_netns() { echo ""; ls /run/netns 2>/dev/null; }
handshakes_total() {
  local ns sum=0
  while IFS= read -r ns; do sum=$((sum + $(tls_counter "$ns" TlsTxSw TlsTxDevice))); done < <(all_netns)
  echo "$sum"
}
tls_current_total() {
  local ns sum=0
  while IFS= read -r ns; do sum=$((sum + $(tls_counter "$ns" TlsCurrTxSw TlsCurrTxDevice))); done < <(all_netns)
  echo "$sum"
}
tls_errors_total() {
  local ns sum=0
  while IFS= read -r ns; do sum=$((sum + $(tls_counter "$ns" TlsDecryptError TlsDecryptRetry))); done < <(all_netns)
  echo "$sum"
}
show_tls_stat() {
  local ns
  while IFS= read -r ns; do
    echo "  tls_stat[${ns:-root}] ($1): $(tls_stat_in "$ns" | grep -E 'TlsCurr|TlsTx|TlsRx|TlsDecryptError' | tr -s ' \t' ' ' | paste -sd' ')"
  done < <(all_netns)
}

# --- agents -----------------------------------------------------------------------------
# Each agent runs in its own session (setsid), so killing its process group also kills
# tlshd's per-handshake children. Its stdout+stderr go to a per-scenario log file.
agent_cmd() {  # $1 = tlshd|handshaked
  case $1 in
    tlshd) echo "/usr/sbin/tlshd -s -c ${AGENT_CONFIG:-/etc/tlshd/config}" ;;
    handshaked) echo "env HANDSHAKED_CODE_CACHE=$HANDSHAKED_CODE_CACHE_DIR node $HANDSHAKED_MAIN serve -c ${AGENT_CONFIG:-/etc/tlshd/config} --log-level debug" ;;
    *) echo "false unknown-agent-$1" ;;
  esac
}

# Once per boot, before the first handshaked start: what a bare `node -e 0` costs in this guest,
# the yardstick for handshaked's time to ready (under TCG node's own start is seconds).
bare_node_startup() {
  [ -f "$HSVM_STATE/startup.bare-node" ] && return 0
  local t0; t0=$(up)
  node -e 0 && echo "$(elapsed "$t0")" > "$HSVM_STATE/startup.bare-node"
  log "bare node -e 0: $(cat "$HSVM_STATE/startup.bare-node" 2>/dev/null || echo failed)s"
  # Where the rest of handshaked's time to ready goes: loading the FFI addon, compiling the bundle.
  t0=$(up); (cd "${HANDSHAKED_MAIN%/dist/*}" && node -e "require('koffi')") && log "node loading koffi: $(elapsed "$t0")s"
  t0=$(up); node -e "new (require('vm').Script)(require('fs').readFileSync(process.argv[1], 'utf8'))" "$HANDSHAKED_PROGRAM" \
    && log "node compiling $HANDSHAKED_PROGRAM (not running it): $(elapsed "$t0")s"
}

# start_agent LABEL AGENT [NETNS]: start and wait until it listens on the handshake family.
start_agent() {
  local label=$1 agent=$2 ns=${3:-} logf pid ns_cmd=()
  if [ "$agent" = handshaked ]; then
    bare_node_startup
    # The agent's code cache, as the unit's CacheDirectory= gives it (kept for the boot).
    mkdir -p -m 0700 "$HANDSHAKED_CODE_CACHE_DIR"
  fi
  logf="$HSVM_RESULTS/${HSVM_SCENARIO:-setup}.$label.$agent.log"
  mkdir -p "$AGENT_DIR"
  [ -n "$ns" ] && ns_cmd=(nsenter "--net=/run/netns/$ns")
  if [ "$agent" = handshaked ] && [ ! -f "$HANDSHAKED_MAIN" ]; then
    echo "handshaked is not in the payload ($HANDSHAKED_MAIN missing: did the host build fail?)" > "$logf"
    AGENT_ERROR="handshaked not built ($HANDSHAKED_MAIN missing)"; return 1
  fi
  echo "=== $(date -u +%FT%TZ) uptime $(up)s: $(agent_cmd "$agent") ${ns:+(netns $ns)}" >> "$logf"
  # shellcheck disable=SC2046
  setsid "${ns_cmd[@]}" $(agent_cmd "$agent") >> "$logf" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$AGENT_DIR/$label.pid"
  echo "$agent" > "$AGENT_DIR/$label.agent"
  echo "$logf" > "$AGENT_DIR/$label.log"
  log "agent $label: $agent pid $pid ${ns:+netns $ns} log $logf"
  if ! wait_agent_ready "$pid" "$agent"; then
    AGENT_ERROR="$agent ($label) did not start listening: $AGENT_WAIT_ERROR; last log lines: $(tail -n 3 "$logf" | tr '\n' ' ' | cut -c1-300)"
    echo "--- $logf (tail):"; tail -n 40 "$logf"
    return 1
  fi
  log "agent $label ready after ${AGENT_READY_SECS}s"
  # start-up time counts separately in the report (node start-up under TCG is seconds)
  echo "$AGENT_READY_SECS" >> "$HSVM_STATE/startup.${HSVM_SCENARIO:-setup}"
}

# Ready = the agent holds a generic-netlink socket that joined the handshake family's
# multicast group "tlshd" (seen in /proc/<pid>/net/netlink; the Groups column shows groups
# 1..32). If the group id is above 32 it cannot be seen there; then a generic-netlink socket
# plus a short grace period has to do.
wait_agent_ready() {  # $1 = pid, $2 = agent
  local pid=$1 limit t0 inodes gid mask
  limit=$([ "$2" = handshaked ] && echo 240 || echo 60)
  t0=$(up)
  gid=$(genl ctrl get name handshake 2>/dev/null | sed -n 's/.*ID-\(0x[0-9a-fA-F]*\).*name: *tlshd.*/\1/p' | head -1)
  [ -n "$gid" ] && gid=$((gid))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null; AGENT_WAIT_ERROR="exited (rc=$?) after $(elapsed "$t0")s"; return 1
    fi
    inodes=$(ls -l "/proc/$pid/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | paste -sd' ')
    if [ -n "$inodes" ]; then
      mask=$(awk -v inodes=" $inodes " '$2==16 && index(inodes, " " $NF " ") {print $4}' "/proc/$pid/net/netlink" 2>/dev/null | head -5)
      if [ -n "$gid" ] && [ "$gid" -ge 1 ] && [ "$gid" -le 32 ]; then
        local m
        for m in $mask; do
          if (( (16#$m >> (gid - 1)) & 1 )); then AGENT_READY_SECS=$(elapsed "$t0"); return 0; fi
        done
      elif [ -n "$mask" ]; then
        sleep 2; AGENT_READY_SECS=$(elapsed "$t0"); return 0
      fi
    fi
    if awk -v a="$t0" -v b="$(up)" -v l="$limit" 'BEGIN{exit !(b-a > l)}'; then
      AGENT_WAIT_ERROR="not listening after ${limit}s"; return 1
    fi
    sleep 0.3
  done
}

agent_pid() { cat "$AGENT_DIR/$1.pid" 2>/dev/null; }
agent_alive() { local p; p=$(agent_pid "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# stop_agent LABEL [SIGNAL]: TERM (or the given signal) to the agent's process group,
# then KILL whatever is left after 5 s.
stop_agent() {
  local label=$1 sig=${2:-TERM} pid i
  pid=$(agent_pid "$label"); [ -n "$pid" ] || return 0
  kill "-$sig" -- "-$pid" 2>/dev/null
  for i in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -f "$AGENT_DIR/$label".*
  log "agent $label stopped ($sig)"
}
stop_all_agents() {
  local f
  for f in "$AGENT_DIR"/*.pid; do [ -e "$f" ] && stop_agent "$(basename "$f" .pid)"; done
  true
}

# PIDs in the agent's process group holding a TCP socket: the agent accepted a handshake
# and owns the kernel's socket (a handshake is in progress).
agent_tcp_fds() {  # $1 = label; prints "pid:inode" per TCP socket held
  local pgid p ino
  pgid=$(agent_pid "$1"); [ -n "$pgid" ] || return 0
  for p in $(ps -e -o pid=,pgid= | awk -v g="$pgid" '$2==g {print $1}'); do
    for ino in $(ls -l "/proc/$p/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p'); do
      if awk -v i="$ino" '$10==i {found=1} END {exit !found}' "/proc/$p/net/tcp" "/proc/$p/net/tcp6" 2>/dev/null; then
        echo "$p:$ino"
      fi
    done
  done
}

# --- NFS --------------------------------------------------------------------------------
# set_exports XPRTSEC CLIENTS...: one tmpfs export, re-exported with the given policy.
set_exports() {
  local sec=$1 c line="/export"; shift
  for c in "$@"; do line="$line $c(rw,no_root_squash,insecure,sync,fsid=1,xprtsec=$sec)"; done
  echo "$line" > /etc/exports
  run exportfs -ra && exportfs -v
}

# in_ns NETNS CMD...: run CMD in the named network namespace (same mount namespace).
in_ns() { local ns=$1; shift; if [ -n "$ns" ]; then nsenter --net="/run/netns/$ns" "$@"; else "$@"; fi; }

nfs_mount() {  # $1 = server, $2 = xprtsec or "none", $3 = netns or ""; sets MOUNT_RC MOUNT_SECS
  local opts="vers=4.2,proto=tcp,retry=0" t0
  [ "$2" != none ] && opts="$opts,xprtsec=$2"
  t0=$(up)
  echo "+ mount -t nfs -o $opts $1:/export /mnt ${3:+(netns $3)}"
  in_ns "$3" timeout -k 5 "${HSVM_MOUNT_TIMEOUT:-150}" mount -t nfs -o "$opts" "$1:/export" /mnt
  MOUNT_RC=$?
  MOUNT_SECS=$(elapsed "$t0")
  log "mount rc=$MOUNT_RC after ${MOUNT_SECS}s"
}

nfs_umount() {
  timeout -k 5 60 umount /mnt && return 0
  echo "umount failed; forcing"; timeout -k 5 30 umount -f -l /mnt; return 1
}

# nfs_roundtrip SERVER XPRTSEC [NETNS] [MiB]: mount, write, drop caches, read back, compare.
nfs_roundtrip() {
  local srv=$1 sec=$2 ns=${3:-} mib=${4:-$IO_MIB} f t0 sha srv_sha hs0 hs1 cur
  f=data-$$-$RANDOM
  hs0=$(handshakes_total)
  show_tls_stat "before mount"
  nfs_mount "$srv" "$sec" "$ns"
  [ "$MOUNT_RC" = 0 ] || { RT_ERROR="mount -o xprtsec=$sec $srv:/export failed (rc=$MOUNT_RC after ${MOUNT_SECS}s)"; return 1; }
  grep ' /mnt ' /proc/mounts
  cur=$(tls_current_total)
  [ "$cur" -ge 2 ] || { RT_ERROR="mounted but only $cur kTLS sockets are open (expected client and server)"; nfs_umount; return 1; }
  src_file "$mib"
  t0=$(up)
  run timeout -k 5 300 dd if="/tmp/src-$mib" of="/mnt/$f" bs=1M conv=fsync status=none \
    || { RT_ERROR="writing $mib MiB over NFS failed"; nfs_umount; return 1; }
  log "write $mib MiB took $(elapsed "$t0")s"
  echo 3 > /proc/sys/vm/drop_caches
  t0=$(up)
  sha=$(timeout -k 5 300 sha256sum < "/mnt/$f" | cut -d' ' -f1)
  log "read-back $mib MiB took $(elapsed "$t0")s"
  srv_sha=$(sha256sum < "/export/$f" | cut -d' ' -f1)
  echo "source sha256=$(src_sha "$mib") read-back=$sha server-side=$srv_sha"
  awk '/^device /{p=($5=="/mnt")} p&&/^[ \t]+(READ|WRITE|READ_PLUS):/{print "  mountstats " $0}' /proc/self/mountstats
  show_tls_stat "after I/O"
  nfs_umount || { RT_ERROR="umount failed"; return 1; }
  rm -f "/export/$f"
  hs1=$(handshakes_total)
  [ "$sha" = "$(src_sha "$mib")" ] || { RT_ERROR="read-back sha256 differs from the data written"; return 1; }
  [ "$srv_sha" = "$(src_sha "$mib")" ] || { RT_ERROR="server-side file differs from the data written"; return 1; }
  [ "$hs1" -ge $((hs0 + 2)) ] || { RT_ERROR="tls_stat did not rise by 2 kTLS installs (before $hs0, after $hs1)"; return 1; }
  RT_NOTE="$mib MiB checksum ok, mount ${MOUNT_SECS}s, kTLS installs +$((hs1 - hs0))"
}

src_file() {  # $1 = MiB; a random file generated once per boot
  [ -f "/tmp/src-$1" ] || dd if=/dev/urandom of="/tmp/src-$1" bs=1M count="$1" status=none
  [ -f "/tmp/src-$1.sha" ] || sha256sum < "/tmp/src-$1" | cut -d' ' -f1 > "/tmp/src-$1.sha"
}
src_sha() { src_file "$1"; cat "/tmp/src-$1.sha"; }

# --- NVMe/TCP target and PSK ------------------------------------------------------------
NVMET=/sys/kernel/config/nvmet
SUBNQN=nqn.2014-08.org.nvmexpress:hsvm
# nvme_target ADDR PORTID: subsystem + namespace + allowed host + TLS port (idempotent);
# PSK derived and inserted into the .nvme keyring once per boot.
nvme_target() {
  local addr=$1 port=$2 S=$NVMET
  mkdir -p /etc/nvme
  if [ ! -s /etc/nvme/hostnqn ]; then
    nvme gen-hostnqn > /etc/nvme/hostnqn
    sed 's/.*uuid://' /etc/nvme/hostnqn > /etc/nvme/hostid
  fi
  HOSTNQN=$(cat /etc/nvme/hostnqn); HOSTID=$(cat /etc/nvme/hostid)
  if [ ! -d "$S/subsystems/$SUBNQN" ]; then
    truncate -s 128M /tmp/nvme-backing.img
    mkdir "$S/subsystems/$SUBNQN" || return 1
    echo 0 > "$S/subsystems/$SUBNQN/attr_allow_any_host"
    mkdir "$S/hosts/$HOSTNQN"
    ln -s "$S/hosts/$HOSTNQN" "$S/subsystems/$SUBNQN/allowed_hosts/$HOSTNQN"
    mkdir "$S/subsystems/$SUBNQN/namespaces/1"
    echo /tmp/nvme-backing.img > "$S/subsystems/$SUBNQN/namespaces/1/device_path"
    echo 1 > "$S/subsystems/$SUBNQN/namespaces/1/buffered_io"   # backing file is on tmpfs
    echo 1 > "$S/subsystems/$SUBNQN/namespaces/1/enable" || return 1
  fi
  if [ ! -d "$S/ports/$port" ]; then
    mkdir "$S/ports/$port"
    echo tcp > "$S/ports/$port/addr_trtype"; echo ipv4 > "$S/ports/$port/addr_adrfam"
    echo "$addr" > "$S/ports/$port/addr_traddr"; echo 4420 > "$S/ports/$port/addr_trsvcid"
    # tsas after trtype and before linking the subsystem; the kernel then requires TLS
    echo tls1.3 > "$S/ports/$port/addr_tsas" || { echo "addr_tsas=tls1.3 rejected"; return 1; }
    ln -s "$S/subsystems/$SUBNQN" "$S/ports/$port/subsystems/$SUBNQN" || return 1
  fi
  local a; for a in addr_traddr addr_tsas addr_treq; do echo "  port$port $a=$(cat "$S/ports/$port/$a")"; done
  if [ ! -f "$HSVM_STATE/psk-inserted" ]; then
    local key
    key=$(nvme gen-tls-key --hmac=1 --hostnqn="$HOSTNQN" --subsysnqn="$SUBNQN" | grep -o 'NVMeTLSkey-1:[^ ]*' | head -1)
    [ -n "$key" ] || { echo "nvme gen-tls-key printed no key"; return 1; }
    run nvme check-tls-key --keydata="$key" --hostnqn="$HOSTNQN" --subsysnqn="$SUBNQN" --insert || return 1
    touch "$HSVM_STATE/psk-inserted"
  fi
  echo "  keys: $(grep -E ' psk |\.nvme' /proc/keys | awk '{print $1, $8, $9}' | paste -sd';')"
}

# nvme_roundtrip ADDR [NETNS] [MiB]: connect with TLS and several I/O queues, write and read
# back a pattern with O_DIRECT dd, compare, disconnect.
nvme_roundtrip() {
  local addr=$1 ns=${2:-} mib=${3:-32} t0 dev c qc a b hs0 hs1 rc
  hs0=$(handshakes_total)
  show_tls_stat "before connect"
  t0=$(up)
  echo "+ nvme connect --tls (4 I/O queues) to $addr ${ns:+(netns $ns)}"
  in_ns "$ns" timeout -k 5 150 nvme connect -t tcp -a "$addr" -s 4420 -n "$SUBNQN" \
    --hostnqn="$HOSTNQN" --hostid="$HOSTID" --tls --nr-io-queues=2 --nr-write-queues=2
  rc=$?
  [ $rc = 0 ] || { RT_ERROR="nvme connect --tls failed (rc=$rc after $(elapsed "$t0")s)"; return 1; }
  local conn_secs; conn_secs=$(elapsed "$t0"); log "nvme connect took ${conn_secs}s"
  dev=
  for _ in $(seq 1 60); do
    dev=$(ls /sys/block | grep -E '^nvme[0-9]+n1$' | head -1)
    [ -n "$dev" ] && [ -b "/dev/$dev" ] && break; sleep 0.5
  done
  [ -n "$dev" ] || { RT_ERROR="no NVMe block device appeared after connect"; nvme_disconnect; return 1; }
  for c in /sys/class/nvme/nvme*; do
    qc=$(cat "$c/queue_count" 2>/dev/null)
    echo "  $c: transport=$(cat "$c/transport") state=$(cat "$c/state") queue_count=${qc:-?} tls_key=$(cat "$c/tls_key" 2>/dev/null) address=$(tr '\n' ' ' < "$c/address")"
  done
  show_tls_stat "connected"
  src_file "$mib"
  t0=$(up); run timeout -k 5 300 dd if="/tmp/src-$mib" of="/dev/$dev" bs=1M count="$mib" oflag=direct status=none \
    || { RT_ERROR="O_DIRECT write to /dev/$dev failed"; nvme_disconnect; return 1; }
  log "write $mib MiB took $(elapsed "$t0")s"
  t0=$(up); a=$(timeout -k 5 300 dd if="/dev/$dev" bs=1M count="$mib" iflag=direct status=none | sha256sum | cut -d' ' -f1)
  log "read $mib MiB took $(elapsed "$t0")s"
  b=$(head -c "${mib}M" /tmp/nvme-backing.img | sha256sum | cut -d' ' -f1)
  echo "source sha256=$(src_sha "$mib") read-back=$a backing-file=$b"
  nvme_disconnect || { RT_ERROR="nvme disconnect failed"; return 1; }
  hs1=$(handshakes_total)
  [ "$a" = "$(src_sha "$mib")" ] || { RT_ERROR="read-back sha256 differs from the pattern written"; return 1; }
  [ "$b" = "$(src_sha "$mib")" ] || { RT_ERROR="target backing file differs from the pattern written"; return 1; }
  # admin queue + I/O queues, each a client and a server socket
  local want=$(( 2 * ${qc:-2} ))
  [ "$hs1" -ge $((hs0 + want)) ] || { RT_ERROR="expected $want kTLS installs (queue_count ${qc:-?}), tls_stat rose by $((hs1 - hs0))"; return 1; }
  RT_NOTE="$mib MiB pattern ok, queues ${qc:-?}, connect ${conn_secs}s, kTLS installs +$((hs1 - hs0))"
}

nvme_disconnect() {
  run timeout -k 5 60 nvme disconnect -n "$SUBNQN" || return 1
  local i; for i in $(seq 1 40); do ls /sys/class/nvme/ 2>/dev/null | grep -q nvme || return 0; sleep 0.25; done
  echo "controller still present after disconnect"; return 1
}

# --- PKI / config -----------------------------------------------------------------------
# One config for both agents: tlshd's sections and keys. Trust stores are separate files so a
# scenario can swap the client's trust without touching the config.
write_agent_config() {
  local workers
  workers=$(sed -n 's/.*hsvm\.workers=\([0-9]*\).*/\1/p' /proc/cmdline)
  mkdir -p /etc/tlshd
  cat > /etc/tlshd/config <<'CONF'
[debug]
loglevel=2
tls=0
nl=0

CONF
  # HSVM_WORKERS on the host: handshaked's worker threads (tlshd ignores the section).
  if [ -n "$workers" ]; then printf '[handshaked]\nworkers=%s\n\n' "$workers" >> /etc/tlshd/config; fi
  cat >> /etc/tlshd/config <<'CONF'
[authenticate]
keyrings=.nvme

[authenticate.client]
x509.truststore=/etc/tlshd/client-trust.pem
x509.certificate=/etc/tlshd/client.pem
x509.private_key=/etc/tlshd/client.key

[authenticate.server]
x509.truststore=/etc/tlshd/server-trust.pem
x509.certificate=/etc/tlshd/server.pem
x509.private_key=/etc/tlshd/server.key
CONF
  # ktls-utils 1.0.0 looks for /etc/tlshd.conf when started without -c
  cp /etc/tlshd/config /etc/tlshd.conf
}
install_pki() {
  local f
  for f in ca.pem server.pem client.pem other-ca.pem; do install -m 0644 "$H/pki/$f" /etc/tlshd/$f; done
  for f in server.key client.key; do install -m 0600 "$H/pki/$f" /etc/tlshd/$f; done
  cp /etc/tlshd/ca.pem /etc/tlshd/client-trust.pem
  cp /etc/tlshd/ca.pem /etc/tlshd/server-trust.pem
}

# --- systemd passes -----------------------------------------------------------------------
# unit_usec UNIT PROPERTY: a *TimestampMonotonic property in microseconds since boot (0 if unset).
unit_usec() { systemctl show -P "$2" "$1" 2>/dev/null | grep -E '^[0-9]+$' || echo 0; }
usec_s() { awk -v u="$1" 'BEGIN{printf "%.1f", u/1e6}'; }
# journal_lines UNIT [journalctl options...]: the unit's messages of this boot, text only.
journal_lines() { local u=$1; shift; journalctl -b -u "$u" -o cat --no-pager "$@" 2>/dev/null; }
