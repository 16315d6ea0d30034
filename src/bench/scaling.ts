/**
 * Engine scaling over worker threads (`npm run bench:tls`, last section): N worker threads each
 * run complete handshakes between a client and a server engine in memory — no socket, no peer
 * process, no agent — so the figure is how the engines alone scale with the threads the pool
 * would give them. Rounds alternate the worker counts; each round's rate is handshakes
 * (client + server engine pairs) completed by all threads over the round's wall time, and the
 * ratio to 1 worker is taken within the same round.
 *
 * The same file is the worker's script (isMainThread false).
 */
import fs from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createClient, createServer } from '../tls';
import { MAX_RECORD_BODY, RECORD_HEADER_LEN, type CipherSuiteName, type Connection, type GroupName, type Step } from '../tls/api';
import { loadBenchPki } from './pki';
import { median } from './stats';

export interface ScalingShape {
  suite: CipherSuiteName;
  group: GroupName;
  cert: string;
}

interface WorkerJob extends ScalingShape {
  count: number;
}

export interface ScalingResult {
  workers: number[];
  rounds: number;
  perWorker: number;
  /** Median over rounds of handshakes per second, per worker count. */
  handshakesPerSec: Record<number, number>;
  /** Median over rounds of (rate with N) / (rate with the first count) in the same round. */
  ratio: Record<number, number>;
  /**
   * The same from CPU time: the sum over threads of handshakes per CPU-second of that thread,
   * over the first count's. What N idle cores would give, with the other load on the machine
   * taken out; below N only when the threads slow each other down.
   */
  cpuRatio: Record<number, number>;
  cpus: number;
}

/** Splits a flight into records (the engine takes one record at a time). */
function records(flight: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off + RECORD_HEADER_LEN <= flight.length; ) {
    const len = flight.readUInt16BE(off + 3);
    if (len > MAX_RECORD_BODY) throw new Error(`record of ${len} bytes`);
    out.push(flight.subarray(off, off + RECORD_HEADER_LEN + len));
    off += RECORD_HEADER_LEN + len;
  }
  return out;
}

/** One handshake between two engines, bytes passed by hand (scripts/bench-engine-alloc.mjs uses it too). */
export function handshakePair(client: Connection, server: Connection): void {
  let toServer: Buffer[] = records(client.start().send);
  let toClient: Buffer[] = records(server.start().send);
  let cDone = false;
  let sDone = false;
  const check = (s: Step, who: string): boolean => {
    if (s.status === 'failed') throw new Error(`${who} failed: ${s.error?.message ?? 'unknown'}`);
    return s.status === 'done';
  };
  for (let guard = 0; guard < 20 && !(cDone && sDone); guard++) {
    for (const r of toServer) {
      const s = server.receiveRecord(r);
      toClient.push(...records(s.send));
      sDone = check(s, 'server') || sDone;
    }
    toServer = [];
    for (const r of toClient) {
      const s = client.receiveRecord(r);
      toServer.push(...records(s.send));
      cDone = check(s, 'client') || cDone;
    }
    toClient = [];
  }
  if (!(cDone && sDone)) throw new Error('the engines did not finish');
}

/** This thread's CPU time, ns (/proc/thread-self resolves to the calling thread). */
function threadCpuNs(): number {
  return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
}

function runInWorker(job: WorkerJob): void {
  const pki = loadBenchPki(job.cert);
  const serverCfg = { certificate: pki.certified, clientAuth: 'none' as const, cipherSuites: [job.suite], groups: [job.group] };
  const clientCfg = { serverName: 'localhost', trust: pki.trust, cipherSuites: [job.suite], groups: [job.group] };
  const port = parentPort!;
  port.on('message', (m: { count: number } | 'exit') => {
    if (m === 'exit') {
      port.close();
      return;
    }
    const cpu0 = threadCpuNs();
    for (let i = 0; i < m.count; i++) handshakePair(createClient(clientCfg), createServer(serverCfg));
    port.postMessage({ cpuNs: threadCpuNs() - cpu0 });
  });
  // Warm the JIT before the first measured round.
  for (let i = 0; i < job.count; i++) handshakePair(createClient(clientCfg), createServer(serverCfg));
  port.postMessage('ready');
}

class EngineThread {
  private constructor(private readonly w: Worker) {}

  static start(shape: ScalingShape, warmup: number): Promise<EngineThread> {
    // Runs from dist/ (npm run bench:tls builds nothing; the compiled file is its own worker script).
    const w = new Worker(__filename, { workerData: { ...shape, count: warmup } satisfies WorkerJob });
    return new Promise((resolve, reject) => {
      w.once('message', () => resolve(new EngineThread(w)));
      w.once('error', reject);
    });
  }

  /** Runs `count` handshakes; resolves with the thread's CPU time for them, ns. */
  run(count: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.w.once('error', onError);
      this.w.once('message', (m: { cpuNs: number }) => {
        this.w.off('error', onError);
        resolve(m.cpuNs);
      });
      this.w.postMessage({ count });
    });
  }

  stop(): Promise<number> {
    return this.w.terminate();
  }
}

/** Handshakes/s of the engines on 1..N threads, interleaved rounds, ratios within each round. */
export async function measureScaling(shape: ScalingShape, workers: number[], rounds: number, perWorker: number, warmup: number): Promise<ScalingResult> {
  const max = Math.max(...workers);
  const threads = await Promise.all(Array.from({ length: max }, () => EngineThread.start(shape, warmup)));
  const rates: Record<number, number[]> = {};
  const ratios: Record<number, number[]> = {};
  const cpuRatios: Record<number, number[]> = {};
  try {
    for (let round = 0; round < rounds; round++) {
      const inRound: Record<number, number> = {};
      const cpuRate: Record<number, number> = {};
      // Alternate the order so no count always runs on a machine the other just heated.
      const order = round % 2 ? [...workers].reverse() : workers;
      for (const n of order) {
        const t0 = process.hrtime.bigint();
        const cpuNs = await Promise.all(threads.slice(0, n).map((t) => t.run(perWorker)));
        const sec = Number(process.hrtime.bigint() - t0) / 1e9;
        cpuRate[n] = cpuNs.reduce((a, ns) => a + perWorker / (ns / 1e9), 0);
        inRound[n] = (n * perWorker) / sec;
        (rates[n] ??= []).push(inRound[n]);
      }
      for (const n of workers) {
        (ratios[n] ??= []).push(inRound[n] / inRound[workers[0]]);
        (cpuRatios[n] ??= []).push(cpuRate[n] / cpuRate[workers[0]]);
      }
    }
  } finally {
    await Promise.all(threads.map((t) => t.stop()));
  }
  const os = await import('node:os');
  return {
    workers,
    rounds,
    perWorker,
    handshakesPerSec: Object.fromEntries(workers.map((n) => [n, median(rates[n])])),
    ratio: Object.fromEntries(workers.map((n) => [n, median(ratios[n])])),
    cpuRatio: Object.fromEntries(workers.map((n) => [n, median(cpuRatios[n])])),
    cpus: os.availableParallelism(),
  };
}

export function formatScaling(r: ScalingResult): string {
  const lines = [
    `Engine scaling over worker threads (client+server engine pairs in memory, no sockets or peer; ${r.rounds} rounds × ${r.perWorker} per thread; ${r.cpus} CPUs; medians):`,
  ];
  const base = `${r.workers[0]} worker${r.workers[0] === 1 ? '' : 's'}`;
  for (const n of r.workers) {
    lines.push(
      `  ${n} worker${n === 1 ? ' ' : 's'}: ${r.handshakesPerSec[n].toFixed(0)} handshakes/s, ${r.ratio[n].toFixed(2)}× ${base} by wall clock; ` +
        `${r.cpuRatio[n].toFixed(2)}× by each thread's CPU time (what ${n} idle core${n === 1 ? '' : 's'} would give)`,
    );
  }
  return lines.join('\n');
}

if (!isMainThread && (workerData as WorkerJob | undefined)?.cert !== undefined) runInWorker(workerData as WorkerJob);
