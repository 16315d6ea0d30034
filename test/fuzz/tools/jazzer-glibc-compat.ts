// Jazzer.js 4.0.0 ships one prebuilt libFuzzer addon for linux-x64, linked on a newer distribution
// than Debian 12: it asks for GLIBC_2.38 (only for __isoc23_strtol/__isoc23_strtoul, the C23
// spellings of strtol/strtoul that differ only in accepting a "0b" prefix) and GLIBCXX_3.4.32
// (only for std::ios_base_library_init, a link-time marker with no relocation against it).
// Older Jazzer.js releases download their addon from GitHub at install time, which this network
// forbids. So, when the C library is older than 2.38, rewrite the addon's version needs in place:
//   - point the two C23 names at plain strtol/strtoul and their need at GLIBC_2.2.5;
//   - mark the GLIBCXX_3.4.32 need weak (the loader then ignores a missing version).
// The rewrite is idempotent and changes nothing else; a copy of the original is kept beside it.
import fs from 'node:fs';

function elfHash(name: string): number {
  let h = 0;
  for (const c of Buffer.from(name, 'latin1')) {
    h = ((h << 4) + c) >>> 0;
    const g = h & 0xf0000000;
    if (g !== 0) h ^= g >>> 24;
    h &= ~g >>> 0;
  }
  return h >>> 0;
}

function cstr(buf: Buffer, off: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('latin1', off, end);
}

/** Rewrites `file` in place; returns how many entries changed (0: already compatible). */
export function patch(file: string): number {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) throw new Error(`${file}: not a little-endian ELF64 file`);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sections.push({ type: b.readUInt32LE(o + 4), offset: Number(b.readBigUInt64LE(o + 0x18)), size: Number(b.readBigUInt64LE(o + 0x20)), link: b.readUInt32LE(o + 0x28), info: b.readUInt32LE(o + 0x2c) });
  }
  const SHT_GNU_VERNEED = 0x6ffffffe;
  const verneed = sections.find((s) => s.type === SHT_GNU_VERNEED);
  if (!verneed) throw new Error(`${file}: no .gnu.version_r section`);
  const dynstr = sections[verneed.link];
  let changed = 0;

  // Version needs: find libc's GLIBC_2.2.5 entry to copy, then rewrite GLIBC_2.38 / weaken GLIBCXX_3.4.32.
  const auxes: Array<{ at: number; file: string; name: string }> = [];
  let vn = verneed.offset;
  for (let n = 0; n < verneed.info; n++) {
    const cnt = b.readUInt16LE(vn + 2);
    const fileName = cstr(b, dynstr.offset + b.readUInt32LE(vn + 4));
    let aux = vn + b.readUInt32LE(vn + 8);
    for (let k = 0; k < cnt; k++) {
      auxes.push({ at: aux, file: fileName, name: cstr(b, dynstr.offset + b.readUInt32LE(aux + 8)) });
      aux += b.readUInt32LE(aux + 12);
    }
    vn += b.readUInt32LE(vn + 12);
  }
  const base = auxes.find((a) => a.file === 'libc.so.6' && a.name === 'GLIBC_2.2.5');
  for (const a of auxes) {
    if (a.file === 'libc.so.6' && a.name === 'GLIBC_2.38' && base) {
      b.writeUInt32LE(elfHash('GLIBC_2.2.5'), a.at);
      b.writeUInt32LE(b.readUInt32LE(base.at + 8), a.at + 8);
      changed++;
    }
    if (a.file === 'libstdc++.so.6' && a.name === 'GLIBCXX_3.4.32') {
      const flags = b.readUInt16LE(a.at + 4);
      if ((flags & 2) === 0) {
        b.writeUInt16LE(flags | 2, a.at + 4);
        changed++;
      }
    }
  }
  // Symbol names: overwrite the start of each C23 name; the tail stays, so a suffix shared by
  // another symbol name (string-table merging) still reads the same.
  for (const [from, to] of [['__isoc23_strtoul', 'strtoul'], ['__isoc23_strtol', 'strtol']] as const) {
    const table = b.subarray(dynstr.offset, dynstr.offset + dynstr.size);
    let at = table.indexOf(Buffer.from(`\0${from}\0`, 'latin1'));
    while (at >= 0) {
      table.write(`${to}\0`, at + 1, 'latin1');
      changed++;
      at = table.indexOf(Buffer.from(`\0${from}\0`, 'latin1'), at + 1);
    }
  }
  if (changed > 0) {
    if (!fs.existsSync(`${file}.orig`)) fs.copyFileSync(file, `${file}.orig`);
    fs.writeFileSync(file, b);
  }
  return changed;
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node jazzer-glibc-compat.js <fuzzer-linux-x64.node>\n');
    process.exit(2);
  }
  const n = patch(file);
  process.stdout.write(n > 0 ? `patched ${n} version entries/names in ${file}\n` : `${file}: nothing to patch\n`);
}
