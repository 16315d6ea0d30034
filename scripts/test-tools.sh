#!/usr/bin/env bash
# `npm test`'s pretest: the suites run real OpenSSL and GnuTLS peers, keyctl, ip and python3.
# All present: silent, exit 0. Some missing: as root with apt-get, install their Debian packages
# (one line says which); otherwise stop at once with one line naming the missing commands and the
# apt-get line, instead of dozens of scattered test failures.
set -uo pipefail

# command → Debian/Ubuntu package
TOOLS=(openssl:openssl gnutls-cli:gnutls-bin gnutls-serv:gnutls-bin keyctl:keyutils ip:iproute2 python3:python3-minimal)
# As root the post-quantum interop tests build a Debian 13 root with debootstrap (without root
# they skip), so only a root run needs it.
if [ "$(id -u)" = 0 ]; then TOOLS+=(debootstrap:debootstrap); fi

missing_cmds=() missing_pkgs=()
scan() {
  missing_cmds=() missing_pkgs=()
  local t cmd pkg
  for t in "${TOOLS[@]}"; do
    cmd=${t%%:*} pkg=${t#*:}
    # sbin is not on every user's PATH, but ip in /sbin still works when named in full
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ] && continue
    missing_cmds+=("$cmd")
    [[ " ${missing_pkgs[*]} " == *" $pkg "* ]] || missing_pkgs+=("$pkg")
  done
}

scan
[ ${#missing_cmds[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing_pkgs[*]}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "handshaked test tools: installing ${missing_pkgs[*]} (for ${missing_cmds[*]}) with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! { apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing_pkgs[@]}"; } > "$log" 2>&1; then
    echo "handshaked test tools: '$line' failed: $(grep -E '^(E|W):' "$log" | tail -1)" >&2
    rm -f "$log"; exit 1
  fi
  rm -f "$log"
  scan
  [ ${#missing_cmds[@]} -eq 0 ] && exit 0
  echo "handshaked test tools: still missing after apt-get: ${missing_cmds[*]}" >&2
  exit 1
fi
echo "handshaked test tools missing: ${missing_cmds[*]}. Install them, then run npm test again: sudo $line" >&2
exit 1
