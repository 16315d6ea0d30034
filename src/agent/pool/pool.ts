/**
 * The handshake pool: worker threads that run handshakes while the main thread keeps the
 * transports, the dispatcher, the configuration and DONE (docs/serve.md "Worker threads").
 *
 * A handshake is pinned to one worker for its life (its engine and its dup of the fd live
 * there); new ones go to the worker holding the fewest. Aborts (deadline, consumer gone,
 * shutdown) are forwarded; the work slot is the dispatcher's, released and re-taken on the
 * worker's word. Every worker gets every configuration (start, SIGHUP, rotated identity files)
 * and decodes its identities once per configuration.
 *
 * A worker that exits or throws is replaced at once, and each handshake it held ends with EIO
 * and a reason: the transport still sends its DONE and closes its fd (the dead thread's dups
 * went with its event loop).
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AgentConfig, LogLevel } from '../config';
import { abortKind, HandshakeAborted, type RunContext, type RunOutcome } from '../dispatcher';
import type { Logger } from '../logging';
import { Status, type HandshakeRequest } from '../request';
import type { FromWorker, ToWorker, WorkerInit } from './protocol';
import type { HandshakeEnv } from '../handshake';
import { usesKeys } from '../handshake';
import { looksUpOfferedPsks, lookupPsks, prefetchKeys, type PrefetchedKeys } from './keys';
import { Outbox } from './outbox';

/** Back-off for replacing a worker that died before it was up: 1 s, doubling, at most 60 s. */
const RESPAWN_FIRST_DELAY_MS = 1000;
const RESPAWN_MAX_DELAY_MS = 60_000;

export interface WorkerPoolOptions {
  size: number;
  logger: Logger;
  ktls: 'on' | 'off';
  /** Key-log lines from the workers (--keylog); absent: workers do not produce them. */
  onKeylog?: (line: string) => void;
  /** The worker entry script (default: workerScriptPath()). */
  script?: string;
  /** Honour the test-only 'exit' message (tests set HANDSHAKED_TEST_HOOKS=1; never from the network). */
  testHooks?: boolean;
}

interface PoolJob {
  worker: PoolWorker;
  ctx: RunContext;
  resolve: (o: RunOutcome) => void;
  onAbort: () => void;
  /**
   * A handshake that reads kernel keys: the keys it may look up here, and the keyrings' unlink;
   * `lookups` is how many identity lookups it may still ask for (one for a server PSK handshake).
   */
  keys?: { env: HandshakeEnv['keys']; unlink: () => void; lookups: number };
}

/** Where a handshake that reads kernel keys gets them: the main thread's key reads, and the keyrings configured. */
export interface PoolKeys {
  env: HandshakeEnv['keys'];
  keyrings: readonly string[];
}

interface PoolWorker {
  index: number;
  thread: Worker;
  jobs: Set<number>;
  /** Loaded its modules and said so: takes handshakes. */
  up: boolean;
  gone: boolean;
  /** Slots granted this turn, sent together at its end. */
  grants: number[];
  /** What this turn says to the worker, sent as one message at its end. */
  outbox: Outbox<ToWorker>;
}

export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  private readonly jobs = new Map<number, PoolJob>();
  private nextId = 1;
  private next = 0;
  private closing = false;
  private started = false;
  private config?: { gen: number; config: AgentConfig; logLevel: LogLevel };
  /** Workers in a row that died before they were up (the respawn backs off by it). */
  private failedStarts = 0;
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  /** Workers replaced after dying (tests and diagnostics). */
  replaced = 0;
  /** Outcomes reported by workers (tests and diagnostics). */
  completed = 0;
  /**
   * Crossings between this thread and the workers, both ways (tests and diagnostics: each wakes
   * the other thread), each carrying one turn's messages (outbox.ts); one that carries only log
   * and key-log lines forwarded from a worker is not counted.
   */
  messages = 0;
  /** The messages those crossings carried (log and key-log lines not counted): over `messages`, what batching saved. */
  carried = 0;

  constructor(private readonly opts: WorkerPoolOptions) {}

  /**
   * Let handshakes start workers. None is created here: each costs an isolate (≈ 15 MiB of
   * RSS idle, more under load) and a good part of a second of CPU to load, so a worker starts
   * when a handshake that may run on one finds every started worker busy (grow()).
   */
  start(): void {
    if (this.started || this.closing) return;
    this.started = true;
  }

  get size(): number {
    return this.opts.size;
  }

  /** Handshakes each worker holds now. */
  get load(): number[] {
    return this.workers.map((w) => w.jobs.size);
  }

  /** Thread ids of the workers (tests). */
  get threadIds(): number[] {
    return this.workers.map((w) => w.thread.threadId);
  }

  /** Every worker decodes this configuration's identities and uses them for its next handshakes. */
  configure(config: AgentConfig, logLevel: LogLevel): void {
    this.config = { gen: (this.config?.gen ?? 0) + 1, config, logLevel };
    for (const w of this.workers) this.send(w, { t: 'config', ...this.config });
  }

  /** Starts every worker not started yet and resolves when all are up (tests, benchmarks). */
  async whenUp(): Promise<void> {
    while (this.started && !this.closing && this.workers.length < this.opts.size) this.workers.push(this.spawn(this.workers.length));
    while (!this.closing && (this.workers.length < this.opts.size || this.workers.some((w) => !w.up))) await new Promise((r) => setTimeout(r, 10));
  }

  /**
   * Runs the handshake on a worker; undefined when no worker is up yet (the first second after
   * start, or while a dead one is replaced), or when the keyrings of a handshake that reads keys
   * cannot be linked: the caller runs it itself rather than wait (and reports that failure).
   * A handshake that reads kernel keys gets them through `keys`, on this thread (keys.ts).
   */
  run(req: HandshakeRequest, ctx: RunContext, peerIdleTimeoutMs: number, keys: PoolKeys): Promise<RunOutcome> | undefined {
    this.grow();
    const worker = this.pick();
    if (!worker) return undefined;
    let jobKeys: PoolJob['keys'];
    let prefetched: PrefetchedKeys | undefined;
    if (usesKeys(req)) {
      let unlink: () => void;
      try {
        unlink = keys.env.linkKeyrings(req, keys.keyrings);
      } catch {
        return undefined;
      }
      jobKeys = { env: keys.env, unlink, lookups: looksUpOfferedPsks(req) ? 1 : 0 };
      prefetched = prefetchKeys(req, keys.env);
    }
    const id = this.nextId++;
    return new Promise<RunOutcome>((resolve) => {
      const onAbort = () => {
        const detail = ctx.signal.reason instanceof HandshakeAborted ? ctx.signal.reason.detail : undefined;
        this.send(worker, { t: 'abort', id, kind: abortKind(ctx.signal) ?? 'cancelled', ...(detail ? { detail } : {}) });
      };
      this.jobs.set(id, { worker, ctx, resolve, onAbort, ...(jobKeys ? { keys: jobKeys } : {}) });
      worker.jobs.add(id);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      this.send(worker, {
        t: 'run',
        id,
        req,
        deadline: ctx.deadline,
        transport: ctx.transport,
        peerIdleTimeoutMs,
        ...(ctx.netns ? { netns: ctx.netns } : {}),
        ...(prefetched && (prefetched.psk.length > 0 || prefetched.read.length > 0) ? { keys: prefetched } : {}),
      });
      if (ctx.signal.aborted) onAbort();
    });
  }

  /** Test-only: make worker `index` exit from inside (needs testHooks). */
  crashForTest(index: number, code = 70): void {
    this.send(this.workers[index], { t: 'exit', code });
  }

  /** Stop every worker (after the dispatcher is idle: nothing runs on them any more). */
  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.respawnTimers) clearTimeout(t);
    this.respawnTimers.clear();
    await Promise.all(this.workers.map((w) => w.thread.terminate()));
  }

  /**
   * One more worker when every started one is up and holds a handshake (a worker still loading
   * will take the next ones; none started: the first). Up to the configured size.
   */
  private grow(): void {
    if (!this.started || this.closing || this.workers.length >= this.opts.size) return;
    if (this.workers.some((w) => !w.gone && (!w.up || w.jobs.size === 0))) return;
    this.workers.push(this.spawn(this.workers.length));
  }

  private pick(): PoolWorker | undefined {
    // Fewest handshakes first; among equals, round-robin.
    let best: PoolWorker | undefined;
    for (let i = 0; i < this.workers.length; i++) {
      const w = this.workers[(this.next + i) % this.workers.length];
      if (w.up && !w.gone && (!best || w.jobs.size < best.jobs.size)) best = w;
    }
    if (best) this.next = (best.index + 1) % this.workers.length;
    return best;
  }

  private send(w: PoolWorker, m: ToWorker): void {
    if (!w.gone) w.outbox.push(m);
  }

  private spawn(index: number): PoolWorker {
    const init: WorkerInit = { ktls: this.opts.ktls, keylog: this.opts.onKeylog !== undefined, testHooks: this.opts.testHooks ?? false };
    const thread = workerThread(init, this.opts.script);
    const outbox = new Outbox<ToWorker>((batch) => {
      if (w.gone) return;
      this.messages++;
      this.carried += batch.length;
      thread.postMessage(batch);
    });
    const w: PoolWorker = { index, thread, jobs: new Set(), up: false, gone: false, grants: [], outbox };
    outbox.onFlush(() => {
      if (w.grants.length === 0) return undefined;
      const ids = w.grants;
      w.grants = [];
      return { t: 'grant', ids };
    });
    thread.on('message', (batch: FromWorker[]) => {
      let protocol = 0;
      for (const m of batch) {
        if (m.t !== 'log' && m.t !== 'keylog') protocol++;
        this.onMessage(w, m);
      }
      if (protocol > 0) this.messages++;
      this.carried += protocol;
    });
    thread.on('error', (e: Error) => {
      this.opts.logger.error('a handshake worker thread failed', { worker: index, error: e.stack ?? e.message });
    });
    thread.on('exit', (code: number) => this.onExit(w, code));
    // Workers must not keep a stopping agent alive; their jobs keep the dispatcher busy instead.
    thread.unref();
    if (this.config) this.send(w, { t: 'config', ...this.config });
    return w;
  }

  private onMessage(w: PoolWorker, m: FromWorker): void {
    switch (m.t) {
      case 'up':
        w.up = true;
        this.failedStarts = 0;
        this.opts.logger.debug('handshake worker thread up', { worker: w.index, thread: w.thread.threadId });
        return;
      case 'slots':
        for (const id of m.wait) this.jobs.get(id)?.ctx.slot.release();
        for (const id of m.want) {
          const job = this.jobs.get(id);
          if (job) void job.ctx.slot.acquire().then(() => this.grant(w, id));
        }
        return;
      case 'done':
        this.completed++;
        this.settle(m.id, m.outcome);
        return;
      case 'findPsk':
        this.findPsk(w, m.id, m.identities);
        return;
      case 'keylog':
        this.opts.onKeylog?.(m.line);
        return;
      case 'log':
        this.opts.logger.log(m.level, m.message, m.meta);
        return;
    }
  }

  /** Grants go out once per turn of this thread's loop, with the rest of the turn's messages to that worker. */
  private grant(w: PoolWorker, id: number): void {
    if (w.gone) return;
    w.grants.push(id);
    w.outbox.schedule();
  }

  /**
   * A worker's server PSK handshake asks for the keys of the identities its ClientHello offers:
   * looked up here, once per handshake and only for a server PSK handshake of that worker (any
   * other ask gets no keys), at most MAX_PSK_IDENTITIES_LOOKED_UP of them (lookupPsks).
   */
  private findPsk(w: PoolWorker, id: number, identities: Uint8Array[]): void {
    const job = this.jobs.get(id);
    const keys = job?.worker === w ? job.keys : undefined;
    const allowed = keys !== undefined && keys.lookups > 0;
    if (keys) keys.lookups = 0;
    this.send(w, { t: 'psks', id, entries: allowed ? lookupPsks(identities, keys.env) : identities.map(() => null) });
  }

  private settle(id: number, outcome: RunOutcome): void {
    const job = this.jobs.get(id);
    if (!job) return;
    this.jobs.delete(id);
    job.worker.jobs.delete(id);
    job.ctx.signal.removeEventListener('abort', job.onAbort);
    job.keys?.unlink();
    job.resolve(outcome);
  }

  private onExit(w: PoolWorker, code: number): void {
    w.gone = true;
    const lost = [...w.jobs];
    for (const id of lost) {
      this.settle(id, {
        status: Status.EIO,
        remoteAuth: [],
        reason: `the worker thread running this handshake exited (code ${code}); it was replaced`,
      });
    }
    if (this.closing) return;
    // A worker that dies before it was ever up (its script does not load, the memory for an
    // isolate is not there) would die again at once: replacing it in a tight loop would burn a
    // core. Handshakes run on the main thread meanwhile (no worker is up to take them).
    const delayMs = w.up ? 0 : Math.min(RESPAWN_MAX_DELAY_MS, RESPAWN_FIRST_DELAY_MS * 2 ** this.failedStarts++);
    this.opts.logger.error('a handshake worker thread exited; starting a new one', {
      worker: w.index,
      code,
      handshakes_lost: lost.length,
      ...(delayMs > 0 ? { before_it_was_up: true, retry_in_ms: delayMs } : {}),
    });
    this.replaced++;
    if (delayMs === 0) {
      this.workers[w.index] = this.spawn(w.index);
      return;
    }
    const t = setTimeout(() => {
      this.respawnTimers.delete(t);
      if (!this.closing) this.workers[w.index] = this.spawn(w.index);
    }, delayMs);
    t.unref();
    this.respawnTimers.add(t);
  }
}

/**
 * Set by scripts/build.mjs in the bundled program (dist/cli/program.js), whose __dirname is not
 * this directory: the name of the bundled worker entry beside it. Undefined in tsc's output.
 */
declare const HANDSHAKED_WORKER_SCRIPT: string | undefined;

/**
 * The worker script: in the bundled executable, the bundled worker entry beside it; in tsc's
 * output, the compiled worker.js beside this file; from the TypeScript sources (jest), the same
 * file transpiled on load by the tests' require hook.
 */
function workerScriptPath(): string {
  const bundled = typeof HANDSHAKED_WORKER_SCRIPT === 'string' ? HANDSHAKED_WORKER_SCRIPT : undefined;
  return path.join(__dirname, bundled ?? (__filename.endsWith('.js') ? 'worker.js' : 'worker.ts'));
}

function workerThread(init: WorkerInit, script?: string): Worker {
  if (script !== undefined || __filename.endsWith('.js')) return new Worker(script ?? workerScriptPath(), { workerData: init });
  const hook = path.resolve(__dirname, '..', '..', '..', 'test', 'support', 'ts-worker-hook.js');
  const entry = workerScriptPath();
  return new Worker(`require(${JSON.stringify(hook)}); require(${JSON.stringify(entry)});`, { eval: true, workerData: init });
}
