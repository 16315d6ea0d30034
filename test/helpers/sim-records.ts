/**
 * A simulated kTLS record stream for the host, whose kernel has no kTLS: the stream's engine
 * reads through a RecordSource over a real loopback TCP socket (so readiness, partial writes and
 * backpressure are the kernel's own), and only the record layer is simulated: each record is
 * framed as type (1 byte), length (2 bytes, big-endian), payload, in the clear.
 *
 * SimPeer is the other end, in the same process: it sends records of any type and collects
 * what the stream sends (application data, alerts, the FIN).
 */
import net from 'node:net';
import { Errno } from '../../src/sys/errno';
import { SysError, close, recv, send, setNonBlocking, tcpLoopbackPair } from '../../src/sys/libc';
import { shutdownWrite } from '../../src/sys/tls-record';
import type { RecordSource } from '../../src/client/ktls-stream';

const MAX_FRAME = 16384;

export function frame(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(3);
  h[0] = type;
  h.writeUInt16BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

/** f's result, or undefined where the non-blocking socket would block (EAGAIN). */
function unlessWouldBlock(f: () => number): number | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof SysError && e.errno === Errno.EAGAIN) return undefined;
    throw e;
  }
}

export class SimSource implements RecordSource {
  /** Every call, so tests can see that the stream does not read while idle. */
  recvCalls = 0;
  private inbuf: Buffer = Buffer.alloc(0);
  private outbuf: Buffer = Buffer.alloc(0);
  private eof = false;
  private readonly tmp = Buffer.alloc(65536);

  constructor(readonly fd: number) {}

  recv(buf: Buffer): { type: number; length: number } | null | undefined {
    this.recvCalls++;
    for (;;) {
      if (this.inbuf.length >= 3) {
        const len = this.inbuf.readUInt16BE(1);
        if (this.inbuf.length >= 3 + len) {
          const type = this.inbuf[0];
          this.inbuf.copy(buf, 0, 3, 3 + len);
          this.inbuf = this.inbuf.subarray(3 + len);
          return { type, length: len };
        }
      }
      if (this.eof) return null;
      const n = unlessWouldBlock(() => recv(this.fd, this.tmp));
      if (n === undefined) return undefined;
      if (n === 0) this.eof = true;
      else this.inbuf = Buffer.concat([this.inbuf, this.tmp.subarray(0, n)]);
    }
  }

  send(data: Buffer): number | undefined {
    return this.queue(23, data);
  }

  sendRecord(type: number, data: Buffer): number | undefined {
    return this.queue(type, data);
  }

  shutdownWrite(): void {
    if (this.outbuf.length > 0) throw new Error(`SimSource: FIN with ${this.outbuf.length} framed bytes unsent`);
    shutdownWrite(this.fd);
  }

  /** Like the kernel: take up to one record's worth when the previous one is on the wire. */
  private queue(type: number, data: Buffer): number | undefined {
    if (!this.flush()) return undefined;
    const n = Math.min(data.length, MAX_FRAME);
    this.outbuf = frame(type, data.subarray(0, n));
    this.flush();
    return n;
  }

  private flush(): boolean {
    while (this.outbuf.length > 0) {
      const n = unlessWouldBlock(() => send(this.fd, this.outbuf));
      if (n === undefined) return false;
      this.outbuf = this.outbuf.subarray(n);
    }
    return true;
  }
}

export interface SimRecord {
  type: number;
  payload: Buffer;
}

/** The peer's end: a net.Socket that parses the frames the stream sends. */
export class SimPeer {
  readonly records: SimRecord[] = [];
  ended = false;
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 3 && this.buf.length >= 3 + this.buf.readUInt16BE(1)) {
        const len = this.buf.readUInt16BE(1);
        this.records.push({ type: this.buf[0], payload: Buffer.from(this.buf.subarray(3, 3 + len)) });
        this.buf = this.buf.subarray(3 + len);
      }
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** Application data received so far. */
  data(): Buffer {
    return Buffer.concat(this.records.filter((r) => r.type === 23).map((r) => r.payload));
  }

  write(type: number, payload: Buffer | string): void {
    this.socket.write(frame(type, Buffer.from(payload)));
  }

  writeData(payload: Buffer | string): void {
    const b = Buffer.from(payload);
    for (let off = 0; off < b.length; off += MAX_FRAME) this.write(23, b.subarray(off, off + MAX_FRAME));
  }

  async until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`SimPeer: timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  private wake(): void {
    const w = this.waiters.splice(0);
    for (const f of w) f();
  }
}

/**
 * A loopback TCP pair: `fd` for the stream (non-blocking), a SimPeer on the other end.
 * `streamSocket()` instead wraps the stream's end in a paused net.Socket, for adoption tests.
 */
export function simPair(): { fd: number; source: SimSource; peer: SimPeer } {
  const [a, b] = tcpLoopbackPair();
  setNonBlocking(a, true);
  const peer = new SimPeer(new net.Socket({ fd: b, readable: true, writable: true, allowHalfOpen: true }));
  return { fd: a, source: new SimSource(a), peer };
}

export function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // already closed by the stream
  }
}
