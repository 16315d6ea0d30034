/**
 * What a handshake's runner is given and reports, and how it waits on its peer: the part of the
 * dispatcher (dispatcher.ts) that the handshake code and the worker threads need. Kept apart so
 * a worker thread does not load the dispatcher and, through its log line, winston (≈ 3.7 MiB of
 * RSS per worker; docs/bench.md, "Memory").
 */
import type { HandshakeResult } from './request';
import type { CancelSignal } from './cancel';

/** The longest delay a Node timer holds (2^31 - 1 ms, 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 0x7fffffff;

/** Why a handshake was stopped before it finished. */
export type AbortKind = 'deadline' | 'cancelled' | 'shutdown' | 'idle';

const ABORT_TEXT: Record<AbortKind, string> = {
  deadline: 'deadline passed',
  cancelled: 'the consumer withdrew the request',
  shutdown: 'the agent is shutting down',
  idle: 'the peer sent nothing',
};

export class HandshakeAborted extends Error {
  constructor(
    readonly kind: AbortKind,
    /** Said after the kind's text (why the consumer withdrew, for how long the peer was idle); crosses to worker threads. */
    readonly detail?: string,
  ) {
    super(detail ? `${ABORT_TEXT[kind]} ${detail}` : ABORT_TEXT[kind]);
    this.name = 'HandshakeAborted';
  }
}

export function abortKind(signal: CancelSignal): AbortKind | undefined {
  return signal.reason instanceof HandshakeAborted ? signal.reason.kind : signal.aborted ? 'cancelled' : undefined;
}

export interface RunContext {
  /** Aborted with a HandshakeAborted reason on deadline, cancellation, shutdown or peer idleness. */
  signal: CancelSignal;
  /** Absolute deadline (Date.now() clock). */
  deadline: number;
  transport: string;
  /** The request's network namespace label (`self`, a /run/netns name, `ino:<n>`): picks per-namespace configuration; absent: `self`. */
  netns?: string;
  /**
   * Wait for the peer: gives the work slot back while `read` is pending (and aborts the handshake
   * with kind 'idle' when the peer stays silent too long), takes a slot again before returning
   * its result. Every read from the peer goes through this.
   */
  peerWait<T>(read: () => Promise<T>): Promise<T>;
  /** The handshake's work slot itself, for runners that run it elsewhere (worker threads). */
  slot: WorkSlot;
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

/** The work-slot half of a handshake, for runners whose handshakes run elsewhere (worker threads). */
export interface WorkSlot {
  /** Give the slot back (the handshake now waits on its peer). Idempotent. */
  release(): void;
  /** Take a slot again; resolves when granted (at once when one is free and nobody queues). */
  acquire(): Promise<void>;
}

/**
 * Waits for `read` with the work slot given back and an idle timer running; the shared body of
 * RunContext.peerWait for handshakes run here and in worker threads.
 */
export async function waitOnPeer<T>(read: () => Promise<T>, slot: WorkSlot, idleMs: number, onIdle: () => void): Promise<T> {
  slot.release();
  const timer = idleMs > 0 ? setTimeout(onIdle, Math.min(idleMs, MAX_TIMER_MS)) : undefined;
  let value: T;
  try {
    value = await read();
  } finally {
    if (timer) clearTimeout(timer);
  }
  await slot.acquire();
  return value;
}
