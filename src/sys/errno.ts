/**
 * errno numbers and names (Linux x86-64 / arm64 generic ABI): the one table every layer names
 * errnos from. A small table instead of a dependency: the agent only ever needs the errnos its
 * syscalls and the handshake family can return, and Node's os.constants.errno lacks the keyring
 * errnos (ENOKEY, EKEYEXPIRED, …). Names outside the table fall back to os.constants.errno so a
 * kernel reply with any errno still renders with its name.
 */
import os from 'node:os';

export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOSPC: 28,
  EPIPE: 32,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENODATA: 61,
  EPROTO: 71,
  EBADMSG: 74,
  EUSERS: 87,
  EMSGSIZE: 90,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EALREADY: 114,
  EINPROGRESS: 115,
  ENOKEY: 126,
  EKEYEXPIRED: 127,
  EKEYREVOKED: 128,
  EKEYREJECTED: 129,
} as const;

export type ErrnoName = keyof typeof Errno;

const NAMES = new Map<number, string>(Object.entries(Errno).map(([name, num]) => [num, name]));
// os.constants.errno has aliases (EWOULDBLOCK = EAGAIN, ENOTSUP = EOPNOTSUPP): the table's name wins, then the first one.
for (const [name, num] of Object.entries(os.constants.errno)) if (!NAMES.has(num)) NAMES.set(num, name);

/** 'EBADF' for 9 (or -9, as netlink carries it); 'E<number>' for an unnamed errno, so a code is always present. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  return NAMES.get(n) ?? `E${n}`;
}

/** 11 for 'EAGAIN'; undefined for an unknown name. */
export function errnoNumber(name: string): number | undefined {
  return (Errno as Record<string, number>)[name] ?? (os.constants.errno as Record<string, number | undefined>)[name];
}
