/**
 * The upcall-storm benchmark (issue 8): handshaked against the crypto floor and against Node's
 * tls (OpenSSL), 1 to 1024 handshakes in flight, each role and auth mode. Processes:
 *   this one      — plays the kernel: owns the TCP sockets, sends requests, times replies
 *   handshaked    — `serve --transport unix --ktls off` (CPU and RSS read from /proc)
 *   node tls      — the baseline in the same position (node-agent.ts)
 *   peer          — Node tls at the far end of every connection (peer.ts)
 * Knobs are environment variables (see HELP), so `npm run bench` stays a plain command.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultWorkers } from '../../agent/config';
import { runCell, type CellSample } from './cell';
import { measureFloor, type FloorFigures } from './floor';
import { formatStorm } from './format';
import { PeerProcess } from './peer-process';
import { AUTH_MODES, ROLES, ROOT_DIR, SUITE, unitNodeArgs, type AuthMode, type Role } from './shape';
import { AgentSide, BenchKeys, makeWorkDir, NodeSide, type Side, type SideName } from './sides';
import { measureStartup, startupTarget, type StartupFigures } from './startup';
import { floorKey, summarize, summarizeWorkers, type StormSummary } from './summary';
import { latencySvg } from './svg';

export const HELP = `npm run bench — handshaked under upcall storms, against the crypto floor and Node's tls.

Environment:
  BENCH_QUICK=1              smoke run: concurrency 1,16,32, tiny counts, short floor
  BENCH_CONCURRENCY=1,16,…   handshakes in flight per cell (default 1,16,256,1024)
  BENCH_SCALE=F              multiply handshakes per cell (default 1: 300 at 1, else max(800, 3×in flight))
  BENCH_ROLES=server,client  roles of the side under test (default both)
  BENCH_AUTHS=x509,mtls,psk  auth modes (default all three)
  BENCH_SIDES=handshaked,node  which sides to run (default both)
  BENCH_WARMUP=N             unmeasured handshakes per side, role and auth first (default 200: JIT warm)
  BENCH_FLOOR_ITERATIONS=N   iterations per crypto-floor measurement (default 400)
  BENCH_MAX_INFLIGHT=N       handshaked's [handshaked] max_inflight (default 1024: all in flight)
  BENCH_WORKERS=0,1,2,all    the workers axis: handshaked alone with each [handshaked] workers value
                             (default 0,1,2,all; quick: 0,all; "none" skips it). The main cells run
                             the agent as shipped (workers default: 0 on ≤ 2 CPUs, else CPUs − 1)
  BENCH_WORKERS_CONCURRENCY=N  handshakes in flight in the workers-axis cells (default 256; quick 32)
  BENCH_AGENT_LOG_LEVEL=L    the agent's log_level (default info: one line per handshake, as shipped)
  BENCH_OUT=DIR              where storm.json, storm.txt and latency.svg go (default bench-results;
                             quick runs: $TMPDIR/handshaked-bench-quick)
  BENCH_PROFILE=DIR          run both sides under node --cpu-prof, profiles into DIR
  BENCH_AGENT_NODE_ARGS=…    node options for the agent, space-separated (default: the NODE_OPTIONS of
                             systemd/handshaked.service, so the shipped heap sizing is measured; "none": none)
  BENCH_STARTS=N             agent starts (and bare node -e 0 starts) for the start-up figure
                             (default 9, quick 3; 0: not measured)
  BENCH_JSON=1               print only the JSON
Needs a built tree (npm run build) and root (the PSK lives in a kernel keyring; clear_refs).
`;

export interface StormOptions {
  concurrency: number[];
  scale: number;
  roles: Role[];
  auths: AuthMode[];
  sides: SideName[];
  warmup: number;
  floorIterations: number;
  maxInflight: number;
  /** The workers axis: [handshaked] workers values ('all' = one per CPU). */
  workers: Array<number | 'all'>;
  workersConcurrency: number;
  outDir: string;
  profileDir?: string;
  agentNodeArgs: string[];
  agentLogLevel?: string;
  starts: number;
  json: boolean;
  quick: boolean;
}

function list<T extends string>(name: string, v: string | undefined, allowed: readonly T[], dflt: readonly T[]): T[] {
  if (!v) return [...dflt];
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (!(allowed as readonly string[]).includes(i)) throw new Error(`${name}: unknown "${i}"; choose from ${allowed.join(', ')}`);
  return items as T[];
}

function num(name: string, v: string | undefined, dflt: number, integer = true): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
  return n;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): StormOptions {
  const quick = env.BENCH_QUICK === '1';
  const conc = env.BENCH_CONCURRENCY ? env.BENCH_CONCURRENCY.split(',').map((s) => num('BENCH_CONCURRENCY', s.trim(), 1)) : quick ? [1, 16, 32] : [1, 16, 256, 1024];
  return {
    concurrency: [...new Set(conc)].sort((a, b) => a - b),
    scale: num('BENCH_SCALE', env.BENCH_SCALE, quick ? 0.05 : 1, false),
    roles: list('BENCH_ROLES', env.BENCH_ROLES, ROLES, ROLES),
    auths: list('BENCH_AUTHS', env.BENCH_AUTHS, AUTH_MODES, AUTH_MODES),
    sides: list('BENCH_SIDES', env.BENCH_SIDES, ['handshaked', 'node'] as const, ['handshaked', 'node']),
    warmup: env.BENCH_WARMUP === '0' ? 0 : num('BENCH_WARMUP', env.BENCH_WARMUP, quick ? 8 : 200),
    floorIterations: num('BENCH_FLOOR_ITERATIONS', env.BENCH_FLOOR_ITERATIONS, quick ? 20 : 400),
    maxInflight: num('BENCH_MAX_INFLIGHT', env.BENCH_MAX_INFLIGHT, 1024),
    workers: workersAxis(env.BENCH_WORKERS, quick),
    workersConcurrency: num('BENCH_WORKERS_CONCURRENCY', env.BENCH_WORKERS_CONCURRENCY, quick ? 32 : 256),
    // A smoke run must not overwrite the committed example results.
    outDir: path.resolve(env.BENCH_OUT ?? (quick ? path.join(os.tmpdir(), 'handshaked-bench-quick') : path.join(ROOT_DIR, 'bench-results'))),
    profileDir: env.BENCH_PROFILE ? path.resolve(env.BENCH_PROFILE) : undefined,
    agentNodeArgs: env.BENCH_AGENT_NODE_ARGS === 'none' ? [] : env.BENCH_AGENT_NODE_ARGS === undefined ? unitNodeArgs() : env.BENCH_AGENT_NODE_ARGS.split(' ').filter(Boolean),
    agentLogLevel: env.BENCH_AGENT_LOG_LEVEL || undefined,
    starts: env.BENCH_STARTS === '0' ? 0 : num('BENCH_STARTS', env.BENCH_STARTS, quick ? 3 : 9),
    json: env.BENCH_JSON === '1',
    quick,
  };
}

function workersAxis(v: string | undefined, quick: boolean): Array<number | 'all'> {
  if (v === 'none') return [];
  if (!v) return quick ? [0, 'all'] : [0, 1, 2, 'all'];
  return v.split(',').map((s) => {
    const t = s.trim();
    if (t === 'all') return 'all';
    const n = Number(t);
    if (!Number.isInteger(n) || n < 0) throw new Error(`BENCH_WORKERS: "${t}" is not a worker count (0, 1, 2, ... or all)`);
    return n;
  });
}

/** Handshakes per cell: enough for a p99 and at least three full waves at high concurrency. */
function cellCount(concurrency: number, scale: number): number {
  const base = concurrency === 1 ? 300 : Math.max(800, 3 * concurrency);
  return Math.max(concurrency, Math.ceil(base * scale));
}

export async function runStorm(o: StormOptions, progress: (line: string) => void = () => undefined): Promise<StormSummary> {
  const floor: Record<string, FloorFigures> = {};
  // The floor first, on a machine not yet busy with the other processes.
  for (const role of o.roles) for (const auth of o.auths) floor[floorKey(role, auth)] = measureFloor(role, auth, o.floorIterations);
  progress('crypto floor measured');

  const keys = BenchKeys.create();
  const workDir = makeWorkDir();
  let startup: StartupFigures | undefined;
  if (o.starts > 0 && o.sides.includes('handshaked')) {
    startup = await measureStartup(o.starts, o.agentNodeArgs, workDir);
    progress(`start-up measured: ${startup.agentMs.toFixed(0)} ms to ready with the code cache, ${startup.noCacheMs.toFixed(0)} without, node -e 0 ${startup.nodeMs.toFixed(0)} ms`);
  }
  if (o.profileDir) fs.mkdirSync(o.profileDir, { recursive: true });
  const sides: Side[] = [];
  let peer: PeerProcess | undefined;
  const samples: CellSample[] = [];
  const workerSamples: Array<{ workers: number; sample: CellSample }> = [];
  const started = Date.now();
  // Interrupted (Ctrl-C, timeout): take the agent, the baseline and the peer down too.
  const onSignal = (sig: NodeJS.Signals): void => {
    for (const side of sides) side.kill();
    peer?.kill();
    keys.dispose();
    fs.rmSync(workDir, { recursive: true, force: true });
    process.stderr.write(`bench: interrupted by ${sig}\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    peer = await PeerProcess.start(keys.psk);
    if (o.sides.includes('handshaked')) sides.push(await AgentSide.start({ keys, maxInflight: o.maxInflight, logLevel: o.agentLogLevel, cpuProfDir: o.profileDir, nodeArgs: o.agentNodeArgs, workDir }));
    if (o.sides.includes('node')) sides.push(await NodeSide.start(keys.psk, o.profileDir));
    let flip = false;
    for (const role of o.roles) {
      for (const auth of o.auths) {
        if (o.warmup > 0) for (const side of sides) await runCell(side, peer, role, auth, Math.min(16, o.warmup), o.warmup);
        for (const c of o.concurrency) {
          // Alternate which side goes first, so neither always runs on a machine the other just heated.
          const order = flip ? [...sides].reverse() : sides;
          flip = !flip;
          for (const side of order) {
            const s = await runCell(side, peer, role, auth, c, cellCount(c, o.scale));
            samples.push(s);
            progress(`${side.name} ${role}/${auth} ×${c}: ${s.ok} ok, ${s.failed} failed, ${(s.ok / (s.wallMs / 1000)).toFixed(0)} hs/s`);
          }
        }
      }
    }
    // The workers axis: the agent alone, once per worker count, same cells for each.
    for (const w of o.workers) {
      const workers = w === 'all' ? os.availableParallelism() : w;
      const agent = await AgentSide.start({ keys, maxInflight: o.maxInflight, workers, logLevel: o.agentLogLevel, nodeArgs: o.agentNodeArgs, workDir });
      sides.push(agent);
      try {
        for (const role of o.roles) {
          for (const auth of o.auths) {
            if (o.warmup > 0) await runCell(agent, peer, role, auth, Math.min(16, o.warmup), o.warmup);
            const s = await runCell(agent, peer, role, auth, o.workersConcurrency, cellCount(o.workersConcurrency, o.scale));
            workerSamples.push({ workers, sample: s });
            progress(`handshaked workers=${workers} ${role}/${auth} ×${o.workersConcurrency}: ${s.ok} ok, ${s.failed} failed, ${(s.ok / (s.wallMs / 1000)).toFixed(0)} hs/s`);
          }
        }
      } finally {
        sides.splice(sides.indexOf(agent), 1);
        await agent.stop().catch(() => undefined);
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const side of sides) await side.stop().catch(() => undefined);
    await peer?.stop();
    keys.dispose();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  const summary = summarize(samples, floor, {
    suite: SUITE,
    group: 'x25519',
    certificate: 'ECDSA P-256 leaf + intermediate',
    concurrency: o.concurrency.join(','),
    scale: o.scale,
    agentMaxInflight: o.maxInflight,
    agentWorkers: `${defaultWorkers()} (the default for ${os.availableParallelism()} CPUs, as shipped)`,
    workersAxis: o.workers.join(',') || '(skipped)',
    agentNodeOptions: o.agentNodeArgs.join(' ') || '(none)',
    quick: o.quick,
    node: process.version,
    openssl: process.versions.openssl,
    cpus: os.cpus().length,
    kernel: os.release(),
    seconds: Math.round((Date.now() - started) / 1000),
    date: new Date().toISOString(),
  }, summarizeWorkers(workerSamples));
  if (startup) {
    summary.startup = startup;
    summary.targets.push(startupTarget(startup));
  }
  return summary;
}

/** Writes storm.json, storm.txt and latency.svg (and latency.png when rsvg-convert is installed). */
export function writeResults(s: StormSummary, outDir: string): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  const files = {
    json: path.join(outDir, 'storm.json'),
    txt: path.join(outDir, 'storm.txt'),
    svg: path.join(outDir, 'latency.svg'),
  };
  fs.writeFileSync(files.json, `${JSON.stringify(s, null, 2)}\n`);
  fs.writeFileSync(files.txt, `${formatStorm(s)}\n`);
  fs.writeFileSync(files.svg, `${latencySvg(s)}\n`);
  const written = Object.values(files);
  try {
    const png = path.join(outDir, 'latency.png');
    execFileSync('rsvg-convert', ['-o', png, files.svg], { stdio: 'ignore' });
    written.push(png);
  } catch {
    // no rsvg-convert (Debian: librsvg2-bin): the SVG is the chart
  }
  return written;
}
