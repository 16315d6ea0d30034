/**
 * The two fd operations the fake kernel needs that Node lacks: dup (the kernel "installs" an fd
 * for ACCEPT; the fake dups the consumer's socket) and a socket check.
 *
 * TEMPORARY minimal koffi binding: src/sys/libc.ts (another engineer's) provides dup/isFdOpen
 * but was not committed when this was written; switch to it once it is.
 */
import fs from 'node:fs';
import koffi from 'koffi';

const F_DUPFD_CLOEXEC = 1030;
let fcntl: ((fd: number, cmd: number, arg: number) => number) | undefined;

/** A new fd ≥ 3 for the same open file, with O_CLOEXEC (as fd_install gives the agent). */
export function dupFd(fd: number): number {
  fcntl ??= koffi.load('libc.so.6').func('int fcntl(int fd, int cmd, int arg)') as (fd: number, cmd: number, arg: number) => number;
  const r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (r < 0) {
    const errno = koffi.errno();
    throw Object.assign(new Error(`fcntl(F_DUPFD_CLOEXEC) on fd ${fd} failed: errno ${errno}`), { errno, code: errno === 9 ? 'EBADF' : `E${errno}` });
  }
  return r;
}

export type FdKind = { open: false } | { open: true; socket: boolean; ino: number; dev: number };

/** Whether fd is open in this process and whether it is a socket; ino+dev identify the socket across dups. */
export function fdKind(fd: number): FdKind {
  if (!Number.isInteger(fd) || fd < 0) return { open: false };
  try {
    const st = fs.fstatSync(fd);
    return { open: true, socket: st.isSocket(), ino: st.ino, dev: st.dev };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EBADF') return { open: false };
    throw e;
  }
}

export function closeFd(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already closed by its user; the fake kernel's own copies must never throw on teardown.
  }
}
