/**
 * "Did anything under these paths change?" for checks on a hot path (the identity files'
 * rotation check before each handshake, src/agent/daemon.ts). The kernel queues an inotify event
 * before the write, rename or unlink that caused it returns. Two ways to learn of it:
 *
 * - unarmed, changed() is one non-blocking read(2) of the inotify descriptor: a change that
 *   happened before the call is always seen by it;
 * - armed (arm()), a readiness watcher on the descriptor (the event loop's epoll, the same
 *   uv_poll the unix transport uses) drains the events when the loop delivers them and sets a
 *   flag; changed() then only reads and clears that flag, with no system call. A change is seen
 *   by the first call after the loop has delivered its event: at most one loop iteration later
 *   than unarmed, never lost, and free when nothing changes (the common case: the unarmed read
 *   was an EAGAIN on every handshake).
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
import { watchFd, type FdWatcher } from './unix';

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
  /** Armed: the event loop's watcher on fd; changed() then answers from `pending`. */
  private watcher: FdWatcher | undefined;
  /** Armed: an event was delivered (or the descriptor failed) since changed() last said so. */
  private pending = false;

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

  /**
   * Learn of events from the event loop from now on (see the module comment): changed() makes no
   * system call after this. The watcher does not keep the process alive. Returns false, and
   * stays unarmed (changed() keeps reading), when the loop refuses the descriptor.
   */
  arm(): boolean {
    if (this.fd === undefined) return false;
    if (this.watcher) return true;
    try {
      this.watcher = watchFd(this.fd, { readable: true }, (status) => this.onReadable(status));
    } catch {
      return false;
    }
    this.watcher.unref();
    return true;
  }

  /** True when the watch is armed (arm() succeeded and close() has not been called). */
  get armed(): boolean {
    return this.watcher !== undefined;
  }

  /**
   * True when an event arrived since the last call (all pending ones are consumed); true after
   * close(). Armed: true when the loop delivered one since the last call, without a system call.
   */
  changed(): boolean {
    if (this.fd === undefined) return true;
    if (this.watcher) {
      const any = this.pending;
      this.pending = false;
      return any;
    }
    return this.drain().changed;
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    // The loop must forget the fd (epoll_ctl DEL) before the number can be reused.
    this.watcher?.close();
    this.watcher = undefined;
    this.pending = false;
    close(fd);
  }

  private onReadable(status: number): void {
    if (this.fd === undefined) return;
    const r = status < 0 ? { changed: true, failed: true } : this.drain();
    if (r.changed) this.pending = true;
    if (r.failed) {
      // The descriptor fails (it cannot on a healthy host): stop watching, so that a failure the
      // loop would report again and again does not spin, and read per call as unarmed, which
      // says "changed" while it keeps failing (the caller then compares the files themselves).
      this.watcher?.close();
      this.watcher = undefined;
    }
  }

  /** Read every queued event: whether there was one, and whether the read failed otherwise than EAGAIN. */
  private drain(): { changed: boolean; failed: boolean } {
    let any = false;
    for (;;) {
      const n = Number(C.read(this.fd!, this.buf, this.buf.length));
      if (n > 0) {
        any = true;
        continue;
      }
      if (n === 0) return { changed: any, failed: false };
      const errno = koffi.errno();
      if (errno === Errno.EINTR) continue;
      // EAGAIN: nothing (more) queued. Anything else: say "changed" and let the caller look.
      const failed = errno !== Errno.EAGAIN;
      return { changed: any || failed, failed };
    }
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
