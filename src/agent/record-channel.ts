/**
 * A RecordChannel on a socket fd: reads exactly one TLS record at a time and never a byte more,
 * so everything after the peer's last handshake record stays in the kernel for the consumer (and
 * for kTLS RX). Uses net.Socket's `onread` with a buffer generator sized to what is still missing
 * of the current record (platform-notes.md §5 shows each read(2) is then capped at that size) and
 * stops reading as soon as a record is complete.
 *
 * The fd passed in is a dup owned by the channel; close() destroys the Node handle, which closes
 * that dup only. The channel never half-closes (no FIN): the socket belongs to the consumer.
 */
import net from 'node:net';
import { MAX_RECORD_BODY, RECORD_HEADER_LEN } from '../tls/api';
import type { RecordChannel } from './handshake';

export class ChannelError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ChannelError';
  }
}

export function openRecordChannel(fd: number): RecordChannel {
  return new SocketRecordChannel(fd);
}

class SocketRecordChannel implements RecordChannel {
  private readonly socket: net.Socket;
  private header = Buffer.alloc(RECORD_HEADER_LEN);
  private body: Buffer | undefined;
  private filled = 0;
  private waiting?: { resolve: (r: Buffer) => void; reject: (e: Error) => void };
  private ready: Buffer[] = [];
  private failure?: Error;
  private closed = false;
  private reading = true;

  constructor(fd: number) {
    const opts: net.SocketConstructorOpts & { onread: net.OnReadOpts } = {
      fd,
      readable: true,
      writable: true,
      // A peer's FIN must not make Node send ours: the socket is the kernel consumer's.
      allowHalfOpen: true,
      onread: {
        buffer: () => this.target(),
        callback: (nread: number) => this.onRead(nread),
      },
    };
    // @types/node lists onread only for net.connect; the constructor honours it too (Node ≥ 12).
    this.socket = new net.Socket(opts);
    this.socket.on('end', () => this.fail(new ChannelError('EOF', 'the peer closed the connection')));
    this.socket.on('error', (e: NodeJS.ErrnoException) => this.fail(new ChannelError(e.code ?? 'EIO', e.message)));
  }

  private target(): Uint8Array {
    return this.body ? this.body.subarray(this.filled) : this.header.subarray(this.filled);
  }

  private onRead(nread: number): boolean {
    this.filled += nread;
    if (!this.body) {
      if (this.filled < RECORD_HEADER_LEN) return true;
      const len = this.header.readUInt16BE(3);
      if (len > MAX_RECORD_BODY) {
        this.fail(new ChannelError('EMSGSIZE', `record of ${len} bytes announced (limit ${MAX_RECORD_BODY})`));
        this.reading = false;
        return false;
      }
      this.body = Buffer.alloc(len);
      this.filled = 0;
      if (len > 0) return true;
    } else if (this.filled < this.body.length) {
      return true;
    }
    const record = Buffer.concat([this.header, this.body]);
    this.header = Buffer.alloc(RECORD_HEADER_LEN);
    this.body = undefined;
    this.filled = 0;
    this.deliver(record);
    // Stop before the next read(2): the next record may be the consumer's.
    this.reading = false;
    return false;
  }

  private deliver(record: Buffer): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (w) w.resolve(record);
    else this.ready.push(record);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(this.failure);
  }

  readRecord(): Promise<Buffer> {
    const r = this.ready.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new ChannelError('EBADF', 'the channel is closed'));
    if (this.waiting) return Promise.reject(new ChannelError('EBUSY', 'a record read is already pending'));
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting = { resolve, reject };
      if (!this.reading) {
        this.reading = true;
        this.socket.resume();
      }
    });
  }

  write(data: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new ChannelError('EBADF', 'the channel is closed'));
    return new Promise<void>((resolve, reject) => {
      this.socket.write(data, (err?: Error | null) => {
        if (err) reject(new ChannelError((err as NodeJS.ErrnoException).code ?? 'EIO', err.message));
        else resolve();
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fail(new ChannelError('EBADF', 'the channel is closed'));
    this.socket.destroy();
  }
}
