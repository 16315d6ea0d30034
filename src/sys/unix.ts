/**
 * AF_UNIX SOCK_SEQPACKET sockets with SCM_RIGHTS, for the unix transport and the companion.
 * Node has no SEQPACKET sockets and cannot pass fds, so these are raw syscalls through koffi.
 *
 * Readiness: each socket is watched with koffi's `node.poll()`, which is a libuv `uv_poll_t`
 * on Node's own event loop (the same epoll that serves net.Socket). Alternatives considered:
 *  - a blocking `recvmsg.async` per connection on koffi's worker pool: one parked worker per
 *    idle connection, so a handful of idle consumers would exhaust the pool and stall all other
 *    async calls;
 *  - one poll()/epoll_wait() loop called through `.async`, woken by an eventfd when the fd set
 *    changes: works, but re-implements what libuv already does and costs a thread hop per event;
 *  - a worker_thread: fds are process-wide so it could do the I/O, but every message and every
 *    fd would have to be posted back to the main thread.
 * uv_poll costs nothing per idle socket, wakes up on the loop thread (so the handlers can use the
 * sync wrappers below directly), and is level-triggered: a handler that stops after a batch of
 * messages is called again on the next loop turn, so one busy or stalled peer cannot starve the
 * others. Sockets are non-blocking; a peer that does not read makes our sends queue (EAGAIN →
 * wait for writable), it never blocks the loop. (koffi documents node.poll as new API; it is
 * used only here, behind watchFd(), so it can be swapped for one of the alternatives.)
 *
 * fd ownership: a SeqpacketConn owns its socket fd. Fds received with SCM_RIGHTS are owned by
 * the receiver of the 'message' event (they arrive with O_CLOEXEC); fds passed to send() stay
 * owned by the caller, who may close them once send()'s promise settles.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import koffi from 'koffi';
import { Errno } from './errno';
import { buildMsghdr, cmsgLen, encodeCmsg, parseCmsgs, receivedControlLength, receivedFlags, resetForReceive, type RawMsghdr } from './msghdr';
import {
  AF_UNIX,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  C,
  SysError,
  close,
  getPeerCred,
  getsockname,
  sysCall,
  type PeerCred,
} from './libc';

const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CTRUNC = 0x8;
const MSG_CMSG_CLOEXEC = 0x40000000;
/** Kernel limit on fds in one SCM_RIGHTS message (SCM_MAX_FD). */
export const SCM_MAX_FD = 253;
const UNIX_PATH_MAX = 108;


// --- addresses -------------------------------------------------------------------------------

/**
 * struct sockaddr_un for a path, or for an abstract name written '@name' (leading NUL on the
 * wire; the length covers exactly the name, no trailing NUL, as ss/netstat print it).
 */
export function unixAddress(name: string): Buffer {
  const abstract = name.startsWith('@');
  const bytes = abstract ? Buffer.concat([Buffer.from([0]), Buffer.from(name.slice(1))]) : Buffer.from(name);
  if (bytes.length === 0) throw new SysError('unixAddress', Errno.EINVAL, 'empty socket name');
  if (bytes.length + (abstract ? 0 : 1) > UNIX_PATH_MAX) {
    throw new SysError('unixAddress', Errno.ENAMETOOLONG, `socket name longer than ${UNIX_PATH_MAX - 1} bytes: ${name}`);
  }
  const addr = Buffer.alloc(2 + bytes.length + (abstract ? 0 : 1));
  addr.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(addr, 2);
  return addr;
}

// --- raw syscalls ----------------------------------------------------------------------------

/** socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK). */
export function seqpacketSocket(): number {
  return sysCall('socket(AF_UNIX, SOCK_SEQPACKET)', () => C.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
}

export function bind(fd: number, name: string): void {
  const addr = unixAddress(name);
  sysCall('bind', () => C.bind(fd, addr, addr.length), name);
}

export function listen(fd: number, backlog = 128): void {
  sysCall('listen', () => C.listen(fd, backlog));
}

/** accept4 with CLOEXEC|NONBLOCK; undefined when no connection is pending (EAGAIN). */
export function accept(fd: number): number | undefined {
  for (;;) {
    const ret = C.accept4(fd, null, null, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (ret >= 0) return ret;
    const errno = koffi.errno();
    if (errno === Errno.EINTR || errno === Errno.ECONNABORTED) continue;
    if (errno === Errno.EAGAIN) return undefined;
    throw new SysError('accept4', errno);
  }
}

/**
 * connect(2) without blocking the event loop. A unix connect completes at once unless the
 * listener's backlog is full; a non-blocking socket then fails with EAGAIN and gets no
 * completion event, so we retry with a growing delay until `timeoutMs` (→ ETIMEDOUT).
 * (A blocking connect on koffi's worker pool would also work, but errno is not reliably
 * reported back from koffi's async calls.)
 */
export async function connect(fd: number, name: string, timeoutMs = 5000): Promise<void> {
  const addr = unixAddress(name);
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    if (C.connect(fd, addr, addr.length) === 0) return;
    const errno = koffi.errno();
    if (errno === Errno.EINTR) continue;
    if (errno !== Errno.EAGAIN) throw new SysError('connect', errno, name);
    if (Date.now() >= deadline) throw new SysError('connect', Errno.ETIMEDOUT, `${name}: listen backlog stayed full`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}

export interface ReceivedMessage {
  data: Buffer;
  /** Received fds, owned by the caller (O_CLOEXEC). Always empty when truncated. */
  fds: number[];
  /** The data or the control part did not fit (MSG_TRUNC / MSG_CTRUNC); any fds were closed. */
  truncated: boolean;
  /** MSG_TRUNC: the data was longer than the buffer. */
  dataTruncated: boolean;
  /**
   * MSG_CTRUNC: not every fd the sender attached arrived. Either more were sent than the control
   * buffer holds, or the kernel could not install them in our fd table (EMFILE/ENFILE) and dropped
   * them: `fdsReceived` below the maximum asked for means the second.
   */
  controlTruncated: boolean;
  /** How many fds the kernel installed before truncation (they were closed). */
  fdsReceived: number;
}

/**
 * sendmsg(2) with an optional SCM_RIGHTS control message. Returns the bytes sent (a SEQPACKET
 * message goes whole or not at all); throws SysError, EAGAIN included.
 */
export function sendmsg(fd: number, data: Buffer, fds: readonly number[] = [], flags = 0): number {
  if (fds.length > SCM_MAX_FD) throw new SysError('sendmsg', Errno.EINVAL, `${fds.length} fds (max ${SCM_MAX_FD})`);
  let control: Buffer | undefined;
  if (fds.length > 0) {
    const rights = Buffer.alloc(4 * fds.length);
    fds.forEach((f, i) => rights.writeInt32LE(f, 4 * i));
    control = encodeCmsg(SOL_SOCKET, SCM_RIGHTS, rights);
  }
  const m = buildMsghdr(data, control);
  const sent = sysCall('sendmsg', () => C.sendmsg(fd, m.msg, flags | MSG_NOSIGNAL | MSG_DONTWAIT), `fd ${fd}`);
  m.touch();
  return Number(sent);
}

/**
 * The receive buffer, control buffer and msghdr of recvmsg on one socket, made once per
 * connection: a zero-filled 64 KiB Buffer and a msghdr per call (at least two calls per
 * readable event, the second answering EAGAIN) were allocation and GC work on every request.
 * What recvmsg returns is copied out of it. Its sizes are the only ones recvmsg reads by.
 */
export interface RecvScratch {
  /** The largest message read whole; a larger one arrives truncated to this. */
  readonly maxLen: number;
  readonly buf: Buffer;
  readonly m: RawMsghdr;
}

/** Room for one message of up to `maxLen` bytes carrying up to `maxFds` fds. */
export function recvScratch(maxLen = 65536, maxFds = 16): RecvScratch {
  const buf = Buffer.allocUnsafeSlow(Math.max(1, maxLen));
  // The kernel delivers as many fds as fit in msg_controllen, so size it exactly, not aligned.
  return { maxLen, buf, m: buildMsghdr(buf, Buffer.alloc(cmsgLen(4 * maxFds)), maxLen) };
}

/**
 * recvmsg(2) of one message into `scratch` (default: one made for this call, 64 KiB and 16 fds),
 * always with MSG_CMSG_CLOEXEC. Returns undefined when nothing is queued (EAGAIN), null at end
 * of stream (a zero-length read without control data: the unix transport never sends empty
 * messages).
 */
export function recvmsg(fd: number, scratch: RecvScratch = recvScratch()): ReceivedMessage | null | undefined {
  const { maxLen, buf, m } = scratch;
  resetForReceive(m);
  let n: number;
  for (;;) {
    n = Number(C.recvmsg(fd, m.msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT));
    if (n >= 0) break;
    const errno = koffi.errno();
    if (errno === Errno.EINTR) continue;
    if (errno === Errno.EAGAIN) return undefined;
    throw new SysError('recvmsg', errno, `fd ${fd}`);
  }
  m.touch();
  const msgFlags = receivedFlags(m);
  const fds = parseRights(m.control!, receivedControlLength(m));
  const dataTruncated = (msgFlags & MSG_TRUNC) !== 0;
  const controlTruncated = (msgFlags & MSG_CTRUNC) !== 0;
  const truncated = dataTruncated || controlTruncated;
  if (n === 0 && fds.length === 0 && !truncated) return null;
  if (truncated) {
    // The transport cannot trust a partial request; fds it will never use must not leak.
    for (const f of fds) closeQuietly(f);
    return { data: Buffer.from(buf.subarray(0, Math.min(n, maxLen))), fds: [], truncated, dataTruncated, controlTruncated, fdsReceived: fds.length };
  }
  return { data: Buffer.from(buf.subarray(0, n)), fds, truncated, dataTruncated, controlTruncated, fdsReceived: fds.length };
}

/** All fds from every SCM_RIGHTS cmsg in the first `len` bytes of a control buffer. */
function parseRights(control: Buffer, len: number): number[] {
  const fds: number[] = [];
  for (const c of parseCmsgs(control, len)) {
    if (c.level !== SOL_SOCKET || c.type !== SCM_RIGHTS) continue;
    for (let p = 0; p + 4 <= c.data.length; p += 4) fds.push(c.data.readInt32LE(p));
  }
  return fds;
}

function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // already gone: nothing left to release
  }
}

// --- readiness ---------------------------------------------------------------------------------

export interface PollEvents {
  readable: boolean;
  writable: boolean;
  disconnect: boolean;
}

export interface FdWatcher {
  start(opts: { readable?: boolean; writable?: boolean }, cb: (status: number, ev: PollEvents) => void): void;
  stop(): void;
  close(): void;
  unref(): void;
  ref(): void;
}

// koffi's typings declare the callback as (events); the native side calls (status, events).
type PollFn = (
  fd: number,
  opts: { readable?: boolean; writable?: boolean },
  cb: (status: number, ev: PollEvents) => void,
) => FdWatcher;

/** Start watching fd on the Node event loop (see the header comment for why this mechanism). */
export function watchFd(fd: number, opts: { readable?: boolean; writable?: boolean }, cb: (status: number, ev: PollEvents) => void): FdWatcher {
  const poll = koffi.node.poll as unknown as PollFn;
  const w = poll(fd, opts, cb);
  if (!w) throw new SysError('uv_poll_start', Errno.EINVAL, `fd ${fd}`);
  return w;
}

/**
 * One fd's watcher, armed for exactly the events its owner wants now: want() starts, changes or
 * stops it only when that set changes, so a busy loop of calls costs nothing. close() must come
 * before the fd is closed, so that libuv forgets it (epoll_ctl DEL) before the number is reused.
 */
export class Readiness {
  private watcher: FdWatcher | undefined;
  /** Events the watcher is started with: bit 1 readable, bit 2 writable; 0 = stopped. */
  private watching = 0;
  private refed = true;

  constructor(
    private readonly fd: number,
    private readonly cb: (status: number, ev: PollEvents) => void,
  ) {}

  /** Throws when libuv refuses the fd (watchFd). */
  want(readable: boolean, writable: boolean): void {
    const want = (readable ? 1 : 0) | (writable ? 2 : 0);
    if (want === this.watching) return;
    this.watching = want;
    if (want === 0) this.watcher?.stop();
    else if (this.watcher) this.watcher.start({ readable, writable }, this.cb);
    else {
      this.watcher = watchFd(this.fd, { readable, writable }, this.cb);
      if (!this.refed) this.watcher.unref();
    }
  }

  /** Let the process exit while the watcher is armed. */
  unref(): void {
    this.refed = false;
    this.watcher?.unref();
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.watching = 0;
  }
}

// --- connections -------------------------------------------------------------------------------

export type SeqpacketMessage = ReceivedMessage;

export interface SeqpacketConnOptions {
  /** Largest message accepted; longer ones arrive with truncated=true (default 65536). */
  maxMessage?: number;
  /** Most fds accepted in one message; more → truncated (default 16). */
  maxFds?: number;
  /** Messages handled per readiness event before yielding to other sockets (default 32). */
  batch?: number;
}

interface PendingSend {
  data: Buffer;
  fds: readonly number[];
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * One SEQPACKET connection. Events: 'message' (SeqpacketMessage), 'close' (error?: Error).
 * 'close' is emitted once, after the fd is closed; an error there means the connection failed
 * (e.g. ECONNRESET), not that the peer closed it cleanly.
 */
export class SeqpacketConn extends EventEmitter {
  readonly fd: number;
  /** Credentials of the peer process, taken when the connection was made (SO_PEERCRED). */
  readonly peerCred: PeerCred;
  private readonly readiness: Readiness;
  private readonly sendQueue: PendingSend[] = [];
  private paused = false;
  private closed = false;
  /** Made on the first read: connections that are never read from do not hold a buffer. */
  private scratch?: RecvScratch;
  private readonly makeScratch: () => RecvScratch;
  private readonly batch: number;

  constructor(fd: number, opts: SeqpacketConnOptions = {}) {
    super();
    this.fd = fd;
    this.readiness = new Readiness(fd, (status, ev) => this.onPoll(status, ev));
    this.makeScratch = () => recvScratch(opts.maxMessage, opts.maxFds);
    this.batch = opts.batch ?? 32;
    this.peerCred = getPeerCred(fd);
    // Start on the next tick so the creator can attach 'message' listeners first.
    process.nextTick(() => this.arm());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Messages waiting for the peer to make room (it is not reading). */
  get queuedSends(): number {
    return this.sendQueue.length;
  }

  /** Stop reading (messages stay queued in the kernel; the peer sees backpressure). */
  pause(): void {
    this.paused = true;
    this.arm();
  }

  resume(): void {
    this.paused = false;
    this.arm();
  }

  /**
   * Send one message, with fds attached via SCM_RIGHTS. Resolves when the kernel took it;
   * messages are sent in call order. The caller keeps its fds and may close them afterwards.
   */
  send(data: Buffer, fds: readonly number[] = []): Promise<void> {
    if (this.closed) return Promise.reject(new SysError('sendmsg', Errno.EBADF, 'connection closed'));
    return new Promise<void>((resolve, reject) => {
      this.sendQueue.push({ data, fds, resolve, reject });
      if (this.sendQueue.length === 1) this.flush();
    });
  }

  /** Close the socket now. Queued sends are rejected. */
  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.readiness.close();
    closeQuietly(this.fd);
    const pending = this.sendQueue.splice(0);
    for (const p of pending) p.reject(err ?? new SysError('sendmsg', Errno.EPIPE, 'connection closed'));
    this.emit('close', err);
  }

  /** Let the process exit even while this connection is open. */
  unref(): void {
    this.readiness.unref();
  }

  private flush(): void {
    while (this.sendQueue.length > 0 && !this.closed) {
      const p = this.sendQueue[0];
      try {
        sendmsg(this.fd, p.data, p.fds);
      } catch (e) {
        if (e instanceof SysError && e.code === 'EAGAIN') {
          this.arm(); // wait for writable
          return;
        }
        this.sendQueue.shift();
        p.reject(e as Error);
        continue;
      }
      this.sendQueue.shift();
      p.resolve();
    }
    this.arm();
  }

  /** Watch for what is wanted now: reads unless paused, writes while sends are queued. */
  private arm(): void {
    if (this.closed) return;
    this.readiness.want(!this.paused, this.sendQueue.length > 0);
  }

  private onPoll(status: number, ev: PollEvents): void {
    if (this.closed) return;
    if (status < 0) {
      this.close(new SysError('poll', -status, `fd ${this.fd}`));
      return;
    }
    if (ev.writable && this.sendQueue.length > 0) this.flush();
    if (ev.readable && !this.paused) this.readBatch();
  }

  private readBatch(): void {
    for (let i = 0; i < this.batch && !this.paused && !this.closed; i++) {
      let m: ReceivedMessage | null | undefined;
      try {
        this.scratch ??= this.makeScratch();
        m = recvmsg(this.fd, this.scratch);
      } catch (e) {
        this.close(e as Error);
        return;
      }
      if (m === undefined) return;
      if (m === null) {
        this.close();
        return;
      }
      if (this.listenerCount('message') === 0) {
        for (const f of m.fds) closeQuietly(f);
        continue;
      }
      this.emit('message', m);
    }
  }
}

// --- server and client -----------------------------------------------------------------------

export interface SeqpacketServerOptions extends SeqpacketConnOptions {
  backlog?: number;
  /** File mode for a path socket (e.g. 0o660); abstract names have no mode. */
  mode?: number;
  /** Remove an existing socket file at the path before binding (stale from a previous run). */
  replace?: boolean;
}

/**
 * A listening SEQPACKET socket. Events: 'connection' (SeqpacketConn), 'error' (accept failures
 * other than EAGAIN, only if someone listens; accepting pauses for 100 ms after one so EMFILE
 * does not spin the loop).
 */
export class SeqpacketServer extends EventEmitter {
  readonly fd: number;
  /** The name as given: a path or '@abstract'. */
  readonly name: string;
  private watcher: FdWatcher | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly opts: SeqpacketServerOptions;
  /** Inode of the socket file we created, so close() never unlinks a successor's socket. */
  private readonly ino: number | undefined;

  private constructor(fd: number, name: string, opts: SeqpacketServerOptions) {
    super();
    this.fd = fd;
    this.name = name;
    this.opts = opts;
    this.ino = name.startsWith('@') ? undefined : fs.lstatSync(name).ino;
    this.watcher = watchFd(fd, { readable: true }, (status) => this.onReadable(status));
  }

  static listen(name: string, opts: SeqpacketServerOptions = {}): SeqpacketServer {
    const isPath = !name.startsWith('@');
    if (isPath && opts.replace) removeStaleSocket(name);
    const fd = seqpacketSocket();
    let bound = false;
    try {
      bind(fd, name);
      bound = true;
      if (isPath && opts.mode !== undefined) fs.chmodSync(name, opts.mode);
      listen(fd, opts.backlog ?? 128);
    } catch (e) {
      closeQuietly(fd);
      if (bound && isPath) fs.rmSync(name, { force: true }); // the socket file we just made
      throw e;
    }
    return new SeqpacketServer(fd, name, opts);
  }

  /** The bound address as the kernel reports it. */
  address(): string {
    return getsockname(this.fd).address;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.watcher?.close();
    this.watcher = undefined;
    closeQuietly(this.fd);
    if (this.ino !== undefined) {
      try {
        if (fs.lstatSync(this.name).ino === this.ino) fs.unlinkSync(this.name);
      } catch {
        // already removed by someone else: nothing to clean up
      }
    }
    this.emit('close');
  }

  unref(): void {
    this.watcher?.unref();
  }

  private onReadable(status: number): void {
    if (this.closed) return;
    if (status < 0) {
      this.failAccept(new SysError('poll', -status, `fd ${this.fd}`));
      return;
    }
    for (let i = 0; i < 64; i++) {
      let fd: number | undefined;
      try {
        fd = accept(this.fd);
      } catch (e) {
        this.failAccept(e as Error);
        return;
      }
      if (fd === undefined) return;
      let conn: SeqpacketConn;
      try {
        conn = new SeqpacketConn(fd, this.opts);
      } catch (e) {
        closeQuietly(fd);
        if (this.listenerCount('error') > 0) this.emit('error', e);
        continue;
      }
      if (this.listenerCount('connection') === 0) conn.close();
      else this.emit('connection', conn);
    }
  }

  private failAccept(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.watcher?.stop();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.watcher?.start({ readable: true }, (status: number) => this.onReadable(status));
    }, 100);
  }
}

function removeStaleSocket(path: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new SysError('bind', Errno.EEXIST, `${path} exists and is not a socket; refusing to remove it`);
  }
  fs.unlinkSync(path);
}

export class SeqpacketClient {
  /** Connect to a path or '@abstract' name. */
  static async connect(name: string, opts: SeqpacketConnOptions = {}): Promise<SeqpacketConn> {
    const fd = seqpacketSocket();
    try {
      await connect(fd, name);
      return new SeqpacketConn(fd, opts);
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
  }
}
