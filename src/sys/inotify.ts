/**
 * "Did anything under these paths change?" answered by one non-blocking read(2) of an inotify
 * descriptor, for checks on a hot path (the identity files' rotation check before each
 * handshake, src/agent/daemon.ts). The kernel queues an inotify event before the write, rename
 * or unlink that caused it returns, so a change that happened before a check is always seen by
 * it: nothing is delayed, unlike a check limited by time.
 *
 * What is watched, for each path: the directory holding it (a file replaced by rename, created
 * or removed), the path itself when it exists (written in place; for a directory, files added
 * to or removed from it), and, for every symbolic link met while resolving the path (in any of
 * its components), the directory holding that link, so that swapping a link (the way
 * Kubernetes and certbot publish a new certificate) is seen too. An answer of "changed" may be
 * a false alarm (another file in a watched directory): the caller then compares what it really
 * depends on.
 */
import fs from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';
import { Errno } from './errno';
import { C, close, sysCall } from './libc';

const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
const IN_DONT_FOLLOW = 0x2000000;
/** The events that can mean a watched file's content or name changed (inotify(7) mask bits). */
const WATCHED_EVENTS = {
  IN_MODIFY: 0x2,
  IN_ATTRIB: 0x4,
  IN_CLOSE_WRITE: 0x8,
  IN_MOVED_FROM: 0x40,
  IN_MOVED_TO: 0x80,
  IN_CREATE: 0x100,
  IN_DELETE: 0x200,
  IN_DELETE_SELF: 0x400,
  IN_MOVE_SELF: 0x800,
} as const;
const EVENTS = Object.values(WATCHED_EVENTS).reduce((mask, bit) => mask | bit, 0);
/** Symbolic links followed while resolving one path, as the kernel's own limit (ELOOP). */
const MAX_LINKS = 40;

export class PathWatch {
  private readonly buf = Buffer.allocUnsafeSlow(4096);
  private fd: number | undefined;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /**
   * Watches `paths` (see the module comment). Throws when inotify is not available or a watch
   * cannot be added (the per-user watch limit): the caller then checks the slow way.
   */
  static of(paths: readonly string[]): PathWatch {
    const fd = sysCall('inotify_init1', () => C.inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    try {
      const add = (p: string): void => {
        sysCall('inotify_add_watch', () => C.inotify_add_watch(fd, p, EVENTS | IN_DONT_FOLLOW), p);
      };
      const dirs = new Set<string>();
      for (const p of paths) {
        const { watchDirs, target } = resolveWatched(p);
        for (const d of watchDirs) dirs.add(d);
        if (target !== undefined) dirs.add(target);
      }
      for (const d of dirs) {
        try {
          add(d);
        } catch (e) {
          // A directory that does not exist (yet) cannot change under us: its parent is watched.
          if ((e as { code?: string }).code !== 'ENOENT') throw e;
        }
      }
      return new PathWatch(fd);
    } catch (e) {
      close(fd);
      throw e;
    }
  }

  /** True when an event arrived since the last call (all pending ones are consumed); true after close(). */
  changed(): boolean {
    if (this.fd === undefined) return true;
    let any = false;
    for (;;) {
      const n = Number(C.read(this.fd, this.buf, this.buf.length));
      if (n > 0) {
        any = true;
        continue;
      }
      if (n === 0) return any;
      const errno = koffi.errno();
      if (errno === Errno.EINTR) continue;
      // EAGAIN: nothing (more) queued. Anything else: say "changed" and let the caller look.
      return any || errno !== Errno.EAGAIN;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    close(fd);
  }
}

/**
 * The directories whose entries decide what `p` names: the parent of `p`, and the parent of every
 * symbolic link met on the way (links in the middle of the path too), plus `p`'s final target.
 */
function resolveWatched(p: string): { watchDirs: string[]; target?: string } {
  const watchDirs: string[] = [];
  let todo = path.resolve(p).split('/').filter(Boolean);
  let cur = '/';
  let links = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    const next = path.join(cur, name);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(next);
    } catch {
      // Does not exist (yet): creating it is an event in `cur`.
      watchDirs.push(cur);
      return { watchDirs };
    }
    if (st.isSymbolicLink()) {
      watchDirs.push(cur);
      if (++links > MAX_LINKS) return { watchDirs };
      const link = fs.readlinkSync(next);
      todo = [...path.resolve(cur, link).split('/').filter(Boolean), ...todo];
      cur = '/';
      continue;
    }
    if (todo.length === 0) watchDirs.push(cur);
    cur = next;
  }
  return { watchDirs, target: cur };
}
