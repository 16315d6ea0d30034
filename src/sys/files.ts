/**
 * Reading the agent's own files (configuration, certificates, keys, trust stores, CRLs) so that
 * no path an administrator or an attacker can point at wedges the agent:
 *
 * - A FIFO would block open() and read() forever (a synchronous read stops the event loop, so
 *   the agent stops answering and SIGTERM is never handled); a character device such as
 *   /dev/zero never reaches end-of-file and grows memory without bound; opening some devices
 *   has side effects of its own. So the path is stat()ed first (following symlinks: a symlink to
 *   a regular file is fine) and anything but a regular file is refused without being opened.
 * - The open itself uses O_NONBLOCK, and the opened fd is fstat()ed again and compared with the
 *   first stat, so a file swapped for a FIFO between the two calls is refused too, not read.
 * - Every kind of file has a size cap (FILE_LIMITS); a file over it is refused before reading,
 *   and a file that grows past it while being read is refused as well.
 */
import fs from 'node:fs';

/** What a file is for: decides its size cap and how errors name it. */
export type FileKind = 'config' | 'certificate' | 'private-key' | 'trust-store' | 'crl';

const MiB = 1024 * 1024;

/**
 * Size caps per kind. Generous beside real files (a configuration is a few hundred bytes, a
 * 10-certificate chain about 20 KiB, Debian's whole CA bundle about 220 KiB), small enough that
 * reading and parsing one is bounded in time and memory: parsing is synchronous, so the caps
 * are what bound how long a reload can hold the event loop (a 16 MiB PEM bundle took seconds,
 * hence 4 MiB, some 18 times Debian's bundle). For a trust-store directory the cap is on the sum
 * of its files.
 */
export const FILE_LIMITS: Readonly<Record<FileKind, number>> = Object.freeze({
  config: 1 * MiB,
  certificate: 1 * MiB,
  'private-key': 1 * MiB,
  'trust-store': 4 * MiB,
  crl: 16 * MiB,
});

const KIND_NAMES: Record<FileKind, string> = {
  config: 'configuration file',
  certificate: 'certificate file',
  'private-key': 'private key file',
  'trust-store': 'trust store',
  crl: 'CRL file',
};

/** A file that must not be read: not regular, too large, or not readable. `reason` says which. */
export class FileRefusedError extends Error {
  readonly code = 'EFILE';
  constructor(
    readonly path: string,
    readonly kind: FileKind,
    /** The underlying errno code (ENOENT, EACCES, …) or EFTYPE / EFBIG for our own refusals. */
    readonly reason: string,
    /** The problem without the file's name: "it is a FIFO (named pipe); …", "ENOENT". */
    readonly detail: string,
  ) {
    super(`cannot read ${KIND_NAMES[kind]} "${path}": ${detail}`);
    this.name = 'FileRefusedError';
  }
}

/** What a stat says the path is, in words an operator recognises. */
function fileTypeName(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function formatBytes(n: number): string {
  return n >= MiB && n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`;
}

export interface ReadOptions {
  /** Overrides FILE_LIMITS[kind] (a trust-store directory passes what is left of its budget). */
  maxBytes?: number;
}

/**
 * The whole content of a regular file (or a symlink to one), at most the kind's cap. Throws
 * FileRefusedError naming the file, what it is, and the limit. Never blocks on the file's type.
 */
export function readRegularFile(path: string, kind: FileKind, opts: ReadOptions = {}): Buffer {
  const max = opts.maxBytes ?? FILE_LIMITS[kind];
  const before = statOf(path, kind);
  if (!before.isFile()) {
    throw new FileRefusedError(path, kind, 'EFTYPE', `it is ${fileTypeName(before)}; a regular file (or a symlink to one) is expected`);
  }
  checkSize(path, kind, before.size, max);
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    throw errnoError(path, kind, e);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) {
      throw new FileRefusedError(path, kind, 'EFTYPE', `it was replaced while being opened (now ${fileTypeName(st)}); try again once it is a regular file`);
    }
    checkSize(path, kind, st.size, max);
    return readUpTo(fd, path, kind, st.size, max);
  } finally {
    fs.closeSync(fd);
  }
}

/** stat() following symlinks; errors carry the errno code. */
export function statOf(path: string, kind: FileKind): fs.Stats {
  try {
    return fs.statSync(path);
  } catch (e) {
    throw errnoError(path, kind, e);
  }
}

function checkSize(path: string, kind: FileKind, size: number, max: number): void {
  if (size > max) {
    throw new FileRefusedError(path, kind, 'EFBIG', `it is ${size} bytes; the limit for a ${KIND_NAMES[kind]} is ${formatBytes(FILE_LIMITS[kind])}${max < FILE_LIMITS[kind] ? ` (${max} bytes left of it)` : ''}`);
  }
}

/** Reads to end-of-file, refusing once more than `max` bytes came (the file grew under us). */
function readUpTo(fd: number, path: string, kind: FileKind, sizeHint: number, max: number): Buffer {
  let buf = Buffer.allocUnsafe(Math.min(Math.max(sizeHint, 4096), max + 1));
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      if (len > max) break;
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, max + 1));
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
    let n: number;
    try {
      n = fs.readSync(fd, buf, len, buf.length - len, null);
    } catch (e) {
      throw errnoError(path, kind, e);
    }
    if (n === 0) break;
    len += n;
  }
  if (len > max) checkSize(path, kind, len, max);
  return Buffer.from(buf.subarray(0, len));
}

function errnoError(path: string, kind: FileKind, e: unknown): FileRefusedError {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  return new FileRefusedError(path, kind, code, code);
}

/**
 * Open a file for appending (the NSS key log) without blocking on a FIFO and without writing
 * into a device: created 0600 when missing, refused unless it is a regular file.
 */
export function openAppendRegular(path: string, what: string): number {
  const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY, 0o600);
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new Error(`${what} "${path}" is ${fileTypeName(st)}; a regular file is expected`);
  }
  return fd;
}
