#!/usr/bin/env bash
# Build the cached guest: a Debian root filesystem (debootstrap) as an ext4 image, the
# cloud kernel unpacked from its .deb, and the parts of a tiny busybox loader initramfs.
# Output: $HSVM_CACHE/rootfs-<key>/{rootfs.ext4,vmlinuz,loader/,kernel-version,
# installed-packages.txt}. Idempotent; the directory appears only
# when complete, so an interrupted build never leaves a half-made cache behind.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# The metapackage tracks the suite's current cloud kernel; its versioned dependency is what
# gets unpacked (e.g. linux-image-6.12.57+deb13-cloud-amd64).
HSVM_KERNEL_PKG=${HSVM_KERNEL_PKG:-linux-image-cloud-amd64}
ROOTFS_SIZE=${HSVM_ROOTFS_SIZE:-2G}

key=$(rootfs_key)
final=$HSVM_CACHE/rootfs-$key
if [ -s "$final/rootfs.ext4" ] && [ -s "$final/vmlinuz" ] && [ -x "$final/loader/bin/busybox" ]; then
  touch "$final"; echo "$final"; exit 0
fi

mirror=$(debian_mirror)
work=$HSVM_CACHE/rootfs-$key.tmp
R=$work/root
rm -rf "$work"; mkdir -p "$work"
say "building guest root filesystem ($HSVM_SUITE, cache key $key) in $work — several minutes on a cold cache"
t0=$SECONDS

# Keep the chroot's /proc mount from outliving a failed build.
cleanup() { mountpoint -q "$R/proc" 2>/dev/null && umount -l "$R/proc"; true; }
trap cleanup EXIT

fail_with_log() {  # $1 = what failed, $2 = log file
  local hint
  hint=$(grep -hE "Couldn't download|Failed getting release|Failed to fetch|Unable to locate|E: |W: Failure|Temporary failure|Could not resolve|not found" "$2" 2>/dev/null | tail -5)
  die "$1 failed (log: $2)${hint:+
$hint}"
}

pkgs=$(grep -vE '^[[:space:]]*(#|$)' "$HSVM_DIR/packages.txt" | paste -sd, -)
say "debootstrap $HSVM_SUITE (minbase + $pkgs)"
timeout 1800 debootstrap --variant=minbase --include="$pkgs" "$HSVM_SUITE" "$R" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || fail_with_log "debootstrap of $HSVM_SUITE from the host's Debian mirror" "$work/debootstrap.log"

# The kernel: resolve the metapackage inside the new root's apt, download the versioned
# image and unpack it without running its maintainer scripts (no initramfs-tools needed).
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
timeout 600 chroot "$R" apt-get -o Acquire::Retries=2 update >"$work/apt.log" 2>&1 \
  || fail_with_log "apt-get update in the guest root" "$work/apt.log"
kpkg=$(chroot "$R" apt-cache depends "$HSVM_KERNEL_PKG" 2>>"$work/apt.log" \
  | awk '$1=="Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || fail_with_log "resolving $HSVM_KERNEL_PKG to a versioned kernel package" "$work/apt.log"
say "kernel package: $kpkg"
mkdir -p "$R/tmp/kernel"
(cd "$R/tmp/kernel" && timeout 900 chroot "$R" sh -c "cd /tmp/kernel && apt-get -o Acquire::Retries=2 download $kpkg") \
  >>"$work/apt.log" 2>&1 || fail_with_log "download of $kpkg" "$work/apt.log"
dpkg-deb -x "$R"/tmp/kernel/*.deb "$R"
rm -rf "$R/tmp/kernel"
kver=${kpkg#linux-image-}
[ -f "$R/boot/vmlinuz-$kver" ] || die "kernel image /boot/vmlinuz-$kver missing from $kpkg"
chroot "$R" /sbin/depmod -a "$kver"

# Guest system files the PID-1 script relies on.
echo hsvm > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n10.99.0.1\thsvm-server\n' > "$R/etc/hosts"
: > "$R/etc/fstab"
chroot "$R" apt-get clean
rm -rf "$R"/var/lib/apt/lists/* "$R/etc/resolv.conf"
[ -x "$R/bin/busybox" ] || die "busybox-static did not install /bin/busybox in the guest root"

cp "$R/boot/vmlinuz-$kver" "$work/vmlinuz"
echo "$kver" > "$work/kernel-version"
cp "$HSVM_DIR/packages.txt" "$work/packages.txt"
chroot "$R" dpkg-query -W -f '${Package} ${Version}\n' > "$work/installed-packages.txt"

# Loader parts: static busybox + virtio_blk. run.sh packs them with loader-init.sh into
# the initramfs at each run, so editing the loader never invalidates the image.
L=$work/loader
mkdir -p "$L/bin" "$L/lib/modules"
cp "$R/bin/busybox" "$L/bin/busybox"
mod=$(find "$R/usr/lib/modules/$kver" -name 'virtio_blk.ko*' | head -1)
if [ -n "$mod" ]; then
  case $mod in
    *.xz) xz -dc "$mod" > "$L/lib/modules/virtio_blk.ko" ;;
    *.zst) zstd -qdc "$mod" > "$L/lib/modules/virtio_blk.ko" ;;
    *) cp "$mod" "$L/lib/modules/virtio_blk.ko" ;;
  esac
fi
mkdir -p "$R/opt/hsvm"

say "writing ext4 image ($ROOTFS_SIZE sparse)"
mke2fs -q -t ext4 -L hsvmroot -d "$R" "$work/rootfs.ext4" "$ROOTFS_SIZE"
trap - EXIT
rm -rf "$R"
mv "$work" "$final"
# Keep the three newest finished images: two checkouts with different package lists (a branch
# that adds a guest package, say) can then run side by side without rebuilding each other's
# image. Builds in progress (*.tmp) are never touched.
ls -1dt "$HSVM_CACHE"/rootfs-* 2>/dev/null | grep -v '\.tmp$' | tail -n +4 | while read -r d; do
  [ "$d" = "$final" ] || rm -rf "$d"
done
say "guest image ready in $((SECONDS - t0)) s: $final (kernel $kver)"
echo "$final"
