#!/usr/bin/env bash
# `npm run package`: build handshaked_<version>_<arch>.deb from this tree with dpkg-deb, offline.
#
#   /usr/lib/handshaked/          the built program (dist/), production node_modules, package.json,
#                                 the companion's test PKI (fixtures/pki)
#   /usr/bin/handshaked           runs it with the system's node
#   /usr/lib/systemd/system/      handshaked.service
#   /usr/share/man/man8/          handshaked(8), handshaked-{serve,inspect,companion}(8), made from --help
#   /usr/share/doc/handshaked/    README, docs, the example configuration, copyright, changelogs
#
# Maintainer scripts: packaging/debian/. Output: the .deb in OUTDIR (default: the repository),
# its path on the last line of stdout. Environment: SOURCE_DATE_EPOCH (default: the last commit's
# time) fixes every timestamp, so two builds of one commit give the same files; PACKAGE_DIST=DIR
# packages an existing build of this tree instead of running tsc.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$REPO}
cd "$REPO"

say() { printf '[package] %s\n' "$*" >&2; }
die() { printf '[package] ERROR: %s\n' "$*" >&2; exit 1; }
for c in dpkg-deb dpkg gzip node npm; do command -v "$c" >/dev/null || die "$c is needed (apt-get install dpkg-dev gzip nodejs npm)"; done
[ -d node_modules ] || die "node_modules is missing: run npm ci first"

version=$(node -p 'require("./package.json").version')
arch=$(dpkg --print-architecture)
case $arch in
  amd64) node_arch=x64 ;; arm64) node_arch=arm64 ;; armhf) node_arch=arm ;; i386) node_arch=ia32 ;;
  *) die "no prebuilt native modules for Debian architecture $arch (koffi and netlink ship x64, arm64, arm, ia32)" ;;
esac
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH
deb=$OUT/handshaked_${version}_${arch}.deb

work=$(mktemp -d "${TMPDIR:-/tmp}/handshaked-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
P=$work/root
L=$P/usr/lib/handshaked
DOC=$P/usr/share/doc/handshaked
mkdir -p "$L" "$P/usr/bin" "$P/usr/lib/systemd/system" "$P/usr/share/man/man8" "$DOC/examples" "$P/DEBIAN"

say "building $version for $arch"
if [ -n "${PACKAGE_DIST:-}" ]; then
  # a build made moments ago from this tree (the VM harness has one in its payload)
  [ -f "$PACKAGE_DIST/cli/main.js" ] || die "PACKAGE_DIST=$PACKAGE_DIST holds no cli/main.js"
  cp -a "$PACKAGE_DIST" "$L/dist"
else
  npm run build --silent -- --outDir "$L/dist" >&2 || die "npm run build failed"
fi
# Only the program: no benchmarks (they need the dev tree), no type declarations or source maps.
rm -rf "$L/dist/bench"
find "$L/dist" \( -name '*.d.ts' -o -name '*.map' \) -delete
cp package.json "$L/"

# Production dependencies: the packages `npm ls --omit=dev` names (offline: it reads the installed
# tree), copied with their paths.
say "production node_modules (npm ls --omit=dev)"
mods=$(npm ls --omit=dev --all --parseable 2>/dev/null | grep '/node_modules/') || die "npm ls --omit=dev failed: is node_modules complete (npm ci)?"
while IFS= read -r d; do
  rel=${d#"$REPO"/}
  mkdir -p "$L/$(dirname "$rel")"
  [ -e "$L/$rel" ] || cp -a "$d" "$L/$rel"
done <<< "$mods"
N=$L/node_modules
# Native code for this architecture and glibc only: koffi and netlink carry prebuilt binaries for
# other platforms, which would be dead weight (and foreign-architecture ELF files to lintian).
find "$N/@koromix" -mindepth 1 -maxdepth 1 ! -name "koffi-linux-$node_arch" -exec rm -rf {} +
rm -rf "$N/@koromix/koffi-linux-$node_arch"/musl_*
find "$N/netlink/prebuilds" -mindepth 1 -maxdepth 1 ! -name "linux-$node_arch" -exec rm -rf {} +
[ -n "$(find "$N/@koromix" "$N/netlink/prebuilds" -name '*.node')" ] || die "no native modules for $node_arch in node_modules"
# The prebuilt netlink module keeps its symbol table; nothing at run time needs it.
if command -v strip >/dev/null; then find "$N" -name '*.node' -exec strip --strip-unneeded {} +
else say "no strip (binutils): native modules keep their symbol tables (lintian: unstripped-binary-or-object)"; fi
# What only building or developing a package needs: koffi's C++ sources and its build driver, type
# declarations (@types packages, *.d.ts), test suites, minified duplicates, VCS and editor files.
rm -rf "$N/koffi/cnoke.cjs" "$N/koffi/lib" "$N/koffi/vendor" "$N/koffi/src/koffi/CMakeLists.txt" "$N/koffi/doc"
find "$N/koffi/src" -type f \( -name '*.cc' -o -name '*.hh' -o -name '*.h' -o -name '*.inc' -o -name '*.S' -o -name '*.asm' -o -name '*.def' -o -name 'trampolines.cjs' \) -delete
find "$N" -depth -type d \( -name '@types' -o -name test -o -name tests -o -name '.github' \) -exec rm -rf {} +
find "$N" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.min.js' -o -name '.gitattributes' \
  -o -name '.gitignore' -o -name '.npmignore' -o -name '.package-lock.json' -o -name '.eslintrc*' -o -name '.editorconfig' \
  -o -name '.travis.yml' -o -name '.nycrc' -o -name '.jshintrc' -o -name '*.markdown' -o \( -name '*.md' ! -iname 'licen[cs]e*' \) \) -delete
rm -rf "$N/.bin"
mkdir -p "$L/fixtures"
cp -a fixtures/pki "$L/fixtures/"

find "$L" -type f -exec chmod 0644 {} +
# The wrapper: the system's node, the installed program. exec keeps the PID systemd watches.
cat > "$P/usr/bin/handshaked" <<'EOF'
#!/bin/sh
exec /usr/bin/node /usr/lib/handshaked/dist/cli/main.js "$@"
EOF
chmod 0755 "$P/usr/bin/handshaked"
# Files that start with #! are scripts (dist/cli/main.js among them); lintian wants them executable.
find "$L" -type f -name '*js' -print0 | while IFS= read -r -d '' f; do [ "$(head -c2 "$f")" != '#!' ] || chmod 0755 "$f"; done

install -m 0644 systemd/handshaked.service "$P/usr/lib/systemd/system/handshaked.service"

say "man pages from --help"
node "$L/dist/cli/man.js" "$work/man" >&2 || die "man page generation failed"
for f in "$work"/man/*.8; do
  # the companion's default --pki is printed as this staging path; show the installed one
  sed -i "s#$L#/usr/lib/handshaked#g" "$f"
  gzip -9n < "$f" > "$P/usr/share/man/man8/$(basename "$f").gz"
done

say "documentation"
install -m 0644 README.md "$DOC/README.md"
for f in docs/*.md; do install -m 0644 "$f" "$DOC/$(basename "$f")"; done
install -m 0644 examples/tlshd.conf "$DOC/examples/tlshd.conf"
gzip -9n < CHANGELOG.md > "$DOC/changelog.gz"
date_r=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
{
  echo "handshaked ($version) unstable; urgency=medium"
  echo
  echo "  * Package built from the handshaked source tree by npm run package;"
  echo "    the changes are in /usr/share/doc/handshaked/changelog.gz."
  echo
  echo " -- handshaked maintainers <maintainers@handshaked.invalid>  $date_r"
} | gzip -9n > "$DOC/changelog.Debian.gz"
bash "$REPO/packaging/debian/copyright.sh" "$L/node_modules" > "$DOC/copyright"
# docs larger than 4 KiB are kept compressed, as Debian Policy 12.3 asks
find "$DOC" -maxdepth 1 -name '*.md' -size +4k -exec gzip -9n {} \;

for s in postinst prerm postrm; do install -m 0755 "packaging/debian/$s" "$P/DEBIAN/$s"; done
installed_kb=$(du -sk --exclude=DEBIAN "$P" | cut -f1)
cat > "$P/DEBIAN/control" <<EOF
Package: handshaked
Version: $version
Architecture: $arch
Maintainer: handshaked maintainers <maintainers@handshaked.invalid>
Installed-Size: $installed_kb
Depends: nodejs (>= 20), init-system-helpers (>= 1.54~), libc6
Suggests: keyutils, nfs-common, nvme-cli
Section: net
Priority: optional
Homepage: https://github.com/handshaked/handshaked
Description: TLS 1.3 handshake agent for kernel TLS consumers (tlshd drop-in)
 handshaked runs the TLS 1.3 handshakes that the Linux kernel hands to user
 space over the "handshake" netlink family (NFS with xprtsec=tls or mtls,
 NVMe/TCP with a TLS PSK) and installs the session keys into kernel TLS.
 It reads tlshd's configuration file, sends the same status codes, and runs
 every handshake in one process.
 .
 The same executable decodes and monitors handshake netlink messages
 (handshaked inspect) and tests agents and kernels (handshaked companion).
EOF
(cd "$P" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$P/DEBIAN/md5sums"
chmod 0644 "$P/DEBIAN/control" "$P/DEBIAN/md5sums"
find "$P" -type d -exec chmod 0755 {} +
find "$P" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT"
dpkg-deb --root-owner-group -Zxz --build "$P" "$deb" >&2 || die "dpkg-deb --build failed"
say "$(du -h "$deb" | cut -f1) $deb (installed $((installed_kb / 1024)) MiB)"
# lintian, when installed: its findings on stderr; an error (E:) fails the build. The warnings
# that stay, and why, are in docs/install.md.
if command -v lintian >/dev/null; then
  say "lintian"
  lint=$(lintian --tag-display-limit 0 "$deb" 2>&1) || true
  [ -z "$lint" ] || printf '%s\n' "$lint" >&2
  if printf '%s\n' "$lint" | grep -q '^E: '; then die "lintian reports errors"; fi
else
  say "no lintian: not checked (apt-get install lintian)"
fi
echo "$deb"
