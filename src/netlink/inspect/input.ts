/**
 * What `handshaked inspect decode` reads: hex text (spaces, newlines, `0x` prefixes and `#`
 * comments allowed), raw netlink bytes, or a pcap / pcapng capture from an `nlmon` device
 * (link type NETLINK = 253, each packet behind a 16-byte Linux cooked-style header).
 */
import { NETLINK_GENERIC } from '../constants';
import { NetlinkFormatError } from '../errors';

const LINKTYPE_NETLINK = 253;
const NLMON_HDRLEN = 16;

/** One run of netlink bytes: the whole input, or one captured packet. */
export interface Chunk {
  bytes: Buffer;
  /** Offset of bytes[0] in the input file (hex: in the decoded bytes). */
  base: number;
  /** Packet number (1-based) in a capture. */
  packet?: number;
  /** Netlink protocol from the nlmon header (16 = generic netlink); undefined outside captures. */
  protocol?: number;
  /** Capture timestamp, seconds since the epoch. */
  time?: number;
}

export interface ParsedInput {
  format: 'hex' | 'raw' | 'pcap' | 'pcapng';
  chunks: Chunk[];
}

/** Bad input outside the netlink messages themselves (hex syntax, capture framing). */
export class InputError extends NetlinkFormatError {}

export function parseInput(data: Buffer): ParsedInput {
  if (data.length >= 4) {
    const m = data.readUInt32LE(0);
    if (m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d || m === 0x4d3cb2a1) return { format: 'pcap', chunks: parsePcap(data) };
    if (m === 0x0a0d0d0a) return { format: 'pcapng', chunks: parsePcapng(data) };
  }
  if (isText(data)) {
    const bytes = parseHex(data.toString('utf8'));
    return { format: 'hex', chunks: [{ bytes, base: 0 }] };
  }
  return { format: 'raw', chunks: [{ bytes: data, base: 0 }] };
}

/**
 * Netlink messages always contain NUL bytes (the high bytes of nlmsg_len) and other control
 * bytes; hex text (UTF-8 comments allowed) has none.
 */
function isText(data: Buffer): boolean {
  for (const b of data) {
    if (b === 0x09 || b === 0x0a || b === 0x0d || b >= 0x20) continue;
    return false;
  }
  return true;
}

/**
 * Hex digits with optional whitespace, `0x` prefixes, `,` `:` separators and `#` comments to the
 * end of the line. Errors name the character offset in the text.
 */
export function parseHex(text: string): Buffer {
  const digits: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (/\s|,|:/.test(c)) {
      i++;
      continue;
    }
    if (c === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X')) {
      i += 2;
      continue;
    }
    if (/[0-9a-fA-F]/.test(c)) {
      digits.push(c);
      i++;
      continue;
    }
    throw new InputError(i, 'hex input', `character ${JSON.stringify(c)} at text offset ${i} is not a hex digit`);
  }
  if (digits.length % 2) throw new InputError(digits.length >> 1, 'hex input', `odd number of hex digits (${digits.length}); every byte needs two`);
  return Buffer.from(digits.join(''), 'hex');
}

function parsePcap(data: Buffer): Chunk[] {
  if (data.length < 24) throw new InputError(0, 'pcap header', `only ${data.length} byte(s), a pcap file header needs 24`);
  const magic = data.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const u32 = (o: number) => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const linktype = u32(20) & 0x0fffffff;
  if (linktype !== LINKTYPE_NETLINK) throw new InputError(20, 'pcap header.linktype', `link type ${linktype} is not NETLINK (253): capture from an nlmon device`);
  const chunks: Chunk[] = [];
  let pos = 24;
  let n = 0;
  while (pos < data.length) {
    n++;
    if (data.length - pos < 16) throw new InputError(pos, `pcap packet ${n} header`, `only ${data.length - pos} byte(s) left, a record header needs 16`);
    const sec = u32(pos);
    const frac = u32(pos + 4);
    const incl = u32(pos + 8);
    if (pos + 16 + incl > data.length) throw new InputError(pos + 8, `pcap packet ${n} incl_len`, `${incl} byte(s) overrun the file (${data.length - pos - 16} left): truncated capture`);
    chunks.push(nlmonPacket(data.subarray(pos + 16, pos + 16 + incl), pos + 16, n, sec + frac / (nano ? 1e9 : 1e6)));
    pos += 16 + incl;
  }
  return chunks;
}

function parsePcapng(data: Buffer): Chunk[] {
  const chunks: Chunk[] = [];
  let le = true;
  const linktypes: number[] = [];
  let pos = 0;
  let n = 0;
  while (pos < data.length) {
    if (data.length - pos < 12) throw new InputError(pos, 'pcapng block', `only ${data.length - pos} byte(s) left, a block needs at least 12`);
    const typeLE = data.readUInt32LE(pos);
    if (typeLE === 0x0a0d0d0a) {
      const bom = data.readUInt32LE(pos + 8);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new InputError(pos + 8, 'pcapng section header.byte_order_magic', `0x${bom.toString(16)} is not 0x1a2b3c4d`);
      linktypes.length = 0;
    }
    const u32 = (o: number) => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
    const u16 = (o: number) => (le ? data.readUInt16LE(o) : data.readUInt16BE(o));
    const type = u32(pos);
    const len = u32(pos + 4);
    if (len < 12 || len % 4 || pos + len > data.length) throw new InputError(pos + 4, `pcapng block (type ${type}) length`, `${len} is not a multiple of 4 ≥ 12 inside the file (${data.length - pos} left)`);
    if (type === 1) linktypes.push(u16(pos + 8));
    else if (type === 6 || type === 3) {
      n++;
      const iface = type === 6 ? u32(pos + 8) : 0;
      const lt = linktypes[iface];
      if (lt !== LINKTYPE_NETLINK) throw new InputError(pos + 8, `pcapng packet ${n} interface`, `interface ${iface} has link type ${lt ?? 'unknown'}, not NETLINK (253)`);
      const dataAt = type === 6 ? pos + 28 : pos + 12;
      const cap = type === 6 ? u32(pos + 20) : u32(pos + 8);
      if (dataAt + cap > pos + len) throw new InputError(pos + 20, `pcapng packet ${n} captured length`, `${cap} byte(s) overrun the block`);
      const time = type === 6 ? (u32(pos + 12) * 2 ** 32 + u32(pos + 16)) / 1e6 : undefined;
      chunks.push(nlmonPacket(data.subarray(dataAt, dataAt + cap), dataAt, n, time));
    }
    pos += len;
  }
  return chunks;
}

/** Strip the nlmon cooked header (ARPHRD_NETLINK; protocol = netlink family number, big-endian). */
function nlmonPacket(pkt: Buffer, at: number, n: number, time: number | undefined): Chunk {
  if (pkt.length < NLMON_HDRLEN) throw new InputError(at, `packet ${n} nlmon header`, `only ${pkt.length} byte(s), the cooked header needs ${NLMON_HDRLEN}`);
  const protocol = pkt.readUInt16BE(14);
  return { bytes: pkt.subarray(NLMON_HDRLEN), base: at + NLMON_HDRLEN, packet: n, protocol, time };
}

/** Build an nlmon pcap (for fixtures and tests): one packet per message, cooked header, generic netlink. */
export function writePcap(packets: Array<{ bytes: Buffer; outgoing?: boolean; time?: number }>): Buffer {
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(65535, 16);
  hdr.writeUInt32LE(LINKTYPE_NETLINK, 20);
  const parts = [hdr];
  packets.forEach((p, i) => {
    const cooked = Buffer.alloc(NLMON_HDRLEN);
    cooked.writeUInt16BE(p.outgoing ? 4 : 0, 0); // PACKET_OUTGOING (4) for user → kernel, PACKET_HOST (0) otherwise
    cooked.writeUInt16BE(824, 2); // ARPHRD_NETLINK
    cooked.writeUInt16BE(0, 4);
    cooked.writeUInt16BE(NETLINK_GENERIC, 14);
    const body = Buffer.concat([cooked, p.bytes]);
    const rec = Buffer.alloc(16);
    const t = p.time ?? 1700000000 + i;
    rec.writeUInt32LE(Math.floor(t), 0);
    rec.writeUInt32LE(Math.round((t % 1) * 1e6), 4);
    rec.writeUInt32LE(body.length, 8);
    rec.writeUInt32LE(body.length, 12);
    parts.push(rec, body);
  });
  return Buffer.concat(parts);
}
