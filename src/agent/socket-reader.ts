/**
 * The exact record reader: reads TLS records from the handshake socket one at a time and never
 * consumes a byte past the record it was asked for. Every byte after the peer's last handshake
 * record belongs to the kernel consumer (kTLS RX starts there; nothing can push bytes back).
 *
 * How (platform-notes §5): a net.Socket over the fd with `onread: {buffer, callback}`. The buffer
 * we hand libuv is exactly the rest of the current header (5 bytes) or body (its length), so each
 * read(2) is capped at what the current record still needs; when a record is complete the
 * callback returns false, which stops libuv reading before it can issue another read(2).
 * Reading starts again only when readRecord() is called. No 'data' listener is ever attached
 * (that would switch Node to 64 KiB reads).
 *
 * Who owns which fd: the agent receives the kernel's fd (ACCEPT's sockfd, or the fd that came
 * with a unix-transport request), dup()s it and gives the DUP to this reader. Node owns the dup
 * and closes it in detach()/close(); the agent keeps the original for setsockopt (kTLS) and for
 * DONE, and closes it after DONE. The fd is O_NONBLOCK either way (the kernel's socket file is
 * non-blocking and its status flags are shared by every dup).
 *
 * Node is created with allowHalfOpen so that a peer's FIN never makes Node shutdown() our side
 * of a socket that the kernel consumer will keep using.
 */
import * as net from 'node:net';
import { MAX_RECORD_BODY, RECORD_HEADER_LEN } from '../tls/api';

export type SocketReaderErrorCode =
  /** The peer closed the connection cleanly between records. */
  | 'EOF'
  /** The peer closed the connection in the middle of a record. */
  | 'EOF_MID_RECORD'
  /** The header announced a body longer than RFC 8446 allows; the body was not read. */
  | 'RECORD_OVERFLOW'
  /** The peer reset the connection, or another socket error (see cause). */
  | 'ECONNRESET'
  | 'SOCKET_ERROR'
  /** readRecord() while another readRecord() is pending. */
  | 'BUSY'
  /** pause() was called while a readRecord() was pending. */
  | 'PAUSED'
  /** The reader was closed or detached. */
  | 'CLOSED';

export class SocketReaderError extends Error {
  constructor(
    readonly code: SocketReaderErrorCode,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SocketReaderError';
  }
}

export interface SocketReaderOptions {
  /** Largest record body accepted (default MAX_RECORD_BODY = 2^14 + 256). */
  maxBody?: number;
}

interface Pending {
  resolve: (record: Buffer) => void;
  reject: (err: Error) => void;
}

export class SocketReader {
  private readonly socket: net.Socket;
  private readonly maxBody: number;
  private readonly header = Buffer.alloc(RECORD_HEADER_LEN);
  private headerGot = 0;
  /** The whole record being assembled (header copied in), once the header is complete. */
  private record: Buffer | undefined;
  private bodyGot = 0;
  private pending: Pending | undefined;
  /** Sticky terminal error: EOF, reset, overflow, closed. */
  private failure: SocketReaderError | undefined;
  private closed = false;
  private readonly closedPromise: Promise<void>;

  /** fd: a descriptor this reader may own and close (the agent's dup of the kernel's fd). */
  constructor(fd: number, opts: SocketReaderOptions = {}) {
    this.maxBody = opts.maxBody ?? MAX_RECORD_BODY;
    // `manualStart` (Node's constructor option for fd sockets, not in @types/node) keeps Node
    // from issuing its first read before anyone asked for a record. The constructor honours
    // `onread` too (platform-notes §5), though @types/node lists it only for connect().
    const options: net.SocketConstructorOpts & { manualStart: boolean; onread: net.OnReadOpts } = {
      fd,
      readable: true,
      writable: true,
      allowHalfOpen: true,
      manualStart: true,
      onread: {
        buffer: () => this.nextBuffer(),
        callback: (nread: number) => this.onRead(nread),
      },
    };
    this.socket = new net.Socket(options);
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.onError(err));
    this.closedPromise = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /**
   * Read exactly one record: the 5-byte header, then exactly the body length it announces.
   * Resolves with header + body. Rejects with SocketReaderError.
   */
  readRecord(): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) {
      return Promise.reject(new SocketReaderError('BUSY', 'readRecord() called while another read is in progress'));
    }
    return new Promise<Buffer>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.resume();
    });
  }

  /** Write bytes; resolves when Node has handed them to the kernel. */
  write(buf: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new SocketReaderError('CLOSED', 'write() after the reader was closed'));
    return new Promise<void>((resolve, reject) => {
      this.socket.write(buf, (err?: Error | null) => {
        if (err) reject(this.wrapError(err));
        else resolve();
      });
    });
  }

  /**
   * Stop reading now: no read(2) happens until the next readRecord(). A pending readRecord() is
   * rejected with PAUSED; bytes of a partly read record are kept for the next readRecord().
   */
  pause(): void {
    // In onread mode net.Socket.pause() calls readStop() on the handle synchronously.
    this.socket.pause();
    const p = this.pending;
    this.pending = undefined;
    p?.reject(new SocketReaderError('PAUSED', 'reading was paused while a record was awaited'));
  }

  /** Bytes of a partly read record held by the reader (0 between records). */
  get buffered(): number {
    return this.headerGot + this.bodyGot;
  }

  /**
   * Stop reading, let pending writes reach the kernel, then release Node's handle, closing the
   * dup this reader owns. The connection itself stays open through the agent's original fd.
   */
  async detach(): Promise<void> {
    if (this.closed) return this.closedPromise;
    this.pause();
    if (this.socket.writableLength > 0) {
      await new Promise<void>((resolve) => this.socket.write(Buffer.alloc(0), () => resolve()));
    }
    this.close();
    return this.closedPromise;
  }

  /** Close the dup now (pending writes are dropped); a pending readRecord() is rejected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fail(new SocketReaderError('CLOSED', 'the socket reader was closed'));
    // destroy() closes the fd without shutdown(): the peer sees nothing.
    this.socket.destroy();
  }

  /** Resolves when Node has closed the dup. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  // --- onread plumbing ---------------------------------------------------------------------

  /** Where the next read(2) may write: exactly what the current record still lacks. */
  private nextBuffer(): Uint8Array {
    if (this.record) return this.record.subarray(RECORD_HEADER_LEN + this.bodyGot);
    return this.header.subarray(this.headerGot);
  }

  /** Returns false to stop libuv reading (record complete, or nothing more may be read). */
  private onRead(nread: number): boolean {
    if (!this.record) {
      this.headerGot += nread;
      if (this.headerGot < RECORD_HEADER_LEN) return true;
      const len = this.header.readUInt16BE(3);
      if (len > this.maxBody) {
        this.fail(
          new SocketReaderError(
            'RECORD_OVERFLOW',
            `peer sent a record header announcing ${len} body bytes (content type ${this.header[0]}), more than the ` +
              `${this.maxBody} allowed; not reading it (record_overflow)`,
          ),
        );
        return false;
      }
      this.record = Buffer.alloc(RECORD_HEADER_LEN + len);
      this.header.copy(this.record, 0);
      this.bodyGot = 0;
    } else {
      this.bodyGot += nread;
    }
    const record = this.record;
    if (this.bodyGot < record.length - RECORD_HEADER_LEN) return true;
    // Record complete: reset for the next one before handing it out.
    this.record = undefined;
    this.headerGot = 0;
    this.bodyGot = 0;
    const p = this.pending;
    this.pending = undefined;
    p?.resolve(record);
    return false;
  }

  private onEnd(): void {
    if (this.buffered === 0) {
      this.fail(new SocketReaderError('EOF', 'peer closed the connection'));
      return;
    }
    const where = this.record
      ? `after ${this.bodyGot} of ${this.record.length - RECORD_HEADER_LEN} body bytes`
      : `after ${this.headerGot} of ${RECORD_HEADER_LEN} header bytes`;
    this.fail(new SocketReaderError('EOF_MID_RECORD', `peer closed the connection in the middle of a record, ${where}`));
  }

  private onError(err: NodeJS.ErrnoException): void {
    this.fail(this.wrapError(err));
  }

  private wrapError(err: Error): SocketReaderError {
    if (err instanceof SocketReaderError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNRESET' || code === 'EPIPE') {
      return new SocketReaderError('ECONNRESET', `peer reset the connection (${code})`, err);
    }
    return new SocketReaderError('SOCKET_ERROR', `socket error: ${err.message}`, err);
  }

  private fail(err: SocketReaderError): void {
    if (!this.failure) this.failure = err;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(this.failure);
  }
}
