#!/usr/bin/env bash
# A Debian 13 (trixie) root for interop peers newer than the host's: OpenSSL 3.5 (ML-KEM,
# ML-DSA) and GnuTLS 3.8. Built once with debootstrap from the host's Debian mirror and cached;
# prints the root's path on stdout. Tests run its binaries with `chroot ROOT openssl ...`
# on loopback (the root shares the host's network namespace).
#
#   scripts/trixie-root.sh          build if needed, print the path
#   scripts/trixie-root.sh --check  print the path if built, exit 3 otherwise (never builds)
#
# Needs root (debootstrap, chroot). HANDSHAKED_TRIXIE_ROOT overrides the cache location.
set -euo pipefail
source "$(dirname "$0")/vm/lib.sh"

PACKAGES=(openssl gnutls-bin ca-certificates)
key=$(printf '%s\n' "${PACKAGES[@]}" "suite=trixie" | sha256sum | cut -c1-12)
final=${HANDSHAKED_TRIXIE_ROOT:-/var/cache/handshaked-trixie/root-$key}

ready() { [ -x "$final/usr/bin/openssl" ] && [ -x "$final/usr/bin/gnutls-serv" ] && [ -f "$final/.complete" ]; }

if ready; then echo "$final"; exit 0; fi
if [ "${1:-}" = --check ]; then echo "trixie root not built at $final (run scripts/trixie-root.sh as root)" >&2; exit 3; fi
[ "$(id -u)" = 0 ] || die "building the trixie root needs root (debootstrap, chroot); run: sudo scripts/trixie-root.sh"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"

mkdir -p "$(dirname "$final")"
# One builder at a time; the others wait and then find it ready.
exec 9>"$final.lock"
flock 9
if ready; then echo "$final"; exit 0; fi

mirror=$(debian_mirror)
work=$final.tmp
rm -rf "$work"; mkdir -p "$work"
t0=$SECONDS
say "debootstrap trixie (minbase) from $mirror into $work"
timeout 1200 debootstrap --variant=minbase trixie "$work" "$mirror" >"$final.log" 2>&1 \
  || die "debootstrap trixie failed (log: $final.log): $(grep -hE 'E: |Failed|Couldn' "$final.log" | tail -3)"
# apt inside the root needs the host's CA bundle (https mirrors) and name resolution.
mkdir -p "$work/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$work/etc/ssl/certs/" 2>/dev/null || true
cp /etc/resolv.conf "$work/etc/resolv.conf" 2>/dev/null || true
timeout 600 chroot "$work" apt-get -o Acquire::Retries=2 update >>"$final.log" 2>&1 \
  || die "apt-get update in the trixie root failed (log: $final.log)"
DEBIAN_FRONTEND=noninteractive timeout 900 chroot "$work" apt-get -o Acquire::Retries=2 install -y -q \
  --no-install-recommends "${PACKAGES[@]}" >>"$final.log" 2>&1 \
  || die "apt-get install ${PACKAGES[*]} in the trixie root failed (log: $final.log)"
chroot "$work" apt-get clean
rm -rf "$work"/var/lib/apt/lists/*
chroot "$work" dpkg-query -W -f '${Package} ${Version}\n' openssl gnutls-bin >"$work/.complete"
rm -rf "$final"
mv "$work" "$final"
say "trixie root ready in $((SECONDS - t0)) s: $(tr '\n' ' ' <"$final/.complete")"
echo "$final"
