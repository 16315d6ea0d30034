/**
 * The V8 code cache of the bundled executable.
 *
 * `dist/cli/main.js` is a small loader (src/cli/loader.ts); the program is the bundle beside it,
 * `dist/cli/program.js`. The loader compiles the bundle with vm.Script inside the same CommonJS
 * wrapper Node would use, with the loader's own `module` and `require` and the bundle's real
 * path as `__filename`, so `require`, `__dirname` (the worker entry beside it) and stack traces
 * are what they were when the bundle was the executable. With a cache directory it offers V8
 * the code compiled by an earlier start: V8 then skips parsing and compiling the functions that
 * start-up runs (docs/bench.md, "Start-up").
 *
 * A cache is code, so it is used only from a directory and a file owned by the running uid (or
 * root) and writable by nobody else, and only when its header names this exact bundle, node,
 * architecture and node flags (the key) and its payload digest matches (V8 does not check every
 * byte of what it is offered). Anything else is ignored with one note, and the program loads as
 * it does without a cache. `handshaked serve` writes the cache after ready, off the hot path,
 * when there was none or it was not used: a new file (0600) renamed over the old one.
 *
 * Where: `HANDSHAKED_CODE_CACHE=DIR` (`off` or empty: never), else systemd's `CACHE_DIRECTORY`
 * (the unit's `CacheDirectory=handshaked`), else no cache at all.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

export const CODE_CACHE_ENV = 'HANDSHAKED_CODE_CACHE';
/** The cache file's name in its directory. */
export const CODE_CACHE_FILE = 'program.v8cache';
/** The debug line logged once the cache is written (the start-up bench and the tests wait for it). */
export const CODE_CACHE_WRITTEN = 'code cache written';
/** magic (8) | key (32) | SHA-256 of the payload (32) | V8's cached data. */
const MAGIC = Buffer.from('HSDCC01\n', 'latin1');
const HEADER = MAGIC.length + 32 + 32;
/** A cache larger than this is not ours (the bundle's is a few MiB at most). */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;
/** How long after ready the cache is written: the first requests after boot go first. */
const WRITE_DELAY_MS = 1000;
const HOOK = Symbol.for('handshaked.codeCache');
const WRAPPER = '(function (exports, require, module, __filename, __dirname) {';

export type CodeCacheOutcome =
  /** no cache directory: nothing read, nothing written */
  | 'off'
  /** V8 took the cache */
  | 'used'
  /** none yet, another key, corrupt, or rejected by V8: written after ready */
  | 'absent'
  | 'stale'
  | 'corrupt'
  | 'rejected'
  /** the directory or file may be written by someone else: not read, not written */
  | 'unsafe';

export interface CodeCacheNote {
  level: 'debug' | 'warn';
  message: string;
  fields: Record<string, string | number>;
}

export interface CodeCacheState {
  outcome: CodeCacheOutcome;
  /** The cache file (undefined when off). */
  file?: string;
  note?: CodeCacheNote;
  /** Serializes what V8 compiled so far; only when the cache should be (re)written. */
  produce?: () => Buffer;
  /** The key the written cache must carry. */
  key?: Buffer;
}

/** The directory the cache lives in, or undefined for none. */
export function codeCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const explicit = env[CODE_CACHE_ENV];
  if (explicit !== undefined) return explicit === '' || explicit === 'off' ? undefined : path.resolve(explicit);
  // systemd sets a colon-separated list when a unit names several; the unit names one.
  const systemd = env.CACHE_DIRECTORY?.split(':')[0];
  return systemd ? path.resolve(systemd) : undefined;
}

/**
 * What a cache must match to be offered at all: the bundle's bytes, node (and so V8) and the
 * flags V8 was started with. V8 checks its version and flags itself, but a cache it rejects has
 * already been read and half-checked; with the key a stale one is never offered.
 */
export function codeCacheKey(source: Buffer, execArgv: readonly string[], nodeOptions: string | undefined): Buffer {
  const h = createHash('sha256');
  const bundleDigest = createHash('sha256').update(source).digest('hex');
  h.update(JSON.stringify([process.version, process.versions.v8, process.arch, process.platform, execArgv, nodeOptions ?? '', bundleDigest]));
  return h.digest();
}

/** Why a directory or file may not hold code we run, or undefined when it may. */
function unsafeBecause(st: fs.Stats, what: string): string | undefined {
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== uid && st.uid !== 0) return `${what} is owned by uid ${st.uid}, not by uid ${uid} or root`;
  if (st.mode & 0o022) return `${what} is writable by ${st.mode & 0o020 ? 'its group' : 'others'} (mode ${(st.mode & 0o7777).toString(8)})`;
  return undefined;
}

function note(level: CodeCacheNote['level'], message: string, file: string, extra: Record<string, string | number> = {}): CodeCacheNote {
  return { level, message, fields: { file, ...extra } };
}

/** Reads the cache file: its payload if it is safe, ours and whole; else why not. */
function readCache(dir: string, file: string, key: Buffer): { data: Buffer } | { outcome: CodeCacheOutcome; note?: CodeCacheNote } {
  let dst: fs.Stats;
  try {
    dst = fs.lstatSync(dir);
  } catch (e) {
    return { outcome: 'unsafe', note: note('warn', 'code cache directory unusable, loading without it', file, { reason: (e as Error).message }) };
  }
  const bad = dst.isDirectory() ? unsafeBecause(dst, 'its directory') : 'its directory is not a directory';
  if (bad) return { outcome: 'unsafe', note: note('warn', 'code cache ignored', file, { reason: bad }) };
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { outcome: 'absent', note: note('debug', 'no code cache yet, writing one after ready', file) };
    // ELOOP: a symbolic link where the cache should be; anything else: unreadable. Replaced.
    return { outcome: 'corrupt', note: note('warn', 'code cache unreadable, replacing it', file, { reason: (e as Error).message }) };
  }
  try {
    const st = fs.fstatSync(fd);
    const why = st.isFile() ? unsafeBecause(st, 'the file') : 'not a regular file';
    // The directory is ours, so a file we may not trust is replaced by one we write.
    if (why) return { outcome: 'corrupt', note: note('warn', 'code cache ignored, replacing it', file, { reason: why }) };
    if (st.size < HEADER || st.size > MAX_CACHE_BYTES) {
      return { outcome: 'corrupt', note: note('debug', 'code cache has an impossible size, replacing it', file, { bytes: st.size }) };
    }
    const buf = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got !== buf.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
      return { outcome: 'corrupt', note: note('debug', 'code cache is not one this program wrote, replacing it', file) };
    }
    if (!buf.subarray(MAGIC.length, MAGIC.length + 32).equals(key)) {
      return { outcome: 'stale', note: note('debug', 'code cache is for another build, node or node flags, replacing it', file) };
    }
    const data = buf.subarray(HEADER);
    if (!createHash('sha256').update(data).digest().equals(buf.subarray(MAGIC.length + 32, HEADER))) {
      return { outcome: 'corrupt', note: note('debug', 'code cache payload does not match its digest, replacing it', file) };
    }
    return { data };
  } catch (e) {
    return { outcome: 'corrupt', note: note('warn', 'code cache unreadable, replacing it', file, { reason: (e as Error).message }) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Compiles and runs the bundle at `bundle` as the module `mod` (the loader's, so `require.main
 * === module` holds in it), with the code cache when there is a usable one. Leaves the outcome
 * where `codeCacheAfterReady` finds it.
 */
export function runBundle(bundle: string, mod: NodeJS.Module, req: NodeJS.Require, env: NodeJS.ProcessEnv = process.env): CodeCacheState {
  const source = fs.readFileSync(bundle);
  const dir = codeCacheDir(env);
  let state: CodeCacheState = { outcome: 'off' };
  let cachedData: Buffer | undefined;
  if (dir !== undefined) {
    const file = path.join(dir, CODE_CACHE_FILE);
    const key = codeCacheKey(source, process.execArgv, env.NODE_OPTIONS);
    const r = readCache(dir, file, key);
    if ('data' in r) {
      cachedData = r.data;
      state = { outcome: 'used', file, key, note: note('debug', 'code cache used', file, { bytes: r.data.length }) };
    } else {
      state = { outcome: r.outcome, file, key, note: r.note };
    }
  }
  // The wrapper on a line of its own, and lineOffset -1: the bundle's lines and columns in stack
  // traces are the file's.
  const script = new vm.Script(`${WRAPPER}\n${source.toString('utf8')}\n})`, { filename: bundle, lineOffset: -1, cachedData });
  if (cachedData && script.cachedDataRejected) {
    state = { ...state, outcome: 'rejected', note: note('debug', 'code cache rejected by V8, replacing it', state.file!) };
  }
  if (state.file && state.outcome !== 'used' && state.outcome !== 'unsafe') state.produce = () => script.createCachedData();
  (globalThis as Record<symbol, unknown>)[HOOK] = state;
  const fn = script.runInThisContext() as (...args: unknown[]) => void;
  fn.call(mod.exports, mod.exports, req, mod, bundle, path.dirname(bundle));
  return state;
}

/** Writes `data` as the cache `file` for `key`: a new 0600 file renamed over the old one. */
async function writeCodeCache(file: string, key: Buffer, data: Buffer): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const h = await fs.promises.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    try {
      await h.writeFile(Buffer.concat([MAGIC, key, createHash('sha256').update(data).digest(), data]));
      await h.sync();
    } finally {
      await h.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}

interface NoteLogger {
  debug(message: string, meta?: object): unknown;
  warn(message: string, meta?: object): unknown;
}

/**
 * After `handshaked ready`: logs how the code cache went (one line, debug unless the cache was
 * unsafe or unreadable) and, when it was not used, writes a new one a second later. Nothing when
 * the program was not started by the loader or has no cache directory.
 */
export function codeCacheAfterReady(logger: NoteLogger, delayMs = WRITE_DELAY_MS): void {
  const state = (globalThis as Record<symbol, unknown>)[HOOK] as CodeCacheState | undefined;
  if (!state || state.outcome === 'off') return;
  if (state.note) logger[state.note.level](state.note.message, state.note.fields);
  const { produce, file, key } = state;
  if (!produce || !file || !key) return;
  state.produce = undefined;
  const t = setTimeout(() => {
    let data: Buffer;
    try {
      data = produce();
    } catch (e) {
      logger.warn('code cache not written', { file, reason: (e as Error).message });
      return;
    }
    writeCodeCache(file, key, data).then(
      () => logger.debug(CODE_CACHE_WRITTEN, { file, bytes: data.length }),
      (e: unknown) => logger.warn('code cache not written', { file, reason: e instanceof Error ? e.message : String(e) }),
    );
  }, delayMs);
  t.unref();
}
