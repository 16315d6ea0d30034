#!/usr/bin/env bash
# The real-kernel harness (`npm run test:kernel`): boots the Debian cloud kernel under QEMU
# TCG and runs NFS-over-TLS, NVMe/TCP-TLS, mixed-agent and failure scenarios, first with
# tlshd as the agent, then with handshaked, then the two mixed. Prints KTAP and a side-by-side
# table; exit status 0 only if every scenario passed or was skipped (1: some failed, 2: the
# harness itself could not run). See docs/vm.md.
#
# Environment:
#   HANDSHAKED_VM_CACHE  cache and run logs (default /var/cache/handshaked-vm)
#   HSVM_PASSES          passes to run, in order (default "tlshd handshaked mixed systemd-tlshd
#                        systemd-handshaked")
#   HSVM_ONLY            comma-separated scenario names to keep (default: all)
#   HSVM_IO_MIB          MiB written and read back per NFS round trip (default 64)
#   HSVM_WORKERS         [handshaked] workers in the guest's agent configuration (default: not
#                        set, the agent's own default: none on the guest's 2 vCPUs)
#   HSVM_PASS_TIMEOUT    seconds one VM may run before it is killed (default 1200)
#   HSVM_MIRROR          Debian mirror URL (default: the one in the host's apt sources)
#   HSVM_STORM_CTRLS, HSVM_STORM_WARM_ROUNDS, HSVM_STORM_CODE_CACHE, HSVM_STORM_AGENTS,
#   HSVM_STORM_LOGLEVEL, HSVM_STORM_GROUPS, HSVM_STORM_NODE_FLAGS
#                        the nvme-storm benchmark's knobs, passed to the guest (see the scenario)
set -uo pipefail
# Run from a private copy: this file lives in a shared work tree where it may be edited during a
# ten-minute run, and bash reads a script as it executes it.
if [ -z "${HSVM_RUN_COPY:-}" ]; then
  copy=$(mktemp /tmp/hsvm-run.XXXXXX)
  cp "$0" "$copy"
  HSVM_RUN_COPY=$copy HSVM_SELF_DIR=$(cd "$(dirname "$0")" && pwd) exec bash "$copy" "$@"
fi
rm -f "$HSVM_RUN_COPY"
source "$HSVM_SELF_DIR/lib.sh"

PASSES=${HSVM_PASSES:-tlshd handshaked mixed systemd-tlshd systemd-handshaked}
[[ -z ${HSVM_WORKERS:-} || $HSVM_WORKERS =~ ^[0-9]+$ ]] || { echo "HSVM_WORKERS must be a number of worker threads, not '$HSVM_WORKERS'" >&2; exit 2; }
PASS_TIMEOUT=${HSVM_PASS_TIMEOUT:-1200}
IO_MIB=${HSVM_IO_MIB:-64}
AGENT_SCENARIOS="nfs-tls nfs-plain-refused nfs-mtls nfs-mtls-allowed-peers nfs-pq nfs-tls-on-mtls-refused nvme-tls-psk fail-untrusted-ca trust-rotation fail-agent-killed unix-ktls unix-ktls-stream netns-nfs"
# Benchmarks measure rather than test: they run only when HSVM_ONLY names them.
BENCH_SCENARIOS="nvme-storm"
# Passes booted by systemd, the agent installed as an administrator would (docs/vm.md).
SYSTEMD_SCENARIOS="sd-boot-mounts sd-journal sd-reload sd-monitor sd-nvme-psk sd-stop sd-security sd-purge"
SYSTEMD_TLSHD_SCENARIOS="sd-boot-mounts sd-nvme-psk sd-security"
MIXED_SCENARIOS="mixed-nfs-server_handshaked-client_tlshd mixed-nfs-server_tlshd-client_handshaked mixed-nvme-target_handshaked-host_tlshd mixed-nvme-target_tlshd-host_handshaked companion-kernel-test"

scenarios_of() {  # $1 = pass
  local all s out=()
  case $1 in
    tlshd|handshaked) all="$AGENT_SCENARIOS${HSVM_ONLY:+ $BENCH_SCENARIOS}" ;;
    # HSVM_ONLY may name other agent pairings too, e.g. mixed-nfs-server_tlshd-client_tlshd
    # to check the two-namespace plumbing with one known-good agent.
    mixed) all="$MIXED_SCENARIOS $(tr ',' '\n' <<< "${HSVM_ONLY:-}" | grep -E '^mixed-(nfs-server|nvme-target)_[a-z]+-(client|host)_[a-z]+$' | grep -vxF -f <(tr ' ' '\n' <<< "$MIXED_SCENARIOS") | paste -sd' ')" ;;
    systemd-handshaked) all=$SYSTEMD_SCENARIOS ;;
    systemd-tlshd) all=$SYSTEMD_TLSHD_SCENARIOS ;;
    *) die "unknown pass '$1' (passes: tlshd handshaked mixed systemd-tlshd systemd-handshaked)" ;;
  esac
  for s in $all; do
    if [ -z "${HSVM_ONLY:-}" ] || [[ ",$HSVM_ONLY," == *",$s,"* ]]; then out+=("$s"); fi
  done
  echo "${out[*]}"
}

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot and the cache under /var/cache need it)"
t_start=$SECONDS
ensure_host_tools
mkdir -p "$HSVM_CACHE/runs"

# --- the cached guest image (one builder at a time) --------------------------------------
exec 9>"$HSVM_CACHE/.build.lock"
flock -w 1800 9 || die "another run has held $HSVM_CACHE/.build.lock for 30 minutes"
t0=$SECONDS
image=$(bash "$HSVM_DIR/build-rootfs.sh" | tail -1) || exit 2
[ -s "$image/rootfs.ext4" ] || die "guest image build did not produce $image/rootfs.ext4"
flock -u 9
t_image=$((SECONDS - t0))
kver=$(cat "$image/kernel-version")

RUN=$HSVM_CACHE/runs/$(date +%Y%m%d-%H%M%S)-$$
S=$RUN/stage
mkdir -p "$S/guest" "$S/pki" "$S/handshaked" "$S/results"
say "run directory: $RUN"

# --- per-run payload: harness, PKI, the freshly built project ----------------------------
t0=$SECONDS
cp -a "$HSVM_DIR/guest/." "$S/guest/"
# unix-ktls-stream runs the client example from the document itself
cp "$HSVM_REPO/docs/client.md" "$S/guest/client.md"
bash "$HSVM_DIR/make-pki.sh" "$RUN/pki" || die "PKI generation with openssl failed"
cp "$RUN/pki"/{ca.pem,other-ca.pem,server.pem,server.key,client.pem,client.key} "$S/pki/"

# Build into the payload rather than the shared dist/ so concurrent builds cannot race.
say "building handshaked (npm run build) -> $RUN/build.log"
(cd "$HSVM_REPO" && timeout 900 npm run build -- --outDir "$S/handshaked/dist") > "$RUN/build.log" 2>&1
build_rc=$?
if [ $build_rc != 0 ]; then
  if [ -f "$S/handshaked/dist/cli/main.js" ]; then
    say "WARNING: npm run build exited $build_rc (type errors?) but emitted dist/; using it. See $RUN/build.log"
  else
    say "ERROR: npm run build failed (rc=$build_rc) and emitted no dist/cli/main.js; handshaked rows will fail. See $RUN/build.log"
  fi
fi
# Production dependencies only, cached per package-lock.json (npm prune works offline).
lock_hash=$( (cat "$HSVM_REPO/package-lock.json"; ls "$HSVM_REPO/node_modules") | sha256sum | cut -c1-16)
mods=$HSVM_CACHE/node_modules-$lock_hash
if [ ! -d "$mods/node_modules" ]; then
  rm -rf "$mods.tmp"; mkdir -p "$mods.tmp"
  cp -a "$HSVM_REPO/node_modules" "$HSVM_REPO/package.json" "$HSVM_REPO/package-lock.json" "$mods.tmp/"
  (cd "$mods.tmp" && timeout 300 npm prune --omit=dev --offline --no-audit --no-fund) > "$RUN/npm-prune.log" 2>&1 \
    || die "npm prune --omit=dev of a copy of node_modules failed; see $RUN/npm-prune.log"
  ls -1dt "$HSVM_CACHE"/node_modules-* 2>/dev/null | grep -v '\.tmp$' | tail -n +4 | xargs -r rm -rf
  mv "$mods.tmp" "$mods"
fi
cp -a "$mods/node_modules" "$S/handshaked/"
cp "$HSVM_REPO/package.json" "$S/handshaked/"
# the companion's PKI (its default --pki is fixtures/pki next to dist/)
mkdir -p "$S/handshaked/fixtures"
cp -a "$HSVM_REPO/fixtures/pki" "$S/handshaked/fixtures/"
# the ML-DSA identities of the nfs-pq scenario
cp -a "$HSVM_REPO/fixtures/pki-pq" "$S/handshaked/fixtures/"

# The systemd passes install the Debian package, made by `npm run package` from the build above.
if [[ " $PASSES " == *" systemd-"* ]]; then
  say "packaging handshaked (scripts/package.sh) -> $RUN/package.log"
  PACKAGE_DIST=$S/handshaked/dist timeout 600 bash "$HSVM_REPO/scripts/package.sh" "$S/deb" > "$RUN/package.log" 2>&1 \
    || say "ERROR: scripts/package.sh failed; the systemd-handshaked pass will fail. See $RUN/package.log"
fi
payload_mb=$(( $(du -sm "$S" | cut -f1) + 768 ))
mke2fs -q -t ext4 -L hsvmpayload -d "$S" "$RUN/payload.ext4" "${payload_mb}M" || die "mke2fs of the payload image failed"
L=$RUN/loader
cp -a "$image/loader" "$L"
mkdir -p "$L/dev" "$L/proc" "$L/sys" "$L/newroot"
for c in sh mount umount insmod sleep cat mkdir echo switch_root poweroff; do ln -sf busybox "$L/bin/$c"; done
install -m 0755 "$HSVM_DIR/loader-init.sh" "$L/init"
(cd "$L" && find . | cpio -o -H newc --quiet | gzip -1) > "$RUN/loader.cpio.gz"
t_stage=$((SECONDS - t0))

# --- boot one VM per pass -----------------------------------------------------------------
# The console goes to <pass>.console.log with host-time stamps; HSVM-* marker lines are
# echoed live so a long run shows progress.
console_tee() {  # $1 = log file
  local line t0=$EPOCHREALTIME
  while IFS= read -r line; do
    line=${line%$'\r'}
    printf '[%7.1f] %s\n' "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')" "$line" >> "$1"
    case $line in
      HSVM-RESULT*|HSVM-PASS*|HSVM-INIT*|HSVM-SETUP*|HSVM-WATCHDOG*|*"Kernel panic"*|LOADER:*) say "  guest: $line" ;;
    esac
  done
}

STORM_ARGS=$(storm_args) || exit 2

declare -A PASS_SECS PASS_RC
for pass in $PASSES; do
  scen=$(scenarios_of "$pass")
  [ -n "$scen" ] || continue
  log=$RUN/$pass.console.log
  realinit=/opt/hsvm/guest/init.sh
  [[ $pass == systemd-* ]] && realinit=/opt/hsvm/guest/systemd-boot.sh
  append="console=ttyS0 loglevel=5 panic=-1 realinit=$realinit hsvm.pass=$pass hsvm.scenarios=${scen// /,} hsvm.watchdog=$((PASS_TIMEOUT - 60)) hsvm.io=$IO_MIB${HSVM_WORKERS:+ hsvm.workers=$HSVM_WORKERS}$STORM_ARGS"
  qemu=(qemu-system-x86_64 -nodefaults -no-user-config -M pc -accel tcg,thread=multi -cpu max -smp 2 -m 3G
        -display none -no-reboot -chardev stdio,id=con,signal=off -serial chardev:con
        -kernel "$image/vmlinuz" -initrd "$RUN/loader.cpio.gz"
        -drive "file=$image/rootfs.ext4,if=virtio,format=raw,snapshot=on,cache=unsafe"
        -drive "file=$RUN/payload.ext4,if=virtio,format=raw,cache=writeback"
        -append "$append")
  echo "${qemu[*]}" > "$RUN/$pass.qemu-cmd"
  say "pass $pass: booting $kver under TCG (timeout ${PASS_TIMEOUT}s): $scen"
  t0=$SECONDS
  # snapshot=on keeps its overlay in TMPDIR: the run directory, removed with the run
  for attempt in 1 2; do
    TMPDIR=$RUN timeout -k 10 "$PASS_TIMEOUT" "${qemu[@]}" < /dev/null 2>&1 | console_tee "$log"
    PASS_RC[$pass]=${PIPESTATUS[0]}
    # The kernel very rarely panics in its first seconds under multi-threaded TCG (seen once: an
    # int3 from boot-time code patching, sched_clock_cpu, before PID 1). Nothing of the pass has
    # run then, so boot it once more rather than fail every scenario of the pass.
    if [ "$attempt" = 1 ] && ! grep -q 'HSVM-INIT' "$log" && grep -q 'Kernel panic' "$log"; then
      mv "$log" "$RUN/$pass.console.boot-panic.log"
      say "pass $pass: the kernel panicked before PID 1 ran (see $pass.console.boot-panic.log); booting again"
      continue
    fi
    break
  done
  PASS_SECS[$pass]=$((SECONDS - t0))
  [ "${PASS_RC[$pass]}" = 124 ] && say "pass $pass: qemu killed after ${PASS_TIMEOUT}s"
  say "pass $pass: VM exited rc=${PASS_RC[$pass]} after ${PASS_SECS[$pass]}s; console: $log"
done

# Logs written in the guest come back by reading the payload image (no loop mount needed).
debugfs -R "rdump /results $RUN" "$RUN/payload.ext4" > /dev/null 2>&1 || say "could not copy results out of $RUN/payload.ext4"
rm -f "$RUN/payload.ext4"
rm -rf "$S" "$L"

# --- KTAP + side by side ------------------------------------------------------------------
bash "$HSVM_DIR/report.sh" "$RUN" "$PASSES" "$(for p in $PASSES; do echo "$p:$(scenarios_of "$p")"; done)" | tee "$RUN/report.ktap"
status=${PIPESTATUS[0]}
{
  echo "# timing: image ${t_image}s, staging ${t_stage}s, $(for p in $PASSES; do [ -n "${PASS_SECS[$p]:-}" ] && printf '%s VM %ss, ' "$p" "${PASS_SECS[$p]}"; done)total $((SECONDS - t_start))s"
  echo "# logs: $RUN/<pass>.console.log (full console), $RUN/results/<pass>/<scenario>.log and .<role>.<agent>.log (agent logs), dmesg.log; build: $RUN/build.log"
} | tee -a "$RUN/report.ktap"
# Keep the last 10 runs' logs.
ls -1d "$HSVM_CACHE"/runs/*/ 2>/dev/null | head -n -10 | xargs -r rm -rf
exit "$status"
