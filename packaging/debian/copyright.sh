#!/usr/bin/env bash
# Print the package's debian/copyright (machine-readable format 1.0): handshaked itself, then one
# stanza per bundled npm package with the licence text that package ships (or, for licences
# Debian keeps in /usr/share/common-licenses, a pointer there, as Policy 12.5 asks).
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

# One node process lists every package root: relative dir, name, licence, author (tab-separated).
node - "$mods" <<'JS' | while IFS=$'\t' read -r rel name license author; do
const fs = require('node:fs');
const path = require('node:path');
const root = process.argv[2];
const out = [];
function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const d = path.join(dir, e.name);
    if (e.name.startsWith('@')) { walk(d); continue; }
    const pj = path.join(d, 'package.json');
    if (fs.existsSync(pj)) {
      const p = JSON.parse(fs.readFileSync(pj, 'utf8'));
      const lic = typeof p.license === 'string' ? p.license : (p.license && p.license.type) || (Array.isArray(p.licenses) ? p.licenses.map((l) => l.type).join(' or ') : 'UNKNOWN');
      const a = (typeof p.author === 'string' ? p.author : (p.author && p.author.name) || '').replace(/\s*[<(].*$/, '');
      if (p.name) out.push([path.relative(root, d), p.name, lic, a || `the ${p.name} authors`].join('\t'));
    }
    const nested = path.join(d, 'node_modules');
    if (fs.existsSync(nested)) walk(nested);
  }
}
walk(root);
console.log(out.sort().join('\n'));
JS
  lic_file=$(find "$mods/$rel" -maxdepth 1 -type f -iregex '.*/\(licen[cs]e\|copying\)\(\.[a-z]*\)?' | head -1)
  echo
  echo "Files: usr/lib/handshaked/node_modules/$rel/*"
  echo "Copyright: $author"
  echo "License: $license"
  case $license in
    Apache-2.0|GPL-2*|GPL-3*|LGPL-2*|LGPL-3*|MPL-2.0) echo " On Debian systems the full text of this licence is in /usr/share/common-licenses/$license." ;;
    *) if [ -n "$lic_file" ]; then indent < "$lic_file"; else echo " The $name package ships no licence file; its package.json says: $license."; fi ;;
  esac
done
