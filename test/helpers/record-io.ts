/**
 * Whole TLS records over a net.Socket, for tests: the 5-byte header, then exactly the body length
 * it announces. Bytes after the record stay queued here for the next call (the agent's production
 * reader, src/agent/socket-reader.ts, additionally leaves them in the kernel; tests keep reading
 * application records with their own record layer afterwards, so a user-space queue is enough).
 */
import type net from 'node:net';
import { MAX_RECORD_BODY, RECORD_HEADER_LEN } from '../../src/tls/api';

export class PeerClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeerClosedError';
  }
}

export interface RecordIO {
  readRecord(timeoutMs?: number): Promise<Buffer>;
  write(data: Buffer): Promise<void>;
}

export class SocketRecordIO implements RecordIO {
  private buffered: Buffer = Buffer.alloc(0);
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (err) => {
      this.failure = err;
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private take(n: number): Buffer | undefined {
    if (this.buffered.length < n) return undefined;
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return Buffer.from(out);
  }

  /** Resolves with one whole record; rejects on EOF or reset mid-record, an oversized header, or timeout. */
  async readRecord(timeoutMs = 20000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buffered.length >= RECORD_HEADER_LEN) {
        const len = this.buffered.readUInt16BE(3);
        if (len > MAX_RECORD_BODY) throw new Error(`record header announces ${len} bytes (> ${MAX_RECORD_BODY})`);
        const rec = this.take(RECORD_HEADER_LEN + len);
        if (rec) return rec;
      }
      if (this.failure) throw this.failure;
      if (this.ended) {
        throw new PeerClosedError(
          this.buffered.length === 0 ? 'peer closed the connection' : `peer closed mid-record (${this.buffered.length} bytes pending)`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no whole record within ${timeoutMs} ms (${this.buffered.length} bytes pending)`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  write(data: Buffer): Promise<void> {
    if (data.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }
}
