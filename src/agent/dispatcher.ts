/**
 * Runs every handshake of the process concurrently, whichever transport the request came from.
 * It owns what is common to all of them: the bounds, the deadline, cancellation (consumer gone,
 * shutdown), fair scheduling between consumers, and the per-handshake log line and metrics.
 *
 * Two bounds, because waiting is cheap and work is not (docs/serve.md "Bounds"):
 * - `maxHandshakes` (`[handshaked] max_handshakes`): handshakes held at once, working or waiting
 *   for their peer. This is what fds and memory scale with. At the bound the kernel transport
 *   stops ACCEPTing (`hasCapacity()`/'capacity') and further submissions queue for admission.
 * - `maxInflight` (`[handshaked] max_inflight`): handshakes doing work at once. A handshake holds
 *   a work slot while it computes and gives it back while it waits for its peer's next record
 *   (`RunContext.peerWait`), taking one again when the record is there. A thousand silent peers
 *   therefore hold a thousand cheap waiting sockets, not the slots a ready handshake needs.
 * Both queues (admission, work) are served round-robin between consumers (`SubmitOptions.
 * consumer`: the kernel, a unix uid...), FIFO within one consumer.
 *
 * A peer that sends nothing for `peerIdleTimeoutMs` while its handshake waits for it is given
 * up (ETIMEDOUT, a user_canceled alert), long before the consumer's deadline when that is long.
 * The deadline (the request's timeout, else `defaultTimeoutMs`) runs from submission, through
 * any queueing, as the consumer's does; it is clamped to what a Node timer can hold.
 */
import { EventEmitter } from 'node:events';
import type { HandshakeSummary, Logger } from './logging';
import { logHandshake, silentLogger } from './logging';
import type { AgentMetrics } from './metrics';
import { FairQueue } from './pool/fair-queue';
import { SELF_NETNS } from './netns';
import { Status, type HandshakeRequest, type HandshakeResult } from './request';
import { HandshakeAborted, MAX_TIMER_MS, waitOnPeer, type RunContext, type RunOutcome, type WorkSlot } from './run-context';
import { Cancellation, type CancelSignal } from './cancel';

// What a handshake's runner sees lives in run-context.ts, which the worker threads load without
// this module (and so without winston); re-exported for everything that imports it from here.
export { abortKind, HandshakeAborted, MAX_TIMER_MS, waitOnPeer } from './run-context';
export type { AbortKind, RunContext, RunOutcome, WorkSlot } from './run-context';

/**
 * Runs one handshake. Called holding a work slot. Must settle soon after ctx.signal aborts (with
 * ETIMEDOUT), and must not close req.fd: the transport owns it until its reply has been sent.
 */
export type Runner = (req: HandshakeRequest, ctx: RunContext) => Promise<RunOutcome>;

export interface DispatcherLimits {
  /** Handshakes doing work at once. */
  maxInflight: number;
  /** Handshakes held at once, working or waiting on their peer (default: maxInflight). */
  maxHandshakes?: number;
  defaultTimeoutMs: number;
  /** Give up on a peer silent this long while we wait for it; 0 or absent: never. */
  peerIdleTimeoutMs?: number;
}

export interface DispatcherOptions {
  run: Runner;
  /** Read on every decision, so a reload changes the limits without a restart. */
  limits: () => DispatcherLimits;
  logger?: Logger;
  metrics?: AgentMetrics;
}

export interface SubmitOptions {
  /** Abort when the consumer is gone (unix peer hung up, kernel cancelled). */
  signal?: CancelSignal;
  /** Name for logs and metrics: 'kernel', 'unix', ... */
  transport?: string;
  /** Whom the request is scheduled fairly for ('kernel', 'unix:uid=1000', ...); default the transport. */
  consumer?: string;
  /** The network namespace the request came from, as logs and metrics name it; default `self`. */
  netns?: string;
}

type JobState = 'queued' | 'admitted' | 'done';

interface Job {
  req: HandshakeRequest;
  transport: string;
  netns: string;
  consumer: string;
  submitted: number;
  deadline: number;
  controller: Cancellation;
  cleanup: () => void;
  resolve: (r: HandshakeResult) => void;
  state: JobState;
  /** Holds a work slot now. */
  working: boolean;
  /** Has been handed to the runner. */
  started: boolean;
}

interface WorkWaiter {
  job: Job;
  grant: () => void;
}

export interface DispatcherEvents {
  capacity: [];
  idle: [];
}

/** The deadline a request gets: its own timeout, else the default, at most what a timer holds. */
export function effectiveTimeoutMs(requested: number | undefined, defaultMs: number): number {
  const ms = requested !== undefined && requested > 0 ? requested : defaultMs;
  return Math.min(ms, MAX_TIMER_MS);
}

export class Dispatcher extends EventEmitter<DispatcherEvents> {
  /** Submitted, not yet admitted (at max_handshakes). */
  private readonly admission = new FairQueue<Job>();
  /** Admitted handshakes that want a work slot (to start, or to go on with a peer's record). */
  private readonly work = new FairQueue<WorkWaiter>();
  private readonly held = new Set<Job>();
  private workingCount = 0;
  private stopping = false;
  private readonly logger: Logger;
  /** Most handshakes ever held at once (tests and diagnostics). */
  peakInflight = 0;
  /** Most handshakes ever working at once (tests and diagnostics). */
  peakWorking = 0;

  constructor(private readonly opts: DispatcherOptions) {
    super();
    this.logger = opts.logger ?? silentLogger();
  }

  /** Handshakes held: working or waiting on their peer. */
  get inFlight(): number {
    return this.held.size;
  }

  /** Handshakes holding a work slot now. */
  get working(): number {
    return this.workingCount;
  }

  /** Submissions waiting for admission. */
  get queued(): number {
    return this.admission.size;
  }

  get shuttingDown(): boolean {
    return this.stopping;
  }

  private maxHandshakes(): number {
    const l = this.opts.limits();
    return l.maxHandshakes ?? l.maxInflight;
  }

  /** True when a new request would be admitted at once. */
  hasCapacity(): boolean {
    return !this.stopping && this.held.size + this.admission.size < this.maxHandshakes();
  }

  submit(req: HandshakeRequest, opts: SubmitOptions = {}): Promise<HandshakeResult> {
    const transport = opts.transport ?? 'unknown';
    const netns = opts.netns ?? SELF_NETNS;
    const submitted = performance.now();
    if (this.stopping) {
      return Promise.resolve(this.finishUnstarted(req, transport, netns, submitted, 'the agent is shutting down'));
    }
    const timeoutMs = effectiveTimeoutMs(req.timeoutMs, this.opts.limits().defaultTimeoutMs);
    return new Promise<HandshakeResult>((resolve) => {
      const controller = new Cancellation();
      const timer = setTimeout(() => controller.abort(new HandshakeAborted('deadline')), timeoutMs);
      // A consumer may say why it withdrew (its network namespace went away) with a HandshakeAborted.
      const onCancel = () => controller.abort(opts.signal?.reason instanceof HandshakeAborted ? opts.signal.reason : new HandshakeAborted('cancelled'));
      opts.signal?.addEventListener('abort', onCancel, { once: true });
      const job: Job = {
        req,
        transport,
        netns,
        consumer: opts.consumer ?? transport,
        submitted,
        deadline: Date.now() + timeoutMs,
        controller,
        state: 'queued',
        working: false,
        started: false,
        resolve,
        cleanup: () => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onCancel);
        },
      };
      // A job not yet handed to its runner finishes as soon as it is aborted.
      controller.signal.addEventListener(
        'abort',
        () => {
          if (job.started || job.state === 'done') return;
          if (job.state === 'queued') this.admission.remove(job.consumer, (j) => j === job);
          this.complete(job, { status: Status.ETIMEDOUT, remoteAuth: [], reason: `${(controller.signal.reason as Error).message} while waiting for a free slot` });
        },
        { once: true },
      );
      if (opts.signal?.aborted) {
        onCancel();
        return;
      }
      this.admission.push(job.consumer, job);
      this.pump();
    });
  }

  /**
   * Stop: new submissions finish at once with ETIMEDOUT, queued ones too; running ones get
   * `graceMs` to finish, then are aborted (they send their alert and report ETIMEDOUT).
   * Resolves when nothing is running.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const job of this.admission.drain()) job.controller.abort(new HandshakeAborted('shutdown'));
    for (const job of [...this.held]) if (!job.started) job.controller.abort(new HandshakeAborted('shutdown'));
    if (this.held.size === 0) return;
    const idle = new Promise<void>((resolve) => this.once('idle', resolve));
    const grace = setTimeout(() => {
      for (const job of this.held) job.controller.abort(new HandshakeAborted('shutdown'));
    }, graceMs);
    await idle;
    clearTimeout(grace);
  }

  /** Admit what the handshake bound allows, then hand out the work slots that are free. */
  private pump(): void {
    const maxHeld = this.maxHandshakes();
    while (this.admission.size > 0 && this.held.size < maxHeld) {
      const job = this.admission.shift() as Job;
      job.state = 'admitted';
      this.held.add(job);
      this.peakInflight = Math.max(this.peakInflight, this.held.size);
      this.opts.metrics?.started();
      this.work.push(job.consumer, { job, grant: () => this.start(job) });
    }
    const maxWorking = this.opts.limits().maxInflight;
    while (this.work.size > 0 && this.workingCount < maxWorking) {
      const w = this.work.shift() as WorkWaiter;
      w.job.working = true;
      this.workingCount++;
      this.peakWorking = Math.max(this.peakWorking, this.workingCount);
      w.grant();
    }
  }

  /** The work-slot handle of one job: what peerWait and remote runners use. */
  private slotOf(job: Job): WorkSlot {
    return {
      release: () => this.releaseWork(job),
      acquire: () =>
        new Promise<void>((resolve) => {
          if (job.state === 'done' || job.working) {
            resolve();
            return;
          }
          this.work.push(job.consumer, { job, grant: resolve });
          this.pump();
        }),
    };
  }

  private releaseWork(job: Job): void {
    if (!job.working) return;
    job.working = false;
    this.workingCount--;
    this.pump();
  }

  private start(job: Job): void {
    job.started = true;
    const slot = this.slotOf(job);
    const idleMs = this.opts.limits().peerIdleTimeoutMs ?? 0;
    const ctx: RunContext = {
      signal: job.controller.signal,
      deadline: job.deadline,
      transport: job.transport,
      netns: job.netns,
      slot,
      peerWait: (read) => waitOnPeer(read, slot, idleMs, () => job.controller.abort(new HandshakeAborted('idle', `for ${idleMs} ms ([handshaked] peer_idle_timeout_ms)`))),
    };
    let p: Promise<RunOutcome>;
    try {
      p = this.opts.run(job.req, ctx);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (outcome) => this.complete(job, outcome),
      (err: unknown) => {
        this.logger.error('handshake runner failed unexpectedly', { error: err instanceof Error ? err.stack ?? err.message : String(err) });
        this.complete(job, { status: Status.EIO, remoteAuth: [], reason: `internal error: ${err instanceof Error ? err.message : String(err)}` });
      },
    );
  }

  private complete(job: Job, outcome: RunOutcome): void {
    if (job.state === 'done') return;
    const wasHeld = job.state === 'admitted';
    job.state = 'done';
    job.cleanup();
    this.held.delete(job);
    this.work.remove(job.consumer, (w) => w.job === job);
    if (job.working) {
      job.working = false;
      this.workingCount--;
    }
    const seconds = (performance.now() - job.submitted) / 1000;
    const result: HandshakeResult = { status: outcome.status, remoteAuth: outcome.status === Status.OK ? outcome.remoteAuth : [] };
    if (wasHeld) this.opts.metrics?.finished(job.req.role, job.req.auth, result.status, seconds, { ...outcome, netns: job.netns });
    this.logResult(job.req, job.transport, job.netns, seconds, result, outcome);
    job.resolve(result);
    this.pump();
    if (this.hasCapacity()) this.emit('capacity');
    if (this.held.size === 0 && this.admission.size === 0) this.emit('idle');
  }

  private finishUnstarted(req: HandshakeRequest, transport: string, netns: string, submitted: number, reason: string): HandshakeResult {
    const result = { status: Status.ETIMEDOUT, remoteAuth: [] };
    this.logResult(req, transport, netns, (performance.now() - submitted) / 1000, result, { ...result, reason });
    return result;
  }

  private logResult(req: HandshakeRequest, transport: string, netns: string, seconds: number, result: HandshakeResult, o: RunOutcome): void {
    const summary: HandshakeSummary = {
      transport,
      netns,
      role: req.role,
      auth: req.auth,
      peer: o.peer,
      peername: req.peername,
      suite: o.suite,
      group: o.group,
      signatureScheme: o.signatureScheme,
      clientSignatureScheme: o.clientSignatureScheme,
      durationMs: seconds * 1000,
      status: result.status,
      remoteAuth: result.remoteAuth,
      reason: o.reason,
      alert: o.alert,
    };
    logHandshake(this.logger, summary);
  }
}
