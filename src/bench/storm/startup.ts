/**
 * The start-up figure: how long `handshaked serve` takes from exec to ready (its "handshaked
 * ready" line, written once every transport listens), beside a bare `node -e 0` with the same
 * node options, started alternately in the same run so both see the same machine. Medians, since
 * one start on a shared machine can be delayed by anything.
 *
 * The agent starts as the benchmark's agent does (unix transport, the systemd unit's node
 * options, certificates and trust stores for both roles in its configuration, so loading them is
 * part of the figure); ready is what a unit ordered after it would wait for. It is timed twice,
 * interleaved: with the V8 code cache an earlier start wrote (as the unit runs it, with its
 * CacheDirectory=), and with none (HANDSHAKED_CODE_CACHE=off, as when started by hand).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT_DIR, agentIdentityLines } from './shape';
import type { Target } from './summary';
import { median } from '../stats';
import { CODE_CACHE_ENV, CODE_CACHE_WRITTEN } from '../../cli/code-cache';

export interface StartupFigures {
  starts: number;
  /** Median ms from spawn to the agent's ready line, with the code cache. */
  agentMs: number;
  /** Median ms from spawn to the exit of `node -e 0`. */
  nodeMs: number;
  /** agentMs / nodeMs. */
  ratio: number;
  /** The same without a code cache. */
  noCacheMs: number;
  noCacheRatio: number;
  agentSamplesMs: number[];
  noCacheSamplesMs: number[];
  nodeSamplesMs: number[];
}

const READY = 'handshaked ready';
/** The agent's code-cache setting (docs/serve.md, "Start-up and the code cache"). */
const TIMEOUT_MS = 60_000;

/** ms from spawn until `done` says so (given the stderr so far) or, without `done`, until exit. */
function timeOne(args: string[], done?: (stderr: string) => boolean, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let err = '';
    let took: number | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      err += d;
      if (took === undefined && done?.(err)) {
        took = Number(process.hrtime.bigint() - t0) / 1e6;
        child.kill('SIGTERM');
      }
    });
    child.once('error', reject);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      if (!done && code === 0) resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      else if (done && took !== undefined) resolve(took);
      else reject(new Error(`${args.join(' ')} ended (${sig ?? code}) before it was ready: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

export async function measureStartup(starts: number, nodeArgs: readonly string[], workDir: string): Promise<StartupFigures> {
  const configFile = path.join(workDir, 'startup.conf');
  fs.writeFileSync(
    configFile,
    [
      ...agentIdentityLines(),
      '',
    ].join('\n'),
  );
  const main = path.join(ROOT_DIR, 'dist', 'cli', 'main.js');
  const cacheDir = path.join(workDir, 'code-cache');
  fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const cached = { ...process.env, [CODE_CACHE_ENV]: cacheDir };
  const uncached = { ...process.env, [CODE_CACHE_ENV]: 'off' };
  const agentArgs = (extra: string[] = []) => [
    ...nodeArgs, main, 'serve', '-c', configFile, '--transport', 'unix', '--unix-socket', `@handshaked-startup-${process.pid}-${randomBytes(4).toString('hex')}`, '--ktls', 'off', ...extra,
  ];
  // One unmeasured start writes the cache (a second after ready) for the measured ones to use.
  await timeOne(agentArgs(['--log-level', 'debug']), (s) => s.includes(CODE_CACHE_WRITTEN), cached);
  const agent: number[] = [];
  const noCache: number[] = [];
  const node: number[] = [];
  const runs: (() => Promise<void>)[] = [
    async () => void node.push(await timeOne([...nodeArgs, '-e', '0'])),
    async () => void agent.push(await timeOne(agentArgs(), (s) => s.includes(READY), cached)),
    async () => void noCache.push(await timeOne(agentArgs(), (s) => s.includes(READY), uncached)),
  ];
  // Rotate which goes first, so none always follows another's page-cache warm-up.
  for (let i = 0; i < starts; i++) for (let j = 0; j < runs.length; j++) await runs[(i + j) % runs.length]();
  const agentMs = median(agent);
  const noCacheMs = median(noCache);
  const nodeMs = median(node);
  return {
    starts,
    agentMs,
    nodeMs,
    ratio: agentMs / nodeMs,
    noCacheMs,
    noCacheRatio: noCacheMs / nodeMs,
    agentSamplesMs: agent,
    noCacheSamplesMs: noCache,
    nodeSamplesMs: node,
  };
}

export function startupTarget(s: StartupFigures): Target {
  return {
    name: 'start-up: time to ready vs a bare node -e 0',
    goal: '≤ 2×',
    value: s.ratio,
    met: s.ratio <= 2,
    where: `median of ${s.starts}, with the code cache: ${s.agentMs.toFixed(0)} ms vs ${s.nodeMs.toFixed(0)} ms; without: ${s.noCacheRatio.toFixed(2)}×`,
  };
}
