#!/usr/bin/env bash
# Check the README's set-up commands on a truly fresh Debian 12 machine: a minbase root made
# with debootstrap (nothing but apt and dpkg), the host's node and npm copied in, a `git clone`
# of this repository, and then, inside chroot as root, exactly the two commands the README gives:
#   npm ci && npm run build && node dist/cli/main.js --help
#   npm test
# `npm test` must find and install its own test tools (scripts/test-tools.sh). Finally the same
# check as a user who cannot install them must stop within seconds, naming the apt-get line.
#
#   sudo bash scripts/fresh-check.sh [REF]      # REF: the commit or branch to clone (default HEAD)
#
# Environment:
#   HANDSHAKED_FRESH_CACHE  where the pristine minbase root is kept (default /var/cache/handshaked-fresh)
#   FRESH_SUITE             Debian suite (default bookworm)
#   FRESH_MIRROR            Debian mirror (default: the one in the host's apt sources)
#   FRESH_KEEP=1            keep the work root afterwards (its path is printed)
# Exit status: 0 when both commands passed, 1 when one failed, 2 when the check could not run.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
REF=${1:-HEAD}
SUITE=${FRESH_SUITE:-bookworm}
CACHE=${HANDSHAKED_FRESH_CACHE:-/var/cache/handshaked-fresh}

say() { printf '%s [fresh] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '%s [fresh] ERROR: %s\n' "$(date +%T)" "$*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it)"
if ! command -v debootstrap >/dev/null && command -v apt-get >/dev/null; then
  say "installing debootstrap on the host with apt-get"
  apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 \
    || die "apt-get install debootstrap failed on the host"
fi
for c in debootstrap git node npm; do command -v "$c" >/dev/null || die "$c is not installed on the host"; done

mirror=${FRESH_MIRROR:-}
if [ -z "$mirror" ]; then
  # the host's Debian mirror, found the way the VM harness finds it
  mirror=$(source "$REPO/scripts/vm/lib.sh" && debian_mirror) || exit 2
fi

# --- the pristine root, cached (debootstrap takes a minute; each check starts from a copy) ----
base=$CACHE/$SUITE-minbase
if [ ! -x "$base/usr/bin/apt-get" ]; then
  say "debootstrap --variant=minbase $SUITE from $mirror (cached in $base)"
  rm -rf "$base.tmp"; mkdir -p "$CACHE"
  timeout 1800 debootstrap --variant=minbase "$SUITE" "$base.tmp" "$mirror" > "$CACHE/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $CACHE/debootstrap.log"
  rm -rf "$base.tmp/var/cache/apt/archives/"*.deb
  mv "$base.tmp" "$base"
fi

work=$(mktemp -d "$CACHE/run.XXXXXX")
R=$work/root
mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null; done
  # The tests mount inside the root too (`ip netns add` makes /run/netns a mount point): those
  # go as well, deepest first, or rm cannot remove their directories.
  awk -v r="$R/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  if [ "${FRESH_KEEP:-0}" = 1 ]; then say "kept $R"; else rm -rf --one-file-system "$work"; fi
}
trap cleanup EXIT
say "copying the pristine root to $R"
cp -a "$base" "$R" || die "copy of $base failed"

# What a machine on this network needs to reach its package registries: the CA bundle, the apt
# sources and npm's settings. Nothing else of the host goes in.
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"
if [ "$SUITE" = "$(. /etc/os-release; echo "${VERSION_CODENAME:-}")" ]; then
  rm -f "$R/etc/apt/sources.list"
  cp /etc/apt/sources.list "$R/etc/apt/sources.list" 2>/dev/null
  cp /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources "$R/etc/apt/sources.list.d/" 2>/dev/null
fi
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null
# npm reads its global settings from <prefix>/etc/npmrc: /etc/npmrc for a node in /usr, and
# /usr/local/etc/npmrc for the copy below.
if [ -f /etc/npmrc ]; then cp /etc/npmrc "$R/etc/npmrc"; install -D -m 0644 /etc/npmrc "$R/usr/local/etc/npmrc"; fi
[ -f "$HOME/.npmrc" ] && install -D -m 0600 "$HOME/.npmrc" "$R/root/.npmrc"

# Node: the host's binary and its npm (a user would install them from nodejs.org or NodeSource).
node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[ -f "$npm_dir/package.json" ] || die "cannot find npm's package directory (looked at $npm_dir)"
install -D -m 0755 "$node_bin" "$R/usr/local/bin/node"
mkdir -p "$R/usr/local/lib/node_modules"
cp -a "$npm_dir" "$R/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
ldd "$node_bin" | grep -q 'not found' && die "the host's node needs libraries a minbase root lacks"

# The repository as a user gets it: a clone (committed files only, no node_modules, no dist).
sha=$(git -C "$REPO" rev-parse --verify "$REF^{commit}") || die "no commit $REF in $REPO"
git clone -q --no-hardlinks "$REPO" "$R/root/handshaked" || die "git clone failed"
git -C "$R/root/handshaked" checkout -q "$sha" || die "checkout $sha failed"
say "cloned $REPO at $sha"

for m in proc sys dev dev/pts; do
  mkdir -p "$R/$m"
  case $m in
    proc) mount -t proc proc "$R/proc" ;;
    sys) mount -t sysfs sysfs "$R/sys" ;;
    dev) mount --bind /dev "$R/dev" ;;
    dev/pts) mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts" ;;
  esac || die "mount of /$m in the root failed"
  mounted+=("$R/$m")
done
mkdir -p "$R/dev/shm" "$R/tmp"; chmod 1777 "$R/tmp"

in_root() {  # $1 = user, $2 = shell command; runs in the clone
  chroot "$R" /usr/bin/env -i HOME="$( [ "$1" = root ] && echo /root || echo /tmp)" TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin \
    setpriv $( [ "$1" = root ] || echo "--reuid=$1 --regid=$1 --clear-groups") bash -c "cd /root/handshaked && $2"
}

rc=0 t0=$SECONDS
say "[1/3] as root: npm ci && npm run build && node dist/cli/main.js --help"
in_root root 'npm ci && npm run build && node dist/cli/main.js --help' > "$work/step1.log" 2>&1 || rc=1
tail -n 5 "$work/step1.log"
say "[1/3] exit $rc after $((SECONDS - t0)) s"

if [ $rc = 0 ]; then
  # The unprivileged check runs first, while the tools are still missing: it must stop at once.
  chmod 755 "$R/root"; chmod -R a+rX "$R/root/handshaked"
  t1=$SECONDS
  say "[2/3] as an unprivileged user before the tools exist: npm test must stop in seconds"
  in_root 65534 'npm test' > "$work/step2.log" 2>&1; rc2=$?
  tail -n 3 "$work/step2.log"
  if [ $rc2 = 0 ] || ! grep -q 'apt-get install' "$work/step2.log" || [ $((SECONDS - t1)) -gt 120 ]; then
    say "[2/3] FAILED: expected a quick stop naming the apt-get line (exit $rc2 after $((SECONDS - t1)) s)"; rc=1
  else
    say "[2/3] ok: stopped with exit $rc2 after $((SECONDS - t1)) s"
  fi
  t1=$SECONDS
  say "[3/3] as root: npm test (installs the test tools itself)"
  in_root root 'npm test' > "$work/step3.log" 2>&1 || rc=1
  grep -E '^(jest:|handshaked test tools|Tests:)' "$work/step3.log" | tail -n 4
  say "[3/3] exit $rc after $((SECONDS - t1)) s"
fi
cp "$work"/step*.log "$CACHE/" 2>/dev/null
say "logs: $CACHE/step1.log step2.log step3.log; total $((SECONDS - t0)) s"
[ $rc = 0 ] && say "PASS: the README's commands work on a fresh $SUITE root" || say "FAIL"
exit $rc
