/**
 * A child Node process running this repository's TypeScript without a build: the child compiles
 * each .ts module it requires with `typescript` itself (ts-jest exists only in the jest worker).
 * Used where a test needs a process of its own: a lowered RLIMIT_NOFILE, real signals.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** The require hook that compiles .ts on load (shared with the companion's end-to-end test). */
const HOOK = path.join(ROOT, 'test', 'companion', 'ts-register.js');

export interface TsChildOptions {
  /** The script to run, relative to the repository root. */
  entry: string;
  /** Its command-line arguments. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** RLIMIT_NOFILE (soft and hard) for the child, through prlimit(1). */
  nofile?: number;
}

export interface TsChild {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

export function spawnTs(opts: TsChildOptions): TsChild {
  const node = [process.execPath, '-r', HOOK, path.join(ROOT, opts.entry), ...(opts.args ?? [])];
  const [cmd, ...args] = opts.nofile !== undefined ? ['prlimit', `--nofile=${opts.nofile}:${opts.nofile}`, ...node] : node;
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((r) => child.once('exit', (code, sig) => r(code ?? sig ?? -1)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** `handshaked serve` from the sources, once it logged "handshaked ready". */
export interface ServingAgent extends TsChild {
  /** SIGTERM, then wait for the exit (nothing to do when it already exited). */
  stop(): Promise<void>;
}

/**
 * Starts `handshaked serve ARGS` from the sources and resolves when it is ready; rejects with its
 * log when it exits first or is not ready within `readyMs` (seconds from the TypeScript sources,
 * minutes on a loaded machine).
 */
export async function startServingAgent(args: string[], readyMs: number): Promise<ServingAgent> {
  const agent = spawnTs({ entry: 'src/cli/main.ts', args: ['serve', ...args] });
  const stop = async () => {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) return;
    agent.child.kill('SIGTERM');
    await agent.exited;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`agent did not start: ${agent.stderr()}`)), readyMs);
      agent.child.stderr.on('data', () => {
        if (!agent.stderr().includes('handshaked ready')) return;
        clearTimeout(t);
        resolve();
      });
      void agent.exited.then((code) => {
        clearTimeout(t);
        reject(new Error(`agent exited (${code}): ${agent.stderr()}`));
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { ...agent, stop };
}

/** Runs `cmd` to its end (SIGKILL after `timeoutMs`); its exit code and what it printed. */
/**
 * For a describe block: a scratch directory and a fresh abstract unix socket name (both tagged
 * `tag`), and the serving agent `start` starts with them before all tests; after all it is
 * stopped and the directory removed.
 */
export function servingAgentForSuite(tag: string, start: (dir: string, socket: string) => Promise<ServingAgent>, startMs: number): { dir: string; socket: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `handshaked-${tag}-`));
  const socket = `@handshaked-${tag}-${process.pid}-${randomBytes(4).toString('hex')}`;
  let agent: ServingAgent | undefined;
  beforeAll(async () => {
    agent = await start(dir, socket);
  }, startMs);
  afterAll(async () => {
    await agent?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30000);
  return { dir, socket };
}

export function runCommand(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

/** `handshaked ARGS` from the sources, run to its end. */
export function runHandshaked(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return runCommand(process.execPath, ['-r', HOOK, path.join(ROOT, 'src', 'cli', 'main.ts'), ...args], timeoutMs);
}
