/**
 * A strict, bounds-checked DER reader: just enough ASN.1 for certificates and CRLs.
 *
 * Every length is checked against the enclosing value before anything is sliced, so malformed
 * input can only ever produce an X509Error (code X509_DER) naming the offset and what was being
 * read, never a RangeError or an out-of-bounds view. Indefinite lengths, non-minimal lengths and
 * high tag numbers are rejected: DER forbids the first two and X.509 never needs the third.
 */
import { X509Error } from './errors';

/** Universal tags and the context-specific tags X.509 uses. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tag number n, primitive (implicit) or constructed (explicit / implicit SEQUENCE). */
export const ctx = (n: number, constructed = false): number => 0x80 | (constructed ? 0x20 : 0) | n;

/** One decoded TLV. `value` and `raw` are views into the input buffer (no copy). */
export interface Der {
  tag: number;
  /** Absolute offset of the tag byte within the top-level input. */
  offset: number;
  /** The content octets. */
  value: Buffer;
  /** Tag, length and content: what a signature covers. */
  raw: Buffer;
}

const MAX_LENGTH_OCTETS = 4;

function fail(offset: number, what: string, problem: string): never {
  throw new X509Error('X509_DER', `malformed DER at byte ${offset} (${what}): ${problem}`);
}

function tagName(tag: number): string {
  return `0x${tag.toString(16).padStart(2, '0')}`;
}

/**
 * Reads consecutive TLVs from `buf[start, end)`. `base` is the offset of `buf[0]` within the
 * outermost input, so error offsets refer to the bytes the caller handed in.
 */
export class DerReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
    private readonly base = 0,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  static of(node: Der, what: string): DerReader {
    return new DerReader(node.value, what, node.offset + (node.raw.length - node.value.length));
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** The tag of the next TLV, or undefined at the end. */
  peekTag(): number | undefined {
    return this.done ? undefined : this.buf[this.pos];
  }

  /** Reads the next TLV, whatever its tag. */
  read(what = this.what): Der {
    const at = this.pos;
    const abs = this.base + at;
    if (at >= this.end) fail(abs, what, 'value expected, input ended');
    const tag = this.buf[at];
    if ((tag & 0x1f) === 0x1f) fail(abs, what, `high tag number form (${tagName(tag)}) is not used by X.509`);
    if (at + 1 >= this.end) fail(abs, what, 'length missing');
    const first = this.buf[at + 1];
    let len: number;
    let hdr: number;
    if (first < 0x80) {
      len = first;
      hdr = 2;
    } else {
      const n = first & 0x7f;
      if (n === 0) fail(abs, what, 'indefinite length is not DER');
      if (n > MAX_LENGTH_OCTETS) fail(abs, what, `length of ${n} octets is too large`);
      if (at + 2 + n > this.end) fail(abs, what, 'length octets truncated');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + this.buf[at + 2 + i];
      if (this.buf[at + 2] === 0 || len < 0x80) fail(abs, what, 'length not minimally encoded');
      hdr = 2 + n;
    }
    if (len > this.end - at - hdr) {
      fail(abs, what, `length ${len} exceeds the ${this.end - at - hdr} bytes available`);
    }
    this.pos = at + hdr + len;
    return {
      tag,
      offset: abs,
      value: this.buf.subarray(at + hdr, at + hdr + len),
      raw: this.buf.subarray(at, at + hdr + len),
    };
  }

  /** Reads the next TLV and insists on its tag. */
  expect(tag: number, what: string): Der {
    const next = this.peekTag();
    if (next !== tag) {
      fail(this.base + this.pos, what, next === undefined ? `expected tag ${tagName(tag)}, input ended` : `expected tag ${tagName(tag)}, found ${tagName(next)}`);
    }
    return this.read(what);
  }

  /** Reads the next TLV only when it carries `tag`. */
  optional(tag: number, what: string): Der | undefined {
    return this.peekTag() === tag ? this.read(what) : undefined;
  }

  /** Insists that nothing is left. */
  finish(what = this.what): void {
    if (!this.done) fail(this.base + this.pos, what, `${this.end - this.pos} unexpected trailing bytes`);
  }
}

/** Parses exactly one TLV that must fill `buf` completely. */
export function parseDer(buf: Buffer, what: string): Der {
  const r = new DerReader(buf, what);
  const node = r.read(what);
  r.finish(what);
  return node;
}

/** The children of a constructed value. */
export function children(node: Der, what: string): Der[] {
  const r = DerReader.of(node, what);
  const out: Der[] = [];
  while (!r.done) out.push(r.read(what));
  return out;
}

export function derFail(node: Der, what: string, problem: string): never {
  fail(node.offset, what, problem);
}

export function readBoolean(node: Der, what: string): boolean {
  if (node.tag !== Tag.BOOLEAN || node.value.length !== 1) derFail(node, what, 'BOOLEAN expected');
  const v = node.value[0];
  if (v !== 0 && v !== 0xff) derFail(node, what, 'BOOLEAN must be 0x00 or 0xff in DER');
  return v === 0xff;
}

/** INTEGER content octets, checked for minimal encoding. */
export function readIntegerBytes(node: Der, what: string): Buffer {
  if (node.tag !== Tag.INTEGER) derFail(node, what, 'INTEGER expected');
  const v = node.value;
  if (v.length === 0) derFail(node, what, 'empty INTEGER');
  if (v.length > 1 && ((v[0] === 0 && v[1] < 0x80) || (v[0] === 0xff && v[1] >= 0x80))) {
    derFail(node, what, 'INTEGER not minimally encoded');
  }
  return v;
}

/** A small non-negative INTEGER (versions, path lengths, salt lengths). */
export function readSmallInt(node: Der, what: string, max = 0x7fffffff): number {
  const v = readIntegerBytes(node, what);
  if (v[0] & 0x80) derFail(node, what, 'negative INTEGER');
  if (v.length > 5) derFail(node, what, 'INTEGER too large');
  let n = 0;
  for (const b of v) n = n * 256 + b;
  if (n > max) derFail(node, what, `INTEGER ${n} is larger than ${max}`);
  return n;
}

/** BIT STRING: the unused-bit count and the bit bytes. */
export function readBitString(node: Der, what: string): { unused: number; bytes: Buffer } {
  if (node.tag !== Tag.BIT_STRING) derFail(node, what, 'BIT STRING expected');
  if (node.value.length === 0) derFail(node, what, 'empty BIT STRING');
  const unused = node.value[0];
  if (unused > 7 || (unused > 0 && node.value.length === 1)) derFail(node, what, `invalid unused-bit count ${unused}`);
  return { unused, bytes: node.value.subarray(1) };
}

/** The content of a BIT STRING that holds whole octets (signatures, public keys). */
export function readOctetAlignedBits(node: Der, what: string): Buffer {
  const { unused, bytes } = readBitString(node, what);
  if (unused !== 0) derFail(node, what, 'BIT STRING is not octet-aligned');
  return bytes;
}

export function readOid(node: Der, what: string): string {
  if (node.tag !== Tag.OID) derFail(node, what, 'OBJECT IDENTIFIER expected');
  const v = node.value;
  if (v.length === 0) derFail(node, what, 'empty OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let acc = 0;
  let started = false;
  for (let i = 0; i < v.length; i++) {
    const b = v[i];
    if (!started && b === 0x80) derFail(node, what, 'OBJECT IDENTIFIER arc not minimally encoded');
    started = true;
    acc = acc * 128 + (b & 0x7f);
    if (acc > Number.MAX_SAFE_INTEGER / 128) derFail(node, what, 'OBJECT IDENTIFIER arc too large');
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = acc < 40 ? 0 : acc < 80 ? 1 : 2;
        arcs.push(first, acc - first * 40);
      } else {
        arcs.push(acc);
      }
      acc = 0;
      started = false;
    }
  }
  if (started) derFail(node, what, 'OBJECT IDENTIFIER truncated');
  return arcs.join('.');
}

function digits(s: string, from: number, n: number): number {
  const part = s.slice(from, from + n);
  return /^[0-9]+$/.test(part) ? Number(part) : NaN;
}

/**
 * UTCTime (YYMMDDHHMMSSZ, RFC 5280 window 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ).
 * RFC 5280 §4.1.2.5.2 and §5.1.2.4 forbid fractional seconds in certificates and CRLs; OpenSSL
 * and GnuTLS refuse them too, so they get their own message here rather than a generic one.
 */
export function readTime(node: Der, what: string): Date {
  const s = node.value.toString('latin1');
  let year: number;
  let rest: number;
  if (node.tag === Tag.UTC_TIME) {
    if (s.length !== 13) derFail(node, what, `UTCTime "${printable(s)}" is not YYMMDDHHMMSSZ`);
    const yy = digits(s, 0, 2);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    rest = 2;
  } else if (node.tag === Tag.GENERALIZED_TIME) {
    if (s.length > 15 && s[14] === '.') {
      derFail(node, what, `GeneralizedTime "${printable(s)}" has fractional seconds, which RFC 5280 §4.1.2.5.2 forbids`);
    }
    if (s.length !== 15) derFail(node, what, `GeneralizedTime "${printable(s)}" is not YYYYMMDDHHMMSSZ`);
    year = digits(s, 0, 4);
    rest = 4;
  } else {
    derFail(node, what, 'UTCTime or GeneralizedTime expected');
  }
  const month = digits(s, rest, 2);
  const day = digits(s, rest + 2, 2);
  const hour = digits(s, rest + 4, 2);
  const minute = digits(s, rest + 6, 2);
  const second = digits(s, rest + 8, 2);
  const ok =
    s.endsWith('Z') &&
    [year, month, day, hour, minute, second].every(Number.isInteger) &&
    month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && second <= 59;
  if (!ok) derFail(node, what, `invalid time "${printable(s)}"`);
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (date.getUTCDate() !== day) derFail(node, what, `invalid date "${printable(s)}"`);
  return date;
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 40);
}

/** Decodes the directory-string types to text (for logs and name comparison). */
export function readString(node: Der, what: string): string {
  switch (node.tag) {
    case Tag.UTF8_STRING:
      return node.value.toString('utf8');
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
    case Tag.T61_STRING:
      return node.value.toString('latin1');
    case Tag.BMP_STRING: {
      if (node.value.length % 2 !== 0) derFail(node, what, 'BMPString of odd length');
      const swapped = Buffer.from(node.value);
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    case Tag.UNIVERSAL_STRING: {
      if (node.value.length % 4 !== 0) derFail(node, what, 'UniversalString length not a multiple of 4');
      let out = '';
      for (let i = 0; i < node.value.length; i += 4) {
        const cp = node.value.readUInt32BE(i);
        out += cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
      }
      return out;
    }
    default:
      return `#${node.raw.toString('hex')}`;
  }
}
