/**
 * The one module of koffi bindings to libc. Everything in the agent that needs a syscall Node
 * does not offer goes through here (or through unix.ts / tls-record.ts, which call the functions
 * declared here, and keyctl.ts, which declares its syscall() shapes with `declareFunctions`), so
 * there is exactly one place that knows C prototypes, struct layouts and errno handling.
 *
 * Conventions: every wrapper is synchronous, retries EINTR where retrying is correct, and
 * throws SysError {errno, code, syscall} on failure. Layouts are for Linux x86-64 / arm64
 * (LP64, little-endian, glibc), the only targets the agent supports.
 */
import koffi from 'koffi';
import { Errno, errnoName } from './errno';

/** The shared libc handle; loaded once per process. */
export const libc = koffi.load('libc.so.6');

/** A bound C function, as declareFunctions gives it. */
export type CFunction = ReturnType<typeof libc.func>;

/** A failed system call: `code` is the errno name ('EBADF'), `syscall` the call that failed. */
export class SysError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;

  constructor(syscall: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    super(`${syscall}${detail ? ` (${detail})` : ''} failed: ${code}: ${strerror(errno)}`);
    this.name = 'SysError';
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }
}

export function strerror(errno: number): string {
  return String(C.strerror(errno));
}

/**
 * Turn a C return value into a result or a SysError. Calls `fn` again on EINTR (signals
 * delivered to the Node process, e.g. SIGCHLD from test peers, interrupt blocking calls).
 */
export function sysCall<T extends number | bigint>(syscall: string, fn: () => T, detail?: string): T {
  // No errno is an answer here: even a failure that left errno 0 is a SysError, never undefined.
  return sysCallUnless(undefined, syscall, fn, detail) as T;
}

/**
 * sysCall, except that failing with errno `expected` returns undefined instead of building a
 * SysError: for a failure that is an answer ("no such key") on a hot path, where an Error and
 * its stack trace per call cost more than the syscall.
 */
export function sysCallUnless<T extends number | bigint>(expected: number | undefined, syscall: string, fn: () => T, detail?: string): T | undefined {
  for (;;) {
    const ret = fn();
    if (Number(ret) >= 0) return ret;
    const errno = koffi.errno();
    if (errno === Errno.EINTR) continue;
    if (expected !== undefined && errno === expected) return undefined;
    throw new SysError(syscall, errno, detail);
  }
}

// --- constants (Linux) -------------------------------------------------------------------

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;

export const SOL_SOCKET = 1;
export const SO_TYPE = 3;
export const SO_SNDBUF = 7;
export const SO_PEERCRED = 17;
export const SO_PROTOCOL = 38;

export const IPPROTO_TCP = 6;
export const SOL_TCP = 6;
/** The socket option that attaches an upper-layer protocol ("tls") to a TCP socket. */
export const TCP_ULP = 31;
/** The socket-option level of kernel TLS (TLS_TX, TLS_RX and the record-type options). */
export const SOL_TLS = 282;
export const TCP_NODELAY = 1;

export const F_GETFD = 1;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_DUPFD_CLOEXEC = 1030;
export const FD_CLOEXEC = 1;
export const O_NONBLOCK = 0o4000;

export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;

export const FIONREAD = 0x541b;

/** setns(2) nstype for a network namespace. */
export const CLONE_NEWNET = 0x40000000;

// --- prototypes ----------------------------------------------------------------------------

/**
 * Binds C functions from a table of prototypes, each parsed once at load: the one way src/sys
 * declares a function it calls through koffi.
 */
export function declareFunctions<K extends string>(prototypes: Readonly<Record<K, string>>): Record<K, CFunction> {
  const out = {} as Record<K, CFunction>;
  for (const name of Object.keys(prototypes) as K[]) out[name] = libc.func(prototypes[name]);
  return out;
}

/** The libc functions of src/sys, each declared here only; unix.ts and tls-record.ts call them too. */
export const C = declareFunctions({
  strerror: 'const char *strerror(int errnum)',
  close: 'int close(int fd)',
  // fcntl and ioctl are variadic in C; on the LP64 Linux ABIs a fixed third argument is passed
  // exactly like the variadic one, and a fixed prototype lets koffi skip per-call type parsing.
  fcntl: 'int fcntl(int fd, int cmd, long arg)',
  ioctl: 'int ioctl(int fd, unsigned long request, void *arg)',
  getsockopt: 'int getsockopt(int fd, int level, int name, void *val, _Inout_ uint32_t *len)',
  setsockopt: 'int setsockopt(int fd, int level, int name, const void *val, uint32_t len)',
  getpeername: 'int getpeername(int fd, void *addr, _Inout_ uint32_t *len)',
  getsockname: 'int getsockname(int fd, void *addr, _Inout_ uint32_t *len)',
  socketpair: 'int socketpair(int domain, int type, int protocol, _Out_ int *sv)',
  socket: 'int socket(int domain, int type, int protocol)',
  bind: 'int bind(int fd, const void *addr, uint32_t len)',
  listen: 'int listen(int fd, int backlog)',
  connect: 'int connect(int fd, const void *addr, uint32_t len)',
  accept4: 'int accept4(int fd, void *addr, void *len, int flags)',
  recv: 'intptr_t recv(int fd, void *buf, size_t len, int flags)',
  send: 'intptr_t send(int fd, const void *buf, size_t len, int flags)',
  recvmsg: 'intptr_t recvmsg(int fd, void *msg, int flags)',
  sendmsg: 'intptr_t sendmsg(int fd, const void *msg, int flags)',
  shutdown: 'int shutdown(int fd, int how)',
  clock_gettime: 'int clock_gettime(int clk, void *ts)',
  setns: 'int setns(int fd, int nstype)',
  read: 'intptr_t read(int fd, void *buf, size_t count)',
  inotify_init1: 'int inotify_init1(int flags)',
  inotify_add_watch: 'int inotify_add_watch(int fd, const char *path, uint32_t mask)',
});

// --- file descriptors ----------------------------------------------------------------------

/**
 * close(2). Not retried on EINTR: Linux releases the fd before returning EINTR, and a retry
 * could close an fd another part of the process has just been given.
 */
export function close(fd: number): void {
  if (C.close(fd) < 0) {
    const errno = koffi.errno();
    if (errno !== Errno.EINTR) throw new SysError('close', errno, `fd ${fd}`);
  }
}

/** A new fd (≥ minFd, default 3 so stdio is never taken) for the same open file, with O_CLOEXEC. */
export function dup(fd: number, minFd = 3): number {
  return sysCall('fcntl(F_DUPFD_CLOEXEC)', () => C.fcntl(fd, F_DUPFD_CLOEXEC, minFd), `fd ${fd}`);
}

/**
 * setns(2): move the calling thread (only it) into the namespace `fd` refers to. EPERM without
 * CAP_SYS_ADMIN over the target's user namespace; EINVAL when fd is not a namespace of `nstype`.
 */
export function setns(fd: number, nstype: number, detail?: string): void {
  sysCall('setns', () => C.setns(fd, nstype), detail ?? `fd ${fd}`);
}

/** File-descriptor flags (FD_CLOEXEC). */
export function getFdFlags(fd: number): number {
  return sysCall('fcntl(F_GETFD)', () => C.fcntl(fd, F_GETFD, 0), `fd ${fd}`);
}

/**
 * File-status flags (O_NONBLOCK, …). Note these belong to the open file, not the fd: a dup()
 * and the kernel's own struct file share them (docs/kernel-interface.md).
 */
export function getStatusFlags(fd: number): number {
  return sysCall('fcntl(F_GETFL)', () => C.fcntl(fd, F_GETFL, 0), `fd ${fd}`);
}

export function setStatusFlags(fd: number, flags: number): void {
  sysCall('fcntl(F_SETFL)', () => C.fcntl(fd, F_SETFL, flags), `fd ${fd}`);
}

export function setNonBlocking(fd: number, on: boolean): void {
  const flags = getStatusFlags(fd);
  const next = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
  if (next !== flags) setStatusFlags(fd, next);
}

/** True when fd is an open descriptor of this process (fcntl F_GETFD does not fail with EBADF). */
export function isFdOpen(fd: number): boolean {
  if (!Number.isInteger(fd) || fd < 0) return false;
  if (C.fcntl(fd, F_GETFD, 0) >= 0) return true;
  const errno = koffi.errno();
  if (errno === Errno.EBADF) return false;
  throw new SysError('fcntl(F_GETFD)', errno, `fd ${fd}`);
}

/** ioctl(FIONREAD): bytes queued for reading on a socket (or pipe). */
export function bytesReadable(fd: number): number {
  const out = new Int32Array(1);
  sysCall('ioctl(FIONREAD)', () => C.ioctl(fd, FIONREAD, out), `fd ${fd}`);
  return out[0];
}

// --- socket options ------------------------------------------------------------------------

/**
 * Scratch for the int-valued socket options and socket names: every call is synchronous and
 * copies its answer out before returning, so one set per thread serves all (these run several
 * times per handshake).
 */
const optVal = new Int32Array(1);
const optLen = new Uint32Array(1);
const nameBuf = Buffer.alloc(128);

/** getsockopt for an int-valued option. */
export function getsockoptInt(fd: number, level: number, name: number): number {
  optLen[0] = 4;
  sysCall('getsockopt', () => C.getsockopt(fd, level, name, optVal, optLen), `fd ${fd} level ${level} option ${name}`);
  return optVal[0];
}

/** getsockopt returning the raw option bytes (at most maxLen). */
export function getsockoptBytes(fd: number, level: number, name: number, maxLen: number): Buffer {
  const val = Buffer.alloc(maxLen);
  const len = new Uint32Array([maxLen]);
  sysCall('getsockopt', () => C.getsockopt(fd, level, name, val, len), `fd ${fd} level ${level} option ${name}`);
  return val.subarray(0, Math.min(len[0], maxLen));
}

export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  optVal[0] = value;
  sysCall('setsockopt', () => C.setsockopt(fd, level, name, optVal, 4), `fd ${fd} level ${level} option ${name}`);
}

/** setsockopt with the exact bytes given (crypto_info structs, the "tls" ULP name). */
export function setsockoptBytes(fd: number, level: number, name: number, value: Buffer): void {
  sysCall(
    'setsockopt',
    () => C.setsockopt(fd, level, name, value, value.length),
    `fd ${fd} level ${level} option ${name}`,
  );
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** SO_PEERCRED: who is on the other end of a unix socket (as of connect()/socketpair()). */
export function getPeerCred(fd: number): PeerCred {
  const raw = getsockoptBytes(fd, SOL_SOCKET, SO_PEERCRED, 12);
  if (raw.length < 12) throw new SysError('getsockopt(SO_PEERCRED)', Errno.EINVAL, `short ucred (${raw.length} bytes)`);
  return { pid: raw.readInt32LE(0), uid: raw.readUInt32LE(4), gid: raw.readUInt32LE(8) };
}

/** SO_PROTOCOL: IPPROTO_TCP (6) for a TCP socket, 261 for in-kernel QUIC. */
export function getSocketProtocol(fd: number): number {
  return getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL);
}

/** SO_TYPE: SOCK_STREAM, SOCK_SEQPACKET, … */
export function getSocketType(fd: number): number {
  return getsockoptInt(fd, SOL_SOCKET, SO_TYPE);
}

export function setTcpNoDelay(fd: number, on: boolean): void {
  setsockoptInt(fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

export function getTcpNoDelay(fd: number): boolean {
  return getsockoptInt(fd, IPPROTO_TCP, TCP_NODELAY) !== 0;
}

// --- clocks --------------------------------------------------------------------------------

export const CLOCK_MONOTONIC = 1;

/** clock_gettime(2) in microseconds (struct timespec is two 64-bit fields on LP64). */
export function clockUsec(clock: number): bigint {
  const ts = new BigInt64Array(2);
  sysCall('clock_gettime', () => C.clock_gettime(clock, ts), `clock ${clock}`);
  return ts[0] * 1000000n + ts[1] / 1000n;
}

// --- addresses -----------------------------------------------------------------------------

export interface SockAddr {
  /** 'IPv4' | 'IPv6' as Node names them; 'unix' for AF_UNIX; 'AF_<n>' otherwise. */
  family: string;
  /** Dotted/colon address, a unix path, '@name' for an abstract unix name, '' if unnamed. */
  address: string;
  /** TCP/UDP port; 0 for unix sockets. */
  port: number;
  /** IPv6 scope id, when non-zero. */
  scopeId?: number;
}

const SOCKADDR_STORAGE = 128;

/** Decode a struct sockaddr of `len` bytes. */
export function parseSockaddr(buf: Buffer, len: number): SockAddr {
  if (len < 2) return { family: 'unix', address: '', port: 0 };
  const family = buf.readUInt16LE(0);
  if (family === AF_INET && len >= 8) {
    return { family: 'IPv4', address: Array.from(buf.subarray(4, 8)).join('.'), port: buf.readUInt16BE(2) };
  }
  if (family === AF_INET6 && len >= 24) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(8 + 2 * i).toString(16));
    const scopeId = len >= 28 ? buf.readUInt32LE(24) : 0;
    return {
      family: 'IPv6',
      address: compressIpv6(groups, buf.subarray(8, 24)),
      port: buf.readUInt16BE(2),
      ...(scopeId ? { scopeId } : {}),
    };
  }
  if (family === AF_UNIX) {
    const path = buf.subarray(2, len);
    if (path.length === 0) return { family: 'unix', address: '', port: 0 };
    if (path[0] === 0) return { family: 'unix', address: '@' + path.subarray(1).toString('latin1'), port: 0 };
    const nul = path.indexOf(0);
    return { family: 'unix', address: path.subarray(0, nul < 0 ? path.length : nul).toString(), port: 0 };
  }
  return { family: `AF_${family}`, address: '', port: 0 };
}

/** RFC 5952 text form: longest run (≥ 2) of zero groups becomes '::'; v4-mapped as ::ffff:a.b.c.d. */
function compressIpv6(groups: string[], raw: Buffer): string {
  if (raw.subarray(0, 10).every((b) => b === 0) && raw[10] === 0xff && raw[11] === 0xff) {
    return `::ffff:${Array.from(raw.subarray(12, 16)).join('.')}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

function nameOf(syscall: string, fn: CFunction, fd: number): SockAddr {
  optLen[0] = SOCKADDR_STORAGE;
  sysCall(syscall, () => fn(fd, nameBuf, optLen), `fd ${fd}`);
  // parseSockaddr copies everything out of the scratch buffer (numbers and new strings).
  return parseSockaddr(nameBuf, Math.min(optLen[0], SOCKADDR_STORAGE));
}

/** The remote address of a connected socket (ENOTCONN if not connected). */
export function getpeername(fd: number): SockAddr {
  return nameOf('getpeername', C.getpeername, fd);
}

export function getsockname(fd: number): SockAddr {
  return nameOf('getsockname', C.getsockname, fd);
}

// --- sockets -------------------------------------------------------------------------------

/** socketpair(2); pass SOCK_CLOEXEC (and SOCK_NONBLOCK) in `type` as wanted. */
export function socketpair(domain: number, type: number, protocol = 0): [number, number] {
  const sv = new Int32Array(2);
  sysCall('socketpair', () => C.socketpair(domain, type, protocol, sv));
  return [sv[0], sv[1]];
}

/** recv(2) into buf; returns the byte count (0 = orderly EOF). EAGAIN is thrown as SysError. */
export function recv(fd: number, buf: Buffer, flags = 0): number {
  return Number(sysCall('recv', () => C.recv(fd, buf, buf.length, flags), `fd ${fd}`));
}

/** send(2) of the whole buffer or less; returns the byte count. MSG_NOSIGNAL is always added. */
export function send(fd: number, buf: Buffer, flags = 0): number {
  return Number(sysCall('send', () => C.send(fd, buf, buf.length, flags | MSG_NOSIGNAL), `fd ${fd}`));
}

/**
 * recv(2) without blocking, failure as -errno instead of a throw: the per-record read path,
 * where EAGAIN is the ordinary "wait for readiness" answer and building a SysError (with its
 * strerror text) for it would cost more than the call. EINTR is retried.
 */
export function recvNoWait(fd: number, buf: Uint8Array): number {
  for (;;) {
    const n = Number(C.recv(fd, buf, buf.length, MSG_DONTWAIT));
    if (n >= 0) return n;
    const errno = koffi.errno();
    if (errno !== Errno.EINTR) return -errno;
  }
}

/** send(2) without blocking and without SIGPIPE, failure as -errno (see recvNoWait). */
export function sendNoWait(fd: number, buf: Uint8Array): number {
  for (;;) {
    const n = Number(C.send(fd, buf, buf.length, MSG_DONTWAIT | MSG_NOSIGNAL));
    if (n >= 0) return n;
    const errno = koffi.errno();
    if (errno !== Errno.EINTR) return -errno;
  }
}

/** socket(2). */
export function socket(domain: number, type: number, protocol = 0): number {
  return sysCall('socket', () => C.socket(domain, type, protocol));
}

/** struct sockaddr_in for a dotted IPv4 address. */
export function inet4Address(address: string, port: number): Buffer {
  const parts = address.split('.').map((p) => Number.parseInt(p, 10));
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) {
    throw new SysError('inet4Address', Errno.EINVAL, `not an IPv4 address: ${address}`);
  }
  const buf = Buffer.alloc(16);
  buf.writeUInt16LE(AF_INET, 0);
  buf.writeUInt16BE(port, 2);
  Buffer.from(parts).copy(buf, 4);
  return buf;
}

/** bind(2) to an encoded sockaddr (inet4Address, unixAddress in unix.ts). */
export function bindAddr(fd: number, addr: Buffer): void {
  sysCall('bind', () => C.bind(fd, addr, addr.length), `fd ${fd}`);
}

export function listen(fd: number, backlog = 128): void {
  sysCall('listen', () => C.listen(fd, backlog), `fd ${fd}`);
}

/** connect(2); on a blocking socket this blocks the thread (fine for loopback probes only). */
export function connectAddr(fd: number, addr: Buffer): void {
  sysCall('connect', () => C.connect(fd, addr, addr.length), `fd ${fd}`);
}

/** accept4(2) with SOCK_CLOEXEC plus `flags`. */
export function accept(fd: number, flags = 0): number {
  return sysCall('accept4', () => C.accept4(fd, null, null, SOCK_CLOEXEC | flags), `fd ${fd}`);
}

/**
 * A connected loopback TCP pair [client, server], made synchronously with blocking syscalls
 * (a loopback connect to a listening socket completes without waiting on the network).
 */
export function tcpLoopbackPair(): [number, number] {
  const lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC);
  let cfd = -1;
  try {
    bindAddr(lfd, inet4Address('127.0.0.1', 0));
    listen(lfd, 1);
    const port = getsockname(lfd).port;
    cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC);
    connectAddr(cfd, inet4Address('127.0.0.1', port));
    const sfd = accept(lfd);
    return [cfd, sfd];
  } catch (e) {
    if (cfd >= 0) close(cfd);
    throw e;
  } finally {
    close(lfd);
  }
}
