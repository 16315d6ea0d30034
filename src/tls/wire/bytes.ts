/**
 * Byte cursors for the TLS wire format. Every length-prefixed vector is read through a scope
 * that checks, when it closes, that its content was consumed exactly; every decoding failure
 * is a decode_error naming the field and offset, so framing bugs and hostile input are loud.
 */
import { fail } from '../errors';

/**
 * A copy of `b` in a buffer of its own. Buffer.from and Buffer.concat slice small buffers out
 * of a shared 8 KiB slab, and one small slice kept for a handshake's life (a random, a message
 * waiting for its next fragment) keeps the whole slab alive: with hundreds of handshakes in
 * flight that was most of an engine thread's external memory (docs/bench.md, "Memory").
 */
export function ownCopy(b: Uint8Array): Buffer {
  const c = Buffer.allocUnsafeSlow(b.length);
  c.set(b);
  return c;
}

export class Reader {
  private pos = 0;
  private readonly ends: number[] = [];

  constructor(private readonly buf: Buffer, private readonly what = 'message') {}

  get offset(): number {
    return this.pos;
  }

  private limit(): number {
    return this.ends.length > 0 ? this.ends[this.ends.length - 1] : this.buf.length;
  }

  remaining(): number {
    return this.limit() - this.pos;
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.limit()) {
      fail('decode_error', `${this.what}: ${field} needs ${n} bytes at offset ${this.pos}, ${this.remaining()} left`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++];
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(field: string): number {
    this.need(3, field);
    const v = this.buf.readUIntBE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Reads a vector with a `width`-byte length prefix, with bounds on its length. */
  vector(width: 1 | 2 | 3, field: string, min = 0, max = Infinity): Buffer {
    const n = this.lengthPrefix(width, field, min, max);
    return this.bytes(n, field);
  }

  /**
   * Enters a length-prefixed scope; `body` must consume it exactly. Returns what body returns.
   */
  scope<T>(width: 1 | 2 | 3, field: string, body: () => T, min = 0, max = Infinity): T {
    const n = this.lengthPrefix(width, field, min, max);
    this.need(n, field);
    const end = this.pos + n;
    this.ends.push(end);
    const v = body();
    this.ends.pop();
    if (this.pos !== end) {
      fail('decode_error', `${this.what}: ${field} has ${end - this.pos} unparsed bytes at offset ${this.pos}`);
    }
    return v;
  }

  private lengthPrefix(width: 1 | 2 | 3, field: string, min: number, max: number): number {
    const n = width === 1 ? this.u8(field) : width === 2 ? this.u16(field) : this.u24(field);
    if (n < min || n > max) {
      fail('decode_error', `${this.what}: ${field} length ${n} outside [${min}, ${max}] at offset ${this.pos}`);
    }
    return n;
  }

  /** Asserts the whole buffer (or current scope) was consumed. */
  end(): void {
    if (this.remaining() !== 0) {
      fail('decode_error', `${this.what}: ${this.remaining()} trailing bytes at offset ${this.pos}`);
    }
  }
}

/**
 * Builds a message in one growing buffer: fixed-width fields are written in place and a
 * length-prefixed scope reserves its prefix and fills it in when the scope closes, so a message
 * costs one buffer (two or three when it outgrows the first) instead of a Buffer per field and
 * a concatenation per nesting level.
 */
export class Writer {
  private buf: Buffer;
  private len = 0;

  /** `capacity`: the first buffer's size; it doubles when outgrown. */
  constructor(capacity = 64) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private room(n: number): number {
    const at = this.len;
    const need = at + n;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * this.buf.length));
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
    }
    this.len = need;
    return at;
  }

  u8(v: number): this {
    const at = this.room(1); // before reading this.buf: room() may replace it
    this.buf[at] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    const at = this.room(2);
    this.buf[at] = (v >>> 8) & 0xff;
    this.buf[at + 1] = v & 0xff;
    return this;
  }

  u24(v: number): this {
    const at = this.room(3);
    this.buf.writeUIntBE(v, at, 3);
    return this;
  }

  raw(b: Uint8Array): this {
    const at = this.room(b.length);
    this.buf.set(b, at);
    return this;
  }

  /** Writes a vector with a `width`-byte length prefix. */
  vector(width: 1 | 2 | 3, b: Buffer): this {
    checkPrefix(width, b.length);
    if (width === 1) this.u8(b.length);
    else if (width === 2) this.u16(b.length);
    else this.u24(b.length);
    return this.raw(b);
  }

  /** Writes a length-prefixed vector whose content `body` writes (into this writer, after the prefix). */
  scope(width: 1 | 2 | 3, body: (w: Writer) => void): this {
    const at = this.room(width);
    body(this);
    const n = this.len - at - width;
    checkPrefix(width, n);
    this.buf.writeUIntBE(n, at, width);
    return this;
  }

  get length(): number {
    return this.len;
  }

  /** Empties the writer for reuse, keeping its buffer. */
  reset(): this {
    this.len = 0;
    return this;
  }

  /** The bytes written, in a buffer of exactly their length (a view of the writer's own). */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function checkPrefix(width: 1 | 2 | 3, n: number): void {
  if (n > 2 ** (8 * width) - 1) throw new Error(`vector of ${n} bytes exceeds ${width}-byte length prefix`);
}
