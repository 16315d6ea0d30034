#!/usr/bin/env bash
# Print the package's debian/copyright (machine-readable format 1.0): handshaked itself, then one
# stanza per bundled npm package with the licence text that package ships.
# usage: copyright.sh NODE_MODULES_DIR
set -euo pipefail
mods=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)

indent() {  # licence text as a DEP-5 continuation: one space in front, empty lines as " ."
  sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /'
}

echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
echo "Upstream-Name: handshaked"
echo
echo "Files: *"
echo "Copyright: $(grep -m1 -i '^copyright' "$repo/LICENSE" | sed 's/^[Cc]opyright *([Cc]) *//; s/^[Cc]opyright *//')"
echo "License: MIT"
indent < "$repo/LICENSE"

find "$mods" -name package.json -not -path '*/node_modules/*/node_modules/*/node_modules/*' -print0 \
  | LC_ALL=C sort -z | while IFS= read -r -d '' pj; do
  dir=$(dirname "$pj")
  # only package roots (a package.json with a name, directly under a node_modules directory)
  case $(basename "$(dirname "$dir")") in node_modules) ;; @*) [ "$(basename "$(dirname "$(dirname "$dir")")")" = node_modules ] || continue ;; *) continue ;; esac
  read -r name license author < <(node -e '
    const p = require(process.argv[1]);
    const lic = typeof p.license === "string" ? p.license : (p.license && p.license.type) || (Array.isArray(p.licenses) ? p.licenses.map((l) => l.type).join(" or ") : "UNKNOWN");
    const a = typeof p.author === "string" ? p.author : (p.author && p.author.name) || "";
    console.log(p.name || "", lic.replace(/\s+/g, "_"), a.replace(/\s*[<(].*$/, "") || "the " + p.name + " authors");
  ' "$pj")
  [ -n "$name" ] || continue
  rel=${dir#"$mods"/}
  lic_file=$(find "$dir" -maxdepth 1 -type f -iregex '.*/\(licen[cs]e\|copying\)\(\.[a-z]*\)?' | head -1)
  echo
  echo "Files: usr/lib/handshaked/node_modules/$rel/*"
  echo "Copyright: ${author//_/ }"
  echo "License: ${license//_/ }"
  common=/usr/share/common-licenses/${license//_/ }
  case $license in
    # Debian keeps these texts once, in common-licenses; copying them here is what Policy 12.5 forbids
    Apache-2.0|GPL-2*|GPL-3*|LGPL-2*|LGPL-3*|MPL-2.0) echo " On Debian systems the full text of this licence is in $common." ;;
    *) if [ -n "$lic_file" ]; then indent < "$lic_file"; else echo " The $name package ships no licence file; package.json says: ${license//_/ }."; fi ;;
  esac
done
