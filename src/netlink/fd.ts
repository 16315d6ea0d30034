/**
 * The fd operations the fake kernel needs: dup (the kernel "installs" an fd for ACCEPT; the
 * fake dups the consumer's socket; libc binding from src/sys) and a socket check (fstat).
 */
import fs from 'node:fs';
import { dup } from '../sys/libc';

/** A new fd ≥ 3 for the same open file, with O_CLOEXEC (as fd_install gives the agent). Throws SysError. */
export function dupFd(fd: number): number {
  return dup(fd, 3);
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
