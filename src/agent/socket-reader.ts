/**
 * The exact record reader: reads TLS records from the handshake socket one at a time and never
 * consumes a byte past the record it was asked for. Every byte after the peer's last handshake
 * record belongs to the kernel consumer (kTLS RX starts there; nothing can push bytes back).
 *
 * How: recv(2) on the raw fd straight into the bytes the current record still lacks, first the
 * rest of the 5-byte header, then exactly the body length it announced, so no read can reach
 * past the record. That is two recv(2) per record. Peeking at everything queued with MSG_PEEK
 * and consuming only the records handed out takes a flight's records in about two calls, but it
 * did not lower the agent's CPU per handshake measurably, and lazy consumption would make kTLS
 * depend on the reader being closed first; docs/bench.md, "Peeking instead of exact reads".
 * When the socket has nothing queued (EAGAIN) the reader waits for readiness
 * with a uv_poll watcher on Node's own event loop (the mechanism the unix transport uses for its
 * sockets, src/sys/unix.ts), and reads only while a readRecord() is pending. Writes go out with
 * send(2); what the kernel does not take at once waits for writability, in order.
 *
 * No net.Socket: one per handshake cost a handle, a stream, an fcntl(O_NONBLOCK) and several
 * allocations per record, a large share of the agent's CPU per handshake (docs/bench.md). Every
 * call uses MSG_DONTWAIT, so no read or write blocks the loop even before the watcher exists
 * (libuv makes the file O_NONBLOCK when it starts watching; the kernel's sockets already are).
 *
 * Who owns which fd: the agent receives the kernel's fd (ACCEPT's sockfd, or the fd that came
 * with a unix-transport request), dup()s it and gives the DUP to this reader, which closes it
 * in detach()/close(), after the watcher has let go of it (epoll keys its entries by fd and open
 * file, so the watcher must stop before the number can be reused). The agent keeps the original
 * for setsockopt (kTLS) and for DONE, and closes it after DONE. Closing the dup sends nothing:
 * the connection stays open through the original, and the reader never calls shutdown(2).
 */
import { Errno } from '../sys/errno';
import { SysError, close as closeFd, recvNoWait, sendNoWait } from '../sys/libc';
import { watchFd, type FdWatcher, type PollEvents } from '../sys/unix';
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

interface PendingWrite {
  data: Buffer;
  resolve: () => void;
  reject: (err: Error) => void;
}

const WANT_READ = 1;
const WANT_WRITE = 2;

export class SocketReader {
  private readonly fd: number;
  private readonly maxBody: number;
  private readonly header = Buffer.alloc(RECORD_HEADER_LEN);
  private headerGot = 0;
  /** The whole record being assembled (header copied in), once the header is complete. */
  private record: Buffer | undefined;
  private bodyGot = 0;
  private pending: Pending | undefined;
  private readonly writes: PendingWrite[] = [];
  /** Sticky terminal error: EOF, reset, overflow, closed. */
  private failure: SocketReaderError | undefined;
  private closed = false;
  private watcher: FdWatcher | undefined;
  /** Events the watcher is started with (WANT_READ | WANT_WRITE); 0 = stopped. */
  private watching = 0;
  private readonly onPollBound = (status: number, ev: PollEvents): void => this.onPoll(status, ev);
  private closedResolve!: () => void;
  private readonly closedPromise = new Promise<void>((resolve) => (this.closedResolve = resolve));

  /** fd: a descriptor this reader may own and close (the agent's dup of the kernel's fd). */
  constructor(fd: number, opts: SocketReaderOptions = {}) {
    this.fd = fd;
    this.maxBody = opts.maxBody ?? MAX_RECORD_BODY;
  }

  /**
   * Read exactly one record: the 5-byte header, then exactly the body length it announces.
   * Resolves with header + body. Rejects with SocketReaderError.
   */
  readRecord(): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(this.closedError());
    if (this.pending) {
      return Promise.reject(new SocketReaderError('BUSY', 'readRecord() called while another read is in progress'));
    }
    return new Promise<Buffer>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.pump();
    });
  }

  /** Write bytes; resolves when the kernel has taken all of them. Writes go out in call order. */
  write(buf: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new SocketReaderError('CLOSED', 'write() after the reader was closed'));
    if (this.writes.length === 0) {
      // The usual case: the socket's send buffer takes a whole flight at once.
      const n = sendNoWait(this.fd, buf);
      if (n === buf.length) return Promise.resolve();
      if (n < 0 && n !== -Errno.EAGAIN) return Promise.reject(this.errnoError(-n, 'send'));
      if (n > 0) buf = buf.subarray(n);
    }
    return new Promise<void>((resolve, reject) => {
      this.writes.push({ data: buf, resolve, reject });
      this.arm();
    });
  }

  /**
   * Stop reading now: no read(2) happens until the next readRecord(). A pending readRecord() is
   * rejected with PAUSED; bytes of a partly read record are kept for the next readRecord().
   */
  pause(): void {
    const p = this.pending;
    this.pending = undefined;
    this.arm();
    p?.reject(new SocketReaderError('PAUSED', 'reading was paused while a record was awaited'));
  }

  /** Bytes of a partly read record held by the reader (0 between records). */
  get buffered(): number {
    return this.headerGot + this.bodyGot;
  }

  /** Stop reading, let pending writes reach the kernel, then close the dup this reader owns. */
  async detach(): Promise<void> {
    if (this.closed) return this.closedPromise;
    this.pause();
    if (this.writes.length > 0) {
      const last = this.writes[this.writes.length - 1];
      await new Promise<void>((resolve) => {
        const { resolve: done, reject } = last;
        last.resolve = () => (done(), resolve());
        last.reject = (e) => (reject(e), resolve());
      });
    }
    this.close();
    return this.closedPromise;
  }

  /** Close the dup now (pending writes are rejected); a pending readRecord() is rejected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The error (and its stack trace) only when someone waits to be told: a handshake that
    // ends normally closes its reader with nothing pending, once per handshake.
    const closedErr = this.pending || this.writes.length > 0 ? this.closedError() : undefined;
    if (closedErr) this.fail(closedErr);
    // libuv must forget the fd (epoll_ctl DEL) before the fd number can be reused.
    this.watcher?.close();
    this.watcher = undefined;
    this.watching = 0;
    try {
      closeFd(this.fd);
    } catch {
      // Already closed by someone else: nothing left to release.
    }
    for (const w of this.writes.splice(0)) w.reject(closedErr ?? this.closedError());
    this.closedResolve();
  }

  private closedError(): SocketReaderError {
    return new SocketReaderError('CLOSED', 'the socket reader was closed');
  }

  /** Resolves when the reader has closed the dup. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  // --- reading ----------------------------------------------------------------------------

  /** Read what the pending record still lacks until it is complete or the socket is empty. */
  private pump(): void {
    while (this.pending) {
      const want = this.record ? this.record.subarray(RECORD_HEADER_LEN + this.bodyGot) : this.header.subarray(this.headerGot);
      // An empty body is complete as soon as its header is.
      const n = want.length === 0 ? 0 : recvNoWait(this.fd, want);
      if (want.length > 0 && n === 0) {
        this.onEnd();
        break;
      }
      if (n < 0) {
        if (n === -Errno.EAGAIN) {
          this.arm();
          return;
        }
        this.fail(this.errnoError(-n, 'recv'));
        break;
      }
      this.advance(n);
    }
    this.arm();
  }

  /** Account for n bytes just read; hands out the record once it is complete. */
  private advance(nread: number): void {
    if (!this.record) {
      this.headerGot += nread;
      if (this.headerGot < RECORD_HEADER_LEN) return;
      const len = this.header.readUInt16BE(3);
      if (len > this.maxBody) {
        this.fail(
          new SocketReaderError(
            'RECORD_OVERFLOW',
            `peer sent a record header announcing ${len} body bytes (content type ${this.header[0]}), more than the ` +
              `${this.maxBody} allowed; not reading it (record_overflow)`,
          ),
        );
        return;
      }
      // Every byte of it is written before the record is handed out. A buffer of its own, not a
      // slice of Buffer's shared 8 KiB pool: what the engine keeps of a record (a view of a
      // field) must not keep a whole slab alive while the handshake waits on its peer.
      this.record = Buffer.allocUnsafeSlow(RECORD_HEADER_LEN + len);
      this.header.copy(this.record, 0);
      this.bodyGot = 0;
    } else {
      this.bodyGot += nread;
    }
    const record = this.record;
    if (this.bodyGot < record.length - RECORD_HEADER_LEN) return;
    // Record complete: reset for the next one before handing it out.
    this.record = undefined;
    this.headerGot = 0;
    this.bodyGot = 0;
    const p = this.pending;
    this.pending = undefined;
    p?.resolve(record);
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

  // --- writing ----------------------------------------------------------------------------

  private flush(): void {
    while (this.writes.length > 0) {
      const w = this.writes[0];
      const n = sendNoWait(this.fd, w.data);
      if (n === -Errno.EAGAIN) break;
      if (n < 0) {
        const err = this.errnoError(-n, 'send');
        for (const x of this.writes.splice(0)) x.reject(err);
        break;
      }
      if (n < w.data.length) {
        w.data = w.data.subarray(n);
        continue;
      }
      this.writes.shift();
      w.resolve();
    }
    this.arm();
  }

  // --- readiness --------------------------------------------------------------------------

  /** (Re)start or stop the watcher for what is wanted now: a pending read, queued writes. */
  private arm(): void {
    if (this.closed) return;
    const want = (this.pending && !this.failure ? WANT_READ : 0) | (this.writes.length > 0 ? WANT_WRITE : 0);
    if (want === this.watching) return;
    this.watching = want;
    if (want === 0) {
      this.watcher?.stop();
      return;
    }
    const events = { readable: (want & WANT_READ) !== 0, writable: (want & WANT_WRITE) !== 0 };
    if (this.watcher) this.watcher.start(events, this.onPollBound);
    else this.watcher = watchFd(this.fd, events, this.onPollBound);
  }

  private onPoll(status: number, ev: PollEvents): void {
    if (this.closed) return;
    if (status < 0) {
      // libuv reports POLLERR as EBADF and stops the watcher; the socket's own error (a reset,
      // say) is what the next recv/send returns, so ask it before giving the poll's.
      this.watching = 0;
      if (this.writes.length > 0) this.flush();
      if (this.pending) this.pump();
      if (this.pending || this.writes.length > 0) {
        const err = this.errnoError(-status, 'poll');
        this.fail(err);
        for (const w of this.writes.splice(0)) w.reject(err);
        this.arm();
      }
      return;
    }
    if (ev.writable && this.writes.length > 0) this.flush();
    if (ev.readable && this.pending) this.pump();
  }

  private errnoError(errno: number, syscall: string): SocketReaderError {
    const e = new SysError(syscall, errno, `fd ${this.fd}`);
    if (e.code === 'ECONNRESET' || e.code === 'EPIPE') {
      return new SocketReaderError('ECONNRESET', `peer reset the connection (${e.code})`, e);
    }
    return new SocketReaderError('SOCKET_ERROR', `socket error: ${e.message}`, e);
  }

  private fail(err: SocketReaderError): void {
    if (!this.failure) this.failure = err;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(this.failure);
  }
}
