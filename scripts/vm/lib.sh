# shellcheck shell=bash
# Host-side helpers shared by the VM harness scripts (sourced, not executed).

HSVM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HSVM_REPO=$(cd "$HSVM_DIR/../.." && pwd)
: "${HANDSHAKED_VM_CACHE:=/var/cache/handshaked-vm}"
HSVM_CACHE=$HANDSHAKED_VM_CACHE
HSVM_SUITE=${HSVM_SUITE:-trixie}

say() { printf '%s [hsvm] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '%s [hsvm] ERROR: %s\n' "$(date +%T)" "$*" >&2; exit 2; }

# Host packages the harness needs (Debian names); installed on first use so a fresh
# machine can run `npm run test:kernel` with nothing prepared by hand.
HSVM_HOST_PACKAGES=(qemu-system-x86 debootstrap e2fsprogs cpio xz-utils zstd gzip openssl)
ensure_host_tools() {
  local missing=() p
  for p in "${HSVM_HOST_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing host packages: ${missing[*]}"
  # Other jobs may hold the dpkg lock; wait for it rather than failing.
  timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq \
    || die "apt-get update failed (host package lists); cannot install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed (download or dpkg error; rerun with the output of apt-get to see which)"
}

# The Debian mirror the host already uses (only Debian mirrors are reachable here), so
# no host name is written into the harness. HSVM_MIRROR overrides it.
debian_mirror() {
  if [ -n "${HSVM_MIRROR:-}" ]; then echo "$HSVM_MIRROR"; return; fi
  local f uri
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # one-line format: deb [opts] URI suite ...; deb822 format: URIs: URI
    uri=$(awk '
      /^[[:space:]]*#/ {next}
      $1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }
      $1=="URIs:" { for (i=2;i<=NF;i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }
    ' "$f")
    if [ -n "$uri" ]; then echo "${uri%/}"; return; fi
  done
  die "no Debian mirror found in the host's apt sources; set HSVM_MIRROR=http://<mirror>/debian"
}

# Cache key of the root filesystem: the package list and every script that shapes the
# image. Changing any of them builds a new image next to the old one.
rootfs_key() {
  cat "$HSVM_DIR/packages.txt" "$HSVM_DIR/build-rootfs.sh" \
    | { cat; echo "suite=$HSVM_SUITE"; } | sha256sum | cut -c1-16
}

# The nvme-storm benchmark's knobs (HSVM_STORM_*) as kernel command-line words hsvm.storm.<name>=<value>,
# spaces written as commas; the guest's storm_knob (guest/lib.sh) reads them back.
storm_args() {
  local v k
  for v in CTRLS WARM_ROUNDS CODE_CACHE AGENTS LOGLEVEL GROUPS NODE_FLAGS; do
    k=HSVM_STORM_$v
    [ -n "${!k:-}" ] || continue
    [[ ${!k} =~ ^[A-Za-z0-9=.:/_\ -]+$ ]] || die "$k may hold only letters, digits, spaces and = . : / _ -, got '${!k}'"
    printf ' hsvm.storm.%s=%s' "${v,,}" "${!k// /,}"
  done
}
