/**
 * The start-up figure: how long `handshaked serve` takes from exec to ready (its "handshaked
 * ready" line, written once every transport listens), beside a bare `node -e 0` with the same
 * node options, started alternately in the same run so both see the same machine. Medians, since
 * one start on a shared machine can be delayed by anything.
 *
 * The agent starts as the benchmark's agent does (unix transport, the systemd unit's node
 * options, certificates and trust stores for both roles in its configuration, so loading them is
 * part of the figure); ready is what a unit ordered after it would wait for.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT_DIR, agentIdentityLines } from './shape';
import type { Target } from './summary';
import { median } from '../stats';

export interface StartupFigures {
  starts: number;
  /** Median ms from spawn to the agent's ready line. */
  agentMs: number;
  /** Median ms from spawn to the exit of `node -e 0`. */
  nodeMs: number;
  /** agentMs / nodeMs. */
  ratio: number;
  agentSamplesMs: number[];
  nodeSamplesMs: number[];
}

const READY = 'handshaked ready';
const TIMEOUT_MS = 60_000;

/** ms from spawn until `done` says so (given the stderr so far) or, without `done`, until exit. */
function timeOne(args: string[], done?: (stderr: string) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
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
  const agent: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < starts; i++) {
    const socket = `@handshaked-startup-${process.pid}-${randomBytes(4).toString('hex')}`;
    const agentArgs = [...nodeArgs, main, 'serve', '-c', configFile, '--transport', 'unix', '--unix-socket', socket, '--ktls', 'off'];
    const bare = [...nodeArgs, '-e', '0'];
    // Alternate which goes first, so neither always follows the other's page-cache warm-up.
    if (i % 2 === 0) {
      node.push(await timeOne(bare));
      agent.push(await timeOne(agentArgs, (s) => s.includes(READY)));
    } else {
      agent.push(await timeOne(agentArgs, (s) => s.includes(READY)));
      node.push(await timeOne(bare));
    }
  }
  const agentMs = median(agent);
  const nodeMs = median(node);
  return { starts, agentMs, nodeMs, ratio: agentMs / nodeMs, agentSamplesMs: agent, nodeSamplesMs: node };
}

export function startupTarget(s: StartupFigures): Target {
  return {
    name: 'start-up: time to ready vs a bare node -e 0',
    goal: '≤ 2×',
    value: s.ratio,
    met: s.ratio <= 2,
    where: `median of ${s.starts}: ${s.agentMs.toFixed(0)} ms vs ${s.nodeMs.toFixed(0)} ms`,
  };
}
