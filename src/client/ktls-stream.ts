/**
 * A stream over a socket that carries kernel TLS, which reads like a socket whatever records the
 * peer sends after the handshake.
 *
 * The kernel decrypts, but it leaves the records that are not application data to user space:
 * a read that cannot say which record type it got fails at the first such record (EIO), and a
 * plain Node socket reads exactly that way. This stream reads each record with its type
 * (src/sys/tls-record.ts) and:
 *  - application data → the readable side;
 *  - handshake messages after the handshake: NewSessionTicket (nothing here resumes sessions)
 *    and any other message we do not act on are dropped; a KeyUpdate fails the stream with
 *    ERR_KTLS_KEY_UPDATE, because the new receive key derives from a traffic secret only the
 *    agent ever held: the kernel would go on decrypting with the old key (6.12) or refuse to
 *    read until user space installs the new one (6.14 and later), so carrying on could only
 *    hang or produce garbage;
 *  - close_notify → the end of the readable side; our own end() answers it with a close_notify
 *    of ours (an alert record sent with TLS_SET_RECORD_TYPE) before the TCP FIN;
 *  - any other alert (user_canceled aside, which precedes a close_notify) → an error whose
 *    `code` is ERR_TLS_ALERT_<NAME> and whose message names the alert.
 * The TCP stream ending without a close_notify also ends the readable side (as on a plain
 * socket); `closeNotifyReceived` tells the two apart for protocols that need to.
 *
 * Readiness comes from one uv_poll watcher on the fd (src/sys/unix.ts watchFd), armed only for
 * what is wanted: readable while the consumer wants data, writable while a write or the
 * close_notify waits for room. Nothing polls on a timer, and a paused consumer stops the reads
 * (the kernel's receive queue then fills and TCP slows the peer).
 *
 * Where records come from is a RecordSource: the kernel's recvmsg/sendmsg on a kTLS socket in
 * production, a simulated record stream over a plain socket in the tests.
 */
import { Duplex } from 'node:stream';
import type net from 'node:net';
import { Errno } from '../sys/errno';
import { SysError, close as closeFd, setNonBlocking, setTcpNoDelay } from '../sys/libc';
import { RecordType, recvRecord, sendData, sendRecord, shutdownWrite } from '../sys/tls-record';
import { type PollEvents, Readiness } from '../sys/unix';
import { alertName } from '../tls/errors';

/** Where a KtlsEngine reads and writes records; all calls are non-blocking. */
export interface RecordSource {
  /** The socket whose readiness says when to call recv/send again. */
  readonly fd: number;
  /** Bytes of one record type into buf; undefined: nothing ready; null: end of the TCP stream. */
  recv(buf: Buffer): { type: number; length: number } | null | undefined;
  /** Application data; bytes taken, or undefined when the socket buffer is full. */
  send(data: Buffer): number | undefined;
  /** One record of another content type (alerts); bytes taken, or undefined when full. */
  sendRecord(type: number, data: Buffer): number | undefined;
  /** The TCP FIN. */
  shutdownWrite(): void;
}

/** The kernel's kTLS socket as a RecordSource. */
export function kernelRecordSource(fd: number): RecordSource {
  return {
    fd,
    recv: (buf) => recvRecord(fd, buf),
    send: (data) => sendData(fd, data),
    sendRecord: (type, data) => sendRecord(fd, type, data),
    shutdownWrite: () => shutdownWrite(fd),
  };
}

export type KtlsStreamErrorCode =
  /** The peer sent a KeyUpdate; its new key cannot reach the kernel from here. */
  | 'ERR_KTLS_KEY_UPDATE'
  /** A record type or an alert that TLS 1.3 does not allow after the handshake. */
  | 'ERR_KTLS_UNEXPECTED_RECORD'
  /** A post-handshake handshake message longer than this stream buffers. */
  | 'ERR_KTLS_MESSAGE_TOO_LONG'
  /** The TCP stream ended in the middle of a handshake message. */
  | 'ERR_KTLS_TRUNCATED'
  /** The readiness watcher could not be set up on the fd. */
  | 'ERR_KTLS_POLL'
  /** A net.Socket still had Node reading it or a Node write in progress when it was adopted. */
  | 'ERR_KTLS_BUSY'
  /** The peer's alert: ERR_TLS_ALERT_<NAME>. */
  | `ERR_TLS_ALERT_${string}`;

export class KtlsStreamError extends Error {
  constructor(
    readonly code: KtlsStreamErrorCode,
    message: string,
    /** For a peer's alert: its name ('internal_error') and number (80). */
    readonly alert?: { name: string; code: number; level: number },
  ) {
    super(message);
    this.name = 'KtlsStreamError';
  }
}

const HANDSHAKE_KEY_UPDATE = 24;
const ALERT_WARNING = 1;
const ALERT_CLOSE_NOTIFY = 0;
const ALERT_USER_CANCELED = 90;
/** A NewSessionTicket carries a ticket of at most 2^16 bytes plus extensions; nothing else is longer. */
const MAX_HANDSHAKE_MESSAGE = 0x20000;
/** One read takes up to this much application data (the kernel joins consecutive data records). */
const READ_BUFFER = 65536;
const CLOSE_NOTIFY = Buffer.from([ALERT_WARNING, ALERT_CLOSE_NOTIFY]);

/** What the engine needs from the stream object it serves (a KtlsSocket or an adopted net.Socket). */
export interface EngineHost {
  /** Readable.push: false asks the engine to stop reading until the next read(). */
  push(chunk: Buffer | null): boolean;
  /** Destroy the stream with this error. */
  fail(err: Error): void;
  /** Data moved (restarts an idle timeout). */
  activity(): void;
}

interface PendingWrite {
  data: Buffer;
  offset: number;
  cb: (err?: Error | null) => void;
}

/** Counters a test or a curious caller can read. */
export interface KtlsStats {
  /** NewSessionTickets and other post-handshake handshake messages dropped. */
  handshakeMessagesDropped: number;
  /** Application-data bytes delivered. */
  bytesIn: number;
  /** Application-data bytes the kernel took. */
  bytesOut: number;
}

/** The record handling, readiness and write queue shared by KtlsSocket and adopted net.Sockets. */
export class KtlsEngine {
  readonly stats: KtlsStats = { handshakeMessagesDropped: 0, bytesIn: 0, bytesOut: 0 };
  closeNotifyReceived = false;
  closeNotifySent = false;
  private wantRead = false;
  private readEnded = false;
  private closed = false;
  private pending?: PendingWrite;
  private finalCb?: (err?: Error | null) => void;
  private readonly readiness: Readiness;
  /** Handshake-message bytes not yet complete (a message may span records). */
  private handshakeBuf = Buffer.alloc(0);
  private readBuf = Buffer.allocUnsafe(READ_BUFFER);

  constructor(
    private readonly source: RecordSource,
    private readonly host: EngineHost,
  ) {
    this.readiness = new Readiness(source.fd, (status, ev) => this.onPoll(status, ev));
  }

  /** The consumer wants data (Readable._read). */
  read(): void {
    if (this.closed || this.readEnded) return;
    this.wantRead = true;
    this.drain();
  }

  /** Readable side's _write: resolves `cb` once the kernel took every byte. */
  write(data: Buffer, cb: (err?: Error | null) => void): void {
    if (this.closed) {
      cb(new SysError('sendmsg', Errno.EBADF, 'the kTLS stream is closed'));
      return;
    }
    this.pending = { data, offset: 0, cb };
    this.flush();
  }

  /** Writable side's _final: our close_notify, then the TCP FIN. */
  final(cb: (err?: Error | null) => void): void {
    if (this.closed) {
      cb();
      return;
    }
    this.finalCb = cb;
    this.flush();
  }

  /** Stop watching; the fd itself belongs to whoever created the source. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readiness.close();
  }

  private drain(): void {
    while (this.wantRead && !this.closed && !this.readEnded) {
      let r: { type: number; length: number } | null | undefined;
      try {
        r = this.source.recv(this.readBuf);
      } catch (e) {
        this.fail(readError(e));
        return;
      }
      if (r === undefined) break;
      if (r === null) {
        if (this.handshakeBuf.length > 0) {
          this.fail(new KtlsStreamError('ERR_KTLS_TRUNCATED', `the peer closed the connection in the middle of a ${this.handshakeBuf.length}-byte handshake message`));
          return;
        }
        this.endReadable();
        return;
      }
      this.onRecord(r.type, r.length);
    }
    this.arm();
  }

  private onRecord(type: number, length: number): void {
    const bytes = this.readBuf.subarray(0, length);
    switch (type) {
      case RecordType.APPLICATION_DATA: {
        if (length === 0) return;
        // Hand the filled buffer over when it is mostly used; copy small reads out of it.
        let chunk: Buffer;
        if (length >= READ_BUFFER / 2) {
          chunk = bytes;
          this.readBuf = Buffer.allocUnsafe(READ_BUFFER);
        } else chunk = Buffer.from(bytes);
        this.stats.bytesIn += length;
        this.host.activity();
        if (!this.host.push(chunk)) this.wantRead = false;
        return;
      }
      case RecordType.HANDSHAKE:
        this.onHandshakeBytes(bytes);
        return;
      case RecordType.ALERT:
        this.onAlert(bytes);
        return;
      default:
        this.fail(new KtlsStreamError('ERR_KTLS_UNEXPECTED_RECORD', `the peer sent a record of content type ${type} after the handshake; TLS 1.3 allows only application data, handshake and alert records there`));
    }
  }

  private onHandshakeBytes(bytes: Buffer): void {
    this.handshakeBuf = this.handshakeBuf.length === 0 ? Buffer.from(bytes) : Buffer.concat([this.handshakeBuf, bytes]);
    while (this.handshakeBuf.length >= 4) {
      const msgType = this.handshakeBuf[0];
      const len = this.handshakeBuf.readUIntBE(1, 3);
      if (msgType === HANDSHAKE_KEY_UPDATE) {
        this.fail(
          new KtlsStreamError(
            'ERR_KTLS_KEY_UPDATE',
            'the peer sent a TLS KeyUpdate: its next records use a key derived from a traffic secret that only the handshake agent held, so this kTLS socket cannot read them; reconnect (peers that update keys after a byte or time limit need a new connection before it)',
          ),
        );
        return;
      }
      if (len > MAX_HANDSHAKE_MESSAGE) {
        this.fail(new KtlsStreamError('ERR_KTLS_MESSAGE_TOO_LONG', `the peer sent a post-handshake handshake message (type ${msgType}) of ${len} bytes; at most ${MAX_HANDSHAKE_MESSAGE} are accepted`));
        return;
      }
      if (this.handshakeBuf.length < 4 + len) return;
      // NewSessionTicket (type 4) is the common case; nothing else after the handshake is acted on.
      this.stats.handshakeMessagesDropped++;
      this.handshakeBuf = this.handshakeBuf.subarray(4 + len);
    }
  }

  private onAlert(bytes: Buffer): void {
    if (bytes.length !== 2) {
      this.fail(new KtlsStreamError('ERR_KTLS_UNEXPECTED_RECORD', `the peer sent an alert record of ${bytes.length} bytes; an alert is exactly 2`));
      return;
    }
    const [level, desc] = bytes;
    if (desc === ALERT_CLOSE_NOTIFY) {
      this.closeNotifyReceived = true;
      this.endReadable();
      return;
    }
    if (desc === ALERT_USER_CANCELED) return; // a close_notify follows
    const name = alertName(desc) ?? `alert_${desc}`;
    this.fail(
      new KtlsStreamError(`ERR_TLS_ALERT_${name.toUpperCase()}`, `the peer sent TLS alert ${name} (${desc})${level === ALERT_WARNING ? ' (marked warning, which TLS 1.3 treats as fatal)' : ''} and closed the TLS session`, {
        name,
        code: desc,
        level,
      }),
    );
  }

  private endReadable(): void {
    this.readEnded = true;
    this.wantRead = false;
    this.handshakeBuf = Buffer.alloc(0);
    this.arm();
    this.host.push(null);
  }

  private flush(): void {
    try {
      while (this.pending && !this.closed) {
        const p = this.pending;
        const n = this.source.send(p.offset === 0 ? p.data : p.data.subarray(p.offset));
        if (n === undefined) break;
        p.offset += n;
        this.stats.bytesOut += n;
        if (p.offset >= p.data.length) {
          this.pending = undefined;
          this.host.activity();
          p.cb();
        }
      }
      if (!this.pending && this.finalCb && !this.closed) {
        if (!this.closeNotifySent) {
          if (this.source.sendRecord(RecordType.ALERT, CLOSE_NOTIFY) === undefined) {
            this.arm();
            return;
          }
          this.closeNotifySent = true;
        }
        this.source.shutdownWrite();
        const cb = this.finalCb;
        this.finalCb = undefined;
        cb();
      }
    } catch (e) {
      const err = e as Error;
      const p = this.pending;
      const f = this.finalCb;
      this.pending = undefined;
      this.finalCb = undefined;
      if (p) p.cb(err);
      else if (f && this.closeNotifyReceived && isPeerGone(err)) f();
      else if (f) f(err);
      else this.fail(err);
      return;
    }
    this.arm();
  }

  private fail(err: Error): void {
    this.close();
    this.host.fail(err);
  }

  /** Start, change or stop the watcher to match what is wanted now. */
  private arm(): void {
    if (this.closed) return;
    try {
      this.readiness.want(this.wantRead && !this.readEnded, this.pending !== undefined || this.finalCb !== undefined);
    } catch (e) {
      this.fail(new KtlsStreamError('ERR_KTLS_POLL', `cannot watch the socket (fd ${this.source.fd}) for readiness: ${(e as Error).message}; was it still being read or written by Node?`));
    }
  }

  private onPoll(status: number, ev: PollEvents): void {
    if (this.closed) return;
    if (status < 0) {
      this.fail(new SysError('poll', -status, `kTLS socket fd ${this.source.fd}`));
      return;
    }
    if (ev.writable || ev.disconnect) this.flush();
    if (ev.readable || ev.disconnect) this.drain();
  }
}

/**
 * Our close_notify answers the peer's: if the peer has already closed the whole connection, the
 * answer cannot arrive and nothing is lost, so the end of the stream stays clean.
 */
function isPeerGone(e: Error): boolean {
  const code = (e as { code?: string }).code;
  return code === 'EPIPE' || code === 'ECONNRESET' || code === 'ENOTCONN';
}

function readError(e: unknown): Error {
  if (e instanceof SysError && e.code === 'EKEYEXPIRED') {
    return new KtlsStreamError('ERR_KTLS_KEY_UPDATE', 'the kernel stopped decrypting after a KeyUpdate from the peer (EKEYEXPIRED): the new key derives from a traffic secret only the handshake agent held; reconnect');
  }
  if (e instanceof SysError && e.code === 'EBADMSG') {
    e.message = `${e.message} (a record from the peer failed authentication: corrupted, forged, or encrypted with a key this socket does not have)`;
  }
  return e instanceof Error ? e : new Error(String(e));
}

export interface KtlsSocketOptions {
  /** Records from elsewhere than the kernel (tests); default: the kernel's kTLS socket. */
  source?: RecordSource;
  /** Close the fd when the stream is destroyed (default true). */
  ownsFd?: boolean;
  /** As on net.Socket: false (the default) ends our side when the peer ends theirs. */
  allowHalfOpen?: boolean;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

/**
 * A Duplex over a kTLS socket fd, with net.Socket's stream behaviour: write/end/destroy,
 * backpressure, half-close, pipe(), setTimeout, setNoDelay. See the header of this file for
 * what happens to each kind of record.
 */
export class KtlsSocket extends Duplex {
  readonly fd: number;
  private readonly engine: KtlsEngine;
  private readonly ownsFd: boolean;
  private timeoutMs = 0;
  private timer?: NodeJS.Timeout;

  constructor(fd: number, opts: KtlsSocketOptions = {}) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      readableHighWaterMark: opts.readableHighWaterMark,
      writableHighWaterMark: opts.writableHighWaterMark,
      decodeStrings: true,
    });
    this.fd = fd;
    this.ownsFd = opts.ownsFd ?? true;
    if (!opts.source) setNonBlocking(fd, true);
    this.engine = new KtlsEngine(opts.source ?? kernelRecordSource(fd), {
      push: (c) => this.push(c),
      fail: (e) => this.destroy(e),
      activity: () => this.timer?.refresh(),
    });
  }

  /** True once the peer's close_notify arrived (false if the TCP stream just ended). */
  get closeNotifyReceived(): boolean {
    return this.engine.closeNotifyReceived;
  }

  get stats(): Readonly<KtlsStats> {
    return this.engine.stats;
  }

  /** As net.Socket#setTimeout: 'timeout' after `ms` without data in either direction; 0 disables. */
  setTimeout(ms: number, cb?: () => void): this {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timeoutMs = ms;
    if (cb) {
      if (ms === 0) this.removeListener('timeout', cb);
      else this.once('timeout', cb);
    }
    if (ms > 0 && !this.destroyed) {
      this.timer = setTimeout(() => this.emit('timeout'), ms);
      this.timer.unref();
    }
    return this;
  }

  get timeout(): number {
    return this.timeoutMs;
  }

  setNoDelay(noDelay = true): this {
    setTcpNoDelay(this.fd, noDelay);
    return this;
  }

  override _read(): void {
    this.engine.read();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.engine.write(chunk, cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.engine.write(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.engine.final(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.engine.close();
    if (this.ownsFd) {
      try {
        closeFd(this.fd);
      } catch {
        // already closed by its owner: nothing to release
      }
    }
    cb(err);
  }
}

/** A stream over `fd`, a TCP socket with kTLS installed (status 0 from the agent). */
export function kTlsStream(fd: number, opts: KtlsSocketOptions = {}): KtlsSocket {
  return new KtlsSocket(fd, opts);
}

const adopted = new WeakMap<net.Socket, KtlsEngine>();

/**
 * For a net.Socket that requestHandshake switched to kTLS records: whether the peer's
 * close_notify came, and the counters. Undefined for any other socket (no kTLS, or an fd).
 */
export function kTlsState(socket: net.Socket): { closeNotifyReceived: boolean; closeNotifySent: boolean; stats: Readonly<KtlsStats> } | undefined {
  const e = adopted.get(socket);
  return e && { closeNotifyReceived: e.closeNotifyReceived, closeNotifySent: e.closeNotifySent, stats: e.stats };
}

type StreamCb = (err?: Error | null) => void;
type SocketChunk = { chunk: Buffer | string; encoding: BufferEncoding };
interface SocketStreamMethods {
  _read(n: number): void;
  _write(chunk: Buffer | string, enc: BufferEncoding, cb: StreamCb): void;
  _writev(chunks: SocketChunk[], cb: StreamCb): void;
  _final(cb: StreamCb): void;
  _destroy(err: Error | null, cb: StreamCb): void;
  _unrefTimer?: () => void;
}

/**
 * Make a connected net.Socket, whose fd now carries kTLS, read and write through a KtlsEngine
 * instead of libuv's read(2)/write(2): the same object keeps working for code written against
 * it (`sock.on('data')`, `sock.write`, `sock.end`, `setTimeout`, `pipe`). Node's own reading
 * must already be stopped and no write pending (requestHandshake ensures both): one fd can have
 * one libuv watcher, and from here on it is the engine's. The socket's handle keeps owning the
 * fd and closes it on destroy, after the engine has let go of it.
 */
export function adoptKtlsSocket(socket: net.Socket, source: RecordSource): KtlsEngine {
  const s = socket as unknown as SocketStreamMethods & { _handle?: { reading?: boolean; writeQueueSize?: number } };
  // libuv keeps one watcher per fd: a second one while Node still reads or writes the socket is
  // refused in a way koffi cannot report (the process aborts), so check before watching.
  const h = s._handle;
  if (h && (h.reading === true || (h.writeQueueSize ?? 0) > 0)) {
    const err = new KtlsStreamError('ERR_KTLS_BUSY', `the socket cannot switch to kTLS records: Node is still ${h.reading ? 'reading it' : `writing ${h.writeQueueSize} bytes to it`}; do not read or write it while the agent runs the handshake`);
    socket.destroy(err);
    throw err;
  }
  const socketDestroy = s._destroy;
  const engine = new KtlsEngine(source, {
    push: (c) => socket.push(c),
    fail: (e) => socket.destroy(e),
    activity: () => s._unrefTimer?.call(socket),
  });
  s._read = () => engine.read();
  // net.Socket keeps strings as strings (decodeStrings: false): encode them here.
  const bytes = (c: Buffer | string, enc: BufferEncoding): Buffer => (typeof c === 'string' ? Buffer.from(c, enc) : c);
  s._write = (chunk, enc, cb) => engine.write(bytes(chunk, enc), cb);
  s._writev = (chunks, cb) => engine.write(Buffer.concat(chunks.map((c) => bytes(c.chunk, c.encoding))), cb);
  s._final = (cb) => engine.final(cb);
  s._destroy = (err, cb) => {
    engine.close();
    socketDestroy.call(socket, err, cb);
  };
  adopted.set(socket, engine);
  // A read Node asked for before the handshake is still counted as in progress by the stream,
  // so it would never call _read again: start the engine reading now (it stops at highWaterMark).
  if (!socket.destroyed) engine.read();
  return engine;
}
