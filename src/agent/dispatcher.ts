/**
 * Runs every handshake of the process concurrently (one event loop, no fork), whichever
 * transport the request came from. It owns what is common to all of them: the limit on
 * handshakes in flight, the deadline, cancellation (consumer gone, shutdown), and the
 * per-handshake log line and metrics.
 *
 * Transports call `submit(req, {signal})` and send the result back their own way. They may ask
 * `hasCapacity()` and listen for 'capacity' to stop pulling work from their source at the limit
 * (the kernel transport stops ACCEPTing); requests submitted beyond the limit wait in a FIFO
 * queue, and their deadline runs while they wait, as the consumer's does.
 */
import { EventEmitter } from 'node:events';
import type { HandshakeSummary, Logger } from './logging';
import { logHandshake, silentLogger } from './logging';
import type { AgentMetrics } from './metrics';
import { Status, type HandshakeRequest, type HandshakeResult } from './request';

/** Why a handshake was stopped before it finished. */
export type AbortKind = 'deadline' | 'cancelled' | 'shutdown';

export class HandshakeAborted extends Error {
  constructor(readonly kind: AbortKind) {
    super(
      kind === 'deadline'
        ? 'deadline passed'
        : kind === 'cancelled'
          ? 'the consumer withdrew the request'
          : 'the agent is shutting down',
    );
    this.name = 'HandshakeAborted';
  }
}

export function abortKind(signal: AbortSignal): AbortKind | undefined {
  return signal.reason instanceof HandshakeAborted ? signal.reason.kind : signal.aborted ? 'cancelled' : undefined;
}

export interface RunContext {
  /** Aborted with a HandshakeAborted reason on deadline, cancellation or shutdown. */
  signal: AbortSignal;
  /** Absolute deadline (Date.now() clock). */
  deadline: number;
  transport: string;
}

/** What a runner reports: the result plus what the log line should say about it. */
export interface RunOutcome extends HandshakeResult {
  peer?: string;
  suite?: string;
  group?: string;
  /** The server's CertificateVerify scheme, and the client's in mTLS; undefined with a PSK. */
  signatureScheme?: string;
  clientSignatureScheme?: string;
  reason?: string;
  alert?: string;
}

/**
 * Runs one handshake. Must settle soon after ctx.signal aborts (with ETIMEDOUT), and must not
 * close req.fd: the transport owns it until its reply has been sent.
 */
export type Runner = (req: HandshakeRequest, ctx: RunContext) => Promise<RunOutcome>;

export interface DispatcherLimits {
  maxInflight: number;
  defaultTimeoutMs: number;
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
  signal?: AbortSignal;
  /** Name for logs and metrics: 'kernel', 'unix', ... */
  transport?: string;
}

interface Job {
  req: HandshakeRequest;
  transport: string;
  submitted: number;
  deadline: number;
  controller: AbortController;
  cleanup: () => void;
  resolve: (r: HandshakeResult) => void;
  running: boolean;
}

export interface DispatcherEvents {
  capacity: [];
  idle: [];
}

export class Dispatcher extends EventEmitter<DispatcherEvents> {
  private readonly queue: Job[] = [];
  private readonly running = new Set<Job>();
  private stopping = false;
  private readonly logger: Logger;
  /** Most handshakes ever seen in flight at once (tests and diagnostics). */
  peakInflight = 0;

  constructor(private readonly opts: DispatcherOptions) {
    super();
    this.logger = opts.logger ?? silentLogger();
  }

  get inFlight(): number {
    return this.running.size;
  }

  get queued(): number {
    return this.queue.length;
  }

  get shuttingDown(): boolean {
    return this.stopping;
  }

  /** True when a new request would start at once. */
  hasCapacity(): boolean {
    return !this.stopping && this.running.size + this.queue.length < this.opts.limits().maxInflight;
  }

  submit(req: HandshakeRequest, opts: SubmitOptions = {}): Promise<HandshakeResult> {
    const transport = opts.transport ?? 'unknown';
    const submitted = performance.now();
    if (this.stopping) {
      return Promise.resolve(this.finishUnstarted(req, transport, submitted, 'the agent is shutting down'));
    }
    const timeoutMs = req.timeoutMs && req.timeoutMs > 0 ? req.timeoutMs : this.opts.limits().defaultTimeoutMs;
    return new Promise<HandshakeResult>((resolve) => {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new HandshakeAborted('deadline')), timeoutMs);
      const onCancel = () => controller.abort(new HandshakeAborted('cancelled'));
      opts.signal?.addEventListener('abort', onCancel, { once: true });
      const job: Job = {
        req,
        transport,
        submitted,
        deadline: Date.now() + timeoutMs,
        controller,
        running: false,
        resolve,
        cleanup: () => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onCancel);
        },
      };
      // A job still waiting for a slot finishes as soon as it is aborted.
      controller.signal.addEventListener(
        'abort',
        () => {
          if (job.running) return;
          const i = this.queue.indexOf(job);
          if (i >= 0) this.queue.splice(i, 1);
          this.complete(job, { status: Status.ETIMEDOUT, remoteAuth: [], reason: `${(controller.signal.reason as Error).message} while waiting for a free slot` });
        },
        { once: true },
      );
      if (opts.signal?.aborted) {
        onCancel();
        return;
      }
      this.queue.push(job);
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
    for (const job of this.queue.splice(0)) job.controller.abort(new HandshakeAborted('shutdown'));
    if (this.running.size === 0) return;
    const idle = new Promise<void>((resolve) => this.once('idle', resolve));
    const grace = setTimeout(() => {
      for (const job of this.running) job.controller.abort(new HandshakeAborted('shutdown'));
    }, graceMs);
    await idle;
    clearTimeout(grace);
  }

  private pump(): void {
    const max = this.opts.limits().maxInflight;
    while (this.queue.length > 0 && this.running.size < max) {
      const job = this.queue.shift() as Job;
      this.start(job);
    }
  }

  private start(job: Job): void {
    job.running = true;
    this.running.add(job);
    this.peakInflight = Math.max(this.peakInflight, this.running.size);
    this.opts.metrics?.started();
    let p: Promise<RunOutcome>;
    try {
      p = this.opts.run(job.req, { signal: job.controller.signal, deadline: job.deadline, transport: job.transport });
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
    job.cleanup();
    const wasRunning = this.running.delete(job);
    const seconds = (performance.now() - job.submitted) / 1000;
    const result: HandshakeResult = { status: outcome.status, remoteAuth: outcome.status === Status.OK ? outcome.remoteAuth : [] };
    if (wasRunning) this.opts.metrics?.finished(job.req.role, job.req.auth, result.status, seconds, outcome);
    this.logResult(job.req, job.transport, seconds, result, outcome);
    job.resolve(result);
    this.pump();
    if (this.hasCapacity()) this.emit('capacity');
    if (this.running.size === 0 && this.queue.length === 0) this.emit('idle');
  }

  private finishUnstarted(req: HandshakeRequest, transport: string, submitted: number, reason: string): HandshakeResult {
    const result = { status: Status.ETIMEDOUT, remoteAuth: [] };
    this.logResult(req, transport, (performance.now() - submitted) / 1000, result, { ...result, reason });
    return result;
  }

  private logResult(req: HandshakeRequest, transport: string, seconds: number, result: HandshakeResult, o: RunOutcome): void {
    const summary: HandshakeSummary = {
      transport,
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
