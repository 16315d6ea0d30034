/**
 * Raw netlink attributes: an encoder and a decoder in the style of mdlayher/netlink's
 * AttributeEncoder/AttributeDecoder. Both keep the FIRST error and stop there ("sticky"), so a
 * caller runs a whole sequence of reads or writes and checks `err` once.
 *
 * Integers are host byte order (little-endian on every platform the agent supports) unless
 * NLA_F_NET_BYTEORDER is set on the attribute.
 */
import { NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLA_HDRLEN, NLA_TYPE_MASK, align4 } from './constants';
import { NetlinkEncodeError, NetlinkFormatError } from './errors';
import type { IntType } from './spec';

/** One labelled byte range, for `inspect --annotate` and golden tests. Offsets are absolute in the input. */
export interface Annotation {
  offset: number;
  length: number;
  label: string;
  value?: string;
  depth: number;
}
export type Annotator = (a: Annotation) => void;

const INT_SIZE: Record<IntType, number> = { u8: 1, u16: 2, u32: 4, u64: 8, s8: 1, s16: 2, s32: 4, s64: 8 };

export function intSize(t: IntType): number {
  return INT_SIZE[t];
}

/** Reads one attribute at a time from `buf`, whose first byte is at absolute offset `base` of the input. */
export class AttributeDecoder {
  private pos = 0;
  private curOffset = -1;
  private curLen = 0;
  private curRawType = 0;
  private curData: Buffer = Buffer.alloc(0);
  /** The first problem met; once set, next() returns false. */
  err: NetlinkFormatError | undefined;

  /**
   * @param where  what these attributes belong to, for error messages ("accept attributes")
   * @param nameOf optional attribute-type → name function, so errors name the field
   */
  constructor(
    private readonly buf: Buffer,
    readonly base: number,
    readonly where: string,
    private readonly nameOf: (type: number) => string = (t) => `attribute type ${t}`,
  ) {}

  /** Advance to the next attribute. False at the end of the buffer or after an error. */
  next(): boolean {
    if (this.err) return false;
    const left = this.buf.length - this.pos;
    if (left <= 0) return false;
    const at = this.base + this.pos;
    if (left < NLA_HDRLEN) {
      this.fail(at, `${this.where}`, `${left} trailing byte(s), too few for a 4-byte attribute header`);
      return false;
    }
    const len = this.buf.readUInt16LE(this.pos);
    const rawType = this.buf.readUInt16LE(this.pos + 2);
    const name = this.nameOf(rawType & NLA_TYPE_MASK);
    if (len < NLA_HDRLEN) {
      this.fail(at, `${this.where}: ${name} nla_len`, `length ${len} is smaller than the 4-byte attribute header`);
      return false;
    }
    if (len > left) {
      this.fail(at, `${this.where}: ${name} nla_len`, `length ${len} overruns its parent (${left} byte(s) left)`);
      return false;
    }
    this.curOffset = at;
    this.curLen = len;
    this.curRawType = rawType;
    this.curData = this.buf.subarray(this.pos + NLA_HDRLEN, this.pos + len);
    // The last attribute may omit its padding; the kernel's nla_for_each_attr tolerates that too.
    this.pos += Math.min(align4(len), left);
    return true;
  }

  /** Attribute type with NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off. */
  get type(): number {
    return this.curRawType & NLA_TYPE_MASK;
  }
  /** The flag bits of nla_type (NLA_F_NESTED | NLA_F_NET_BYTEORDER). */
  get typeFlags(): number {
    return this.curRawType & ~NLA_TYPE_MASK & 0xffff;
  }
  get rawType(): number {
    return this.curRawType;
  }
  /** Absolute offset of the current attribute's header. */
  get offset(): number {
    return this.curOffset;
  }
  /** nla_len of the current attribute (header included, padding excluded). */
  get length(): number {
    return this.curLen;
  }
  /** Absolute offset of the current payload. */
  get dataOffset(): number {
    return this.curOffset + NLA_HDRLEN;
  }
  get data(): Buffer {
    return this.curData;
  }
  /** Padding bytes after the current attribute (0–3). */
  get padding(): number {
    const end = this.curOffset - this.base + align4(this.curLen);
    return Math.min(end, this.buf.length) - (this.curOffset - this.base + this.curLen);
  }

  /** Integer payload; sets err (and returns 0) when the payload has the wrong size. */
  int(t: IntType, field = this.nameOf(this.type)): number | bigint {
    const size = INT_SIZE[t];
    if (this.curData.length !== size) {
      this.fail(this.curOffset, `${this.where}: ${field}`, `payload is ${this.curData.length} byte(s), a ${t} needs ${size}`);
      return 0;
    }
    return readInt(this.curData, t, (this.curRawType & NLA_F_NET_BYTEORDER) !== 0);
  }

  u32(field?: string): number {
    return Number(this.int('u32', field));
  }

  /** String payload without its NUL terminator (and anything after it). */
  string(): string {
    const nul = this.curData.indexOf(0);
    return this.curData.subarray(0, nul < 0 ? this.curData.length : nul).toString('utf8');
  }

  bytes(): Buffer {
    return this.curData;
  }

  flag(field = this.nameOf(this.type)): boolean {
    if (this.curData.length !== 0) this.fail(this.dataOffset, `${this.where}: ${field}`, `a flag has no payload, found ${this.curData.length} byte(s)`);
    return true;
  }

  /** A decoder over the current attribute's payload. Its errors propagate to this decoder via adopt(). */
  nested(where: string, nameOf?: (type: number) => string): AttributeDecoder {
    return new AttributeDecoder(this.curData, this.dataOffset, where, nameOf);
  }

  /** Take over a child decoder's error, if it has one and this decoder has none. */
  adopt(child: AttributeDecoder): void {
    if (!this.err && child.err) this.err = child.err;
  }

  fail(offset: number, field: string, problem: string): void {
    if (!this.err) this.err = new NetlinkFormatError(offset, field, problem);
  }
}

/**
 * An integer of type t from the start of `buf`. The eight types differ only in width and sign:
 * up to 32 bits Node's variable-width readers serve every one, 64 bits needs the BigInt readers.
 */
export function readInt(buf: Buffer, t: IntType, bigEndian = false): number | bigint {
  const size = INT_SIZE[t];
  const signed = t.startsWith('s');
  if (size === 8) {
    if (signed) return safeNumber(bigEndian ? buf.readBigInt64BE(0) : buf.readBigInt64LE(0));
    return safeNumber(bigEndian ? buf.readBigUInt64BE(0) : buf.readBigUInt64LE(0));
  }
  if (signed) return bigEndian ? buf.readIntBE(0, size) : buf.readIntLE(0, size);
  return bigEndian ? buf.readUIntBE(0, size) : buf.readUIntLE(0, size);
}

/** 64-bit values become plain numbers when that loses nothing, so JSON and tests stay simple. */
function safeNumber(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

const INT_RANGE: Record<IntType, [bigint, bigint]> = {
  u8: [0n, 0xffn],
  u16: [0n, 0xffffn],
  u32: [0n, 0xffffffffn],
  u64: [0n, 0xffffffffffffffffn],
  s8: [-0x80n, 0x7fn],
  s16: [-0x8000n, 0x7fffn],
  s32: [-0x80000000n, 0x7fffffffn],
  s64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

/** Encode an integer of type t; throws NetlinkEncodeError when it does not fit. */
export function writeInt(t: IntType, v: number | bigint, field: string, bigEndian = false): Buffer {
  if (typeof v === 'number' && !Number.isInteger(v)) throw new NetlinkEncodeError(field, `${v} is not an integer`);
  const b = BigInt(v);
  const [lo, hi] = INT_RANGE[t];
  if (b < lo || b > hi) throw new NetlinkEncodeError(field, `${v} is out of range for ${t} (${lo}..${hi})`);
  // In range, a signed value's two's-complement bits are what the unsigned writers store.
  const size = INT_SIZE[t];
  const out = Buffer.alloc(size);
  if (size === 8) {
    const bits = BigInt.asUintN(64, b);
    if (bigEndian) out.writeBigUInt64BE(bits);
    else out.writeBigUInt64LE(bits);
  } else {
    const bits = Number(BigInt.asUintN(size * 8, b));
    if (bigEndian) out.writeUIntBE(bits, 0, size);
    else out.writeUIntLE(bits, 0, size);
  }
  return out;
}

/** Builds a run of attributes. The first error is kept and thrown by encode(). */
export class AttributeEncoder {
  private readonly parts: Buffer[] = [];
  err: NetlinkEncodeError | undefined;

  /** One attribute with a ready payload; `flags` are OR-ed into nla_type (NLA_F_NESTED, ...). */
  raw(type: number, payload: Buffer, flags = 0, field = `attribute type ${type}`): this {
    if (this.err) return this;
    if (!Number.isInteger(type) || type < 0 || type > NLA_TYPE_MASK) {
      this.err = new NetlinkEncodeError(field, `attribute type ${type} does not fit in 14 bits`);
      return this;
    }
    const len = NLA_HDRLEN + payload.length;
    if (len > 0xffff) {
      this.err = new NetlinkEncodeError(field, `attribute of ${len} bytes exceeds the 65535-byte nla_len`);
      return this;
    }
    const hdr = Buffer.alloc(NLA_HDRLEN);
    hdr.writeUInt16LE(len, 0);
    hdr.writeUInt16LE(type | flags, 2);
    this.parts.push(hdr, payload, Buffer.alloc(align4(len) - len));
    return this;
  }

  int(type: number, t: IntType, v: number | bigint, field?: string): this {
    if (this.err) return this;
    try {
      return this.raw(type, writeInt(t, v, field ?? `attribute type ${type}`), 0, field);
    } catch (e) {
      this.err = e as NetlinkEncodeError;
      return this;
    }
  }

  u16(type: number, v: number, field?: string): this {
    return this.int(type, 'u16', v, field);
  }
  u32(type: number, v: number, field?: string): this {
    return this.int(type, 'u32', v, field);
  }
  s32(type: number, v: number, field?: string): this {
    return this.int(type, 's32', v, field);
  }

  /** A NUL-terminated string. */
  string(type: number, s: string, field?: string): this {
    return this.raw(type, Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]), 0, field);
  }

  bytes(type: number, b: Buffer, field?: string): this {
    return this.raw(type, b, 0, field);
  }

  flag(type: number, field?: string): this {
    return this.raw(type, Buffer.alloc(0), 0, field);
  }

  /** A nest (NLA_F_NESTED set, as the kernel's nla_nest_start does) filled by `fill`. */
  nested(type: number, fill: (e: AttributeEncoder) => void, field?: string): this {
    if (this.err) return this;
    const child = new AttributeEncoder();
    fill(child);
    if (child.err) {
      this.err = child.err;
      return this;
    }
    return this.raw(type, child.concat(), NLA_F_NESTED, field);
  }

  /** The attributes so far, or throws the first error. */
  encode(): Buffer {
    if (this.err) throw this.err;
    return this.concat();
  }

  private concat(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export { NLA_F_NESTED, NLA_F_NET_BYTEORDER };
