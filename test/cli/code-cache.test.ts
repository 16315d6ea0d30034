/**
 * The built executable's V8 code cache (src/cli/code-cache.ts): dist/cli/main.js loads the
 * bundled program through a cache in HANDSHAKED_CODE_CACHE or systemd's CACHE_DIRECTORY. The
 * agent writes it after ready, uses it on the next start, and ignores any cache it cannot
 * trust or that is not its own with one line, starting as it would without one.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CODE_CACHE_FILE, CODE_CACHE_WRITTEN, codeCacheDir, codeCacheKey } from '../../src/cli/code-cache';
import { until } from '../unix/harness';

jest.setTimeout(120_000);

const bin = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const READY = 'handshaked ready';
const WRITTEN = CODE_CACHE_WRITTEN;
/** Every line the loader or serve may write about the cache. */
const CACHE_LINES = /code cache/;

interface Started {
  child: ChildProcess;
  stderr: () => string;
  stop: () => Promise<void>;
}

const tmpDirs: string[] = [];
function tmpDir(mode = 0o700): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-code-cache-'));
  fs.chmodSync(d, mode);
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

const config = () => {
  const f = path.join(tmpDir(), 'config');
  fs.writeFileSync(f, '');
  return f;
};

/** Starts the built agent (unix transport, debug log) and waits for ready. */
async function start(env: NodeJS.ProcessEnv, nodeArgs: string[] = [], cwd?: string): Promise<Started> {
  const socket = `@hsd-code-cache-${process.pid}-${Math.random().toString(16).slice(2)}`;
  const child = spawn(process.execPath, [...nodeArgs, bin, 'serve', '-c', config(), '--transport', 'unix', '--unix-socket', socket, '--ktls', 'off', '--log-level', 'debug'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
    cwd,
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await until(() => err.includes(READY) || child.exitCode !== null, 60_000);
  expect(err).toContain(READY);
  return {
    child,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}

/** The environment without any cache setting the test runner may have. */
function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('HANDSHAKED_CODE_CACHE' in extra)) delete env.HANDSHAKED_CODE_CACHE;
  if (!('CACHE_DIRECTORY' in extra)) delete env.CACHE_DIRECTORY;
  return env;
}

/** Runs the agent until it has written the cache into `dir`; its stderr. */
async function writeCache(env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<string> {
  const a = await start(env, nodeArgs);
  try {
    await until(() => a.stderr().includes(WRITTEN) || a.stderr().includes('not written'), 30_000);
    return a.stderr();
  } finally {
    await a.stop();
  }
}

/** A line that says the agent will write the cache after ready. */
const WILL_WRITE = /no code cache yet|replacing it/;

/**
 * Starts the agent, waits past the moment it would write the cache (and, when it said it would,
 * until it has: on a loaded machine that can take longer than the fixed wait), stops it; its stderr.
 */
async function startAndSettle(env: NodeJS.ProcessEnv, nodeArgs: string[] = [], cwd?: string): Promise<string> {
  const a = await start(env, nodeArgs, cwd);
  try {
    await new Promise((r) => setTimeout(r, 2000));
    await until(() => !WILL_WRITE.test(a.stderr()) || a.stderr().includes(WRITTEN) || a.stderr().includes('not written'), 30_000);
    return a.stderr();
  } finally {
    await a.stop();
  }
}

const cacheLines = (stderr: string) => stderr.split('\n').filter((l) => CACHE_LINES.test(l));

describe('where the cache lives', () => {
  it('HANDSHAKED_CODE_CACHE first (off or empty: none), then systemd CACHE_DIRECTORY (its first entry), else none', () => {
    expect(codeCacheDir({})).toBeUndefined();
    expect(codeCacheDir({ CACHE_DIRECTORY: '/var/cache/handshaked' })).toBe('/var/cache/handshaked');
    expect(codeCacheDir({ CACHE_DIRECTORY: '/var/cache/a:/var/cache/b' })).toBe('/var/cache/a');
    expect(codeCacheDir({ HANDSHAKED_CODE_CACHE: '/srv/cc', CACHE_DIRECTORY: '/var/cache/handshaked' })).toBe('/srv/cc');
    expect(codeCacheDir({ HANDSHAKED_CODE_CACHE: 'off', CACHE_DIRECTORY: '/var/cache/handshaked' })).toBeUndefined();
    expect(codeCacheDir({ HANDSHAKED_CODE_CACHE: '', CACHE_DIRECTORY: '/var/cache/handshaked' })).toBeUndefined();
  });

  it('the key changes with the bundle, the node flags and NODE_OPTIONS', () => {
    const src = Buffer.from('bundle');
    const k = codeCacheKey(src, ['--max-old-space-size=128'], '--max-semi-space-size=2');
    expect(codeCacheKey(Buffer.from('bundle'), ['--max-old-space-size=128'], '--max-semi-space-size=2')).toEqual(k);
    expect(codeCacheKey(Buffer.from('bundlf'), ['--max-old-space-size=128'], '--max-semi-space-size=2')).not.toEqual(k);
    expect(codeCacheKey(src, ['--max-old-space-size=64'], '--max-semi-space-size=2')).not.toEqual(k);
    expect(codeCacheKey(src, ['--max-old-space-size=128'], undefined)).not.toEqual(k);
  });
});

describe('the built agent with a cache directory', () => {
  const dir = tmpDir();
  const file = path.join(dir, CODE_CACHE_FILE);
  const env = baseEnv({ CACHE_DIRECTORY: dir });

  it('writes the cache after ready (0600), and the next start uses it without writing again', async () => {
    const first = await writeCache(env);
    expect(first.indexOf(READY)).toBeLessThan(first.indexOf(WRITTEN));
    expect(cacheLines(first)).toEqual([expect.stringContaining('no code cache yet'), expect.stringContaining(WRITTEN)]);
    const st = fs.statSync(file);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.size).toBeGreaterThan(100_000);
    expect(fs.readdirSync(dir)).toEqual([CODE_CACHE_FILE]);

    const second = await startAndSettle(env);
    expect(cacheLines(second)).toEqual([expect.stringMatching(/debug code cache used file=.*bytes=\d+/)]);
    expect(fs.statSync(file).ino).toBe(st.ino);
  });

  it('a cache made with other node flags is not offered: one line, the agent starts, the cache is replaced for these flags', async () => {
    const other = await startAndSettle(env, ['--max-old-space-size=96']);
    expect(cacheLines(other)).toEqual([expect.stringContaining('for another build, node or node flags'), expect.stringContaining(WRITTEN)]);
    // now it is the flags' cache
    expect(cacheLines(await startAndSettle(env, ['--max-old-space-size=96']))).toEqual([expect.stringContaining('code cache used')]);
    await writeCache(env);
  });

  it('a corrupt payload (one byte changed) is ignored with one line and replaced', async () => {
    const buf = fs.readFileSync(file);
    buf[buf.length >> 1] ^= 0x55;
    fs.writeFileSync(file, buf, { mode: 0o600 });
    const s = await startAndSettle(env);
    expect(cacheLines(s)).toEqual([expect.stringContaining('does not match its digest'), expect.stringContaining(WRITTEN)]);
    expect(cacheLines(await startAndSettle(env))).toEqual([expect.stringContaining('code cache used')]);
  });

  it('a cache with the right key and digest that V8 refuses is ignored with one line and replaced', async () => {
    // The header of the current cache (magic and key), a payload V8 never wrote, its digest.
    const junk = Buffer.alloc(64 * 1024, 0x5a);
    const head = fs.readFileSync(file).subarray(0, 40);
    fs.writeFileSync(file, Buffer.concat([head, createHash('sha256').update(junk).digest(), junk]), { mode: 0o600 });
    expect(cacheLines(await startAndSettle(env))).toEqual([expect.stringContaining('code cache rejected by V8'), expect.stringContaining(WRITTEN)]);
    expect(cacheLines(await startAndSettle(env))).toEqual([expect.stringContaining('code cache used')]);
  });

  it('a truncated cache, and one with a foreign header, are ignored with one line and replaced', async () => {
    fs.truncateSync(file, fs.statSync(file).size >> 1);
    expect(cacheLines(await startAndSettle(env))).toEqual([expect.stringContaining('does not match its digest'), expect.stringContaining(WRITTEN)]);
    fs.truncateSync(file, 20);
    expect(cacheLines(await startAndSettle(env))).toEqual([expect.stringContaining('impossible size'), expect.stringContaining(WRITTEN)]);
    fs.writeFileSync(file, Buffer.alloc(4096, 0x41), { mode: 0o600 });
    expect(cacheLines(await startAndSettle(env))).toEqual([expect.stringContaining('not one this program wrote'), expect.stringContaining(WRITTEN)]);
    expect(cacheLines(await startAndSettle(env))).toEqual([expect.stringContaining('code cache used')]);
  });

  it('a group- or world-writable cache file is not used: one warning, and a 0600 one replaces it', async () => {
    for (const mode of [0o620, 0o602]) {
      fs.chmodSync(file, mode);
      const s = await startAndSettle(env);
      expect(cacheLines(s)).toEqual([expect.stringMatching(/warn code cache ignored, replacing it .*reason="?the file is writable by (its group|others)/), expect.stringContaining(WRITTEN)]);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    }
  });

  it('a symbolic link in place of the cache is not followed', async () => {
    const target = path.join(tmpDir(), 'elsewhere');
    fs.copyFileSync(file, target);
    fs.rmSync(file);
    fs.symlinkSync(target, file);
    const s = await startAndSettle(env);
    expect(cacheLines(s)).toEqual([expect.stringContaining('code cache unreadable, replacing it'), expect.stringContaining(WRITTEN)]);
    expect(fs.lstatSync(file).isFile()).toBe(true);
  });

  if (process.getuid?.() === 0) {
    it('as root: a cache file owned by another user is not used: one warning, and replaced by root\'s', async () => {
      fs.chownSync(file, 65534, 65534);
      const s = await startAndSettle(env);
      expect(cacheLines(s)).toEqual([expect.stringMatching(/warn code cache ignored, replacing it .*owned by uid 65534/), expect.stringContaining(WRITTEN)]);
      expect(fs.statSync(file).uid).toBe(0);
    });

    it('as root: a cache directory owned by another user is neither read nor written', async () => {
      const foreign = tmpDir();
      fs.copyFileSync(file, path.join(foreign, CODE_CACHE_FILE));
      const before = fs.statSync(path.join(foreign, CODE_CACHE_FILE));
      fs.chownSync(foreign, 65534, 65534);
      const s = await startAndSettle(baseEnv({ CACHE_DIRECTORY: foreign }));
      expect(cacheLines(s)).toEqual([expect.stringMatching(/warn code cache ignored .*reason="?its directory is owned by uid 65534/)]);
      expect(fs.readdirSync(foreign)).toEqual([CODE_CACHE_FILE]);
      expect(fs.statSync(path.join(foreign, CODE_CACHE_FILE)).ino).toBe(before.ino);
    });
  } else {
    it('not root: a cache directory owned by root that this user cannot write is trusted but not written: one warning, the agent serves', async () => {
      const s = await startAndSettle(baseEnv({ CACHE_DIRECTORY: '/usr/share' }));
      expect(cacheLines(s)).toEqual([expect.stringContaining('no code cache yet'), expect.stringContaining('code cache not written')]);
    });
  }

  it('a group- or world-writable cache directory is neither read nor written: one warning', async () => {
    for (const mode of [0o770, 0o707, 0o1777]) {
      const open = tmpDir(mode);
      fs.copyFileSync(file, path.join(open, CODE_CACHE_FILE));
      const before = fs.statSync(path.join(open, CODE_CACHE_FILE));
      const s = await startAndSettle(baseEnv({ CACHE_DIRECTORY: open }));
      expect(cacheLines(s)).toEqual([expect.stringMatching(/warn code cache ignored .*reason="?its directory is writable by (its group|others)/)]);
      expect(fs.readdirSync(open)).toEqual([CODE_CACHE_FILE]);
      expect(fs.statSync(path.join(open, CODE_CACHE_FILE)).ino).toBe(before.ino);
    }
  });

  it('HANDSHAKED_CODE_CACHE=off: the cache directory is not touched', async () => {
    const before = fs.statSync(file);
    const s = await startAndSettle(baseEnv({ CACHE_DIRECTORY: dir, HANDSHAKED_CODE_CACHE: 'off' }));
    expect(cacheLines(s)).toEqual([]);
    expect(fs.statSync(file).mtimeMs).toBe(before.mtimeMs);
  });
});

it('without a cache directory the built agent writes no file anywhere', async () => {
  const home = tmpDir();
  const distBefore = fs.readdirSync(path.dirname(bin)).sort();
  const s = await startAndSettle(baseEnv({ HOME: home, TMPDIR: home }), [], home);
  expect(cacheLines(s)).toEqual([]);
  // config() made one directory in os.tmpdir() of this process, not in the agent's HOME/TMPDIR
  expect(fs.readdirSync(home)).toEqual([]);
  expect(fs.readdirSync(path.dirname(bin)).sort()).toEqual(distBefore);
});

it('stack traces from the loaded program name program.js at its real line and column, with and without the cache', async () => {
  // A preload wraps fs.openSync and prints the first program.js frame of the call that opens
  // the configuration file; that position in program.js must be the openSync call.
  const d = tmpDir();
  const probe = path.join(d, 'probe.js');
  fs.writeFileSync(
    probe,
    `const fs = require('node:fs'); const orig = fs.openSync;
fs.openSync = function (p, ...rest) {
  if (String(p).endsWith('hsd-stack-probe')) process.stderr.write('PROBE ' + new Error().stack.split('\\n').find((l) => l.includes('program.js')) + '\\n');
  return orig.call(this, p, ...rest);
};`,
  );
  const conf = path.join(d, 'hsd-stack-probe');
  fs.writeFileSync(conf, '');
  const lines = fs.readFileSync(path.join(path.dirname(bin), 'program.js'), 'utf8').split('\n');
  const cacheDir = tmpDir();
  await writeCache(baseEnv({ CACHE_DIRECTORY: cacheDir }), ['-r', probe]);
  for (const env of [baseEnv(), baseEnv({ CACHE_DIRECTORY: cacheDir })]) {
    const r = spawnSync(process.execPath, ['-r', probe, bin, 'serve', '-c', conf, '--check-config'], { encoding: 'utf8', env });
    expect(r.status).toBe(0);
    const m = /PROBE .*\((.*program\.js):(\d+):(\d+)\)/.exec(r.stderr);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(path.join(path.dirname(bin), 'program.js'));
    expect(lines[Number(m![2]) - 1].slice(Number(m![3]) - 1)).toMatch(/^openSync\(/);
  }
});
