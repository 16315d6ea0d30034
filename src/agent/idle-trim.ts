/**
 * Gives the C heap's free memory back to the kernel once the agent has gone quiet after work.
 *
 * A storm of handshakes leaves glibc's arenas holding the memory its native allocations used
 * (node:crypto's objects, OpenSSL's, socket buffers, V8's off-heap backing stores); glibc
 * keeps freed memory for reuse, one arena per thread that met a locked one, so the agent's
 * resident set after a storm stays near its peak. `malloc_trim(0)` returns every arena's free
 * pages (docs/serve.md "Memory after a storm"; docs/bench.md "Memory after a storm: malloc_trim
 * when idle" has what it saves and costs).
 *
 * Much of what a storm used is held by JavaScript objects it left dead (node:crypto's native
 * handles) and is freed only when V8 collects them, which an idle V8 does only when its memory
 * reducer runs, tens of seconds later. So the agent trims:
 *
 * - after `quietMs` with no handshake held or queued: what is free by then;
 * - after each of V8's full collections while the agent stays idle (at most
 *   `MAX_TRIMS_AFTER_COLLECTION` of them): what those collections freed.
 *
 * Never while a handshake is in flight: a submission cancels the pending trim and stops the
 * watch on collections, and the next time the agent is idle it all starts again from zero.
 * Nothing happens when the C library has no malloc_trim (musl): the trimmer is then never armed.
 */

import { constants as perfConstants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/** What the trimmer watches: the dispatcher's `busy` and `idle` events. */
export interface IdleSource {
  on(event: 'busy' | 'idle', listener: () => void): unknown;
  off(event: 'busy' | 'idle', listener: () => void): unknown;
}

export interface IdleTrimOptions {
  /** malloc_trim, or undefined when the C library has none. */
  trim: ((pad: number) => number) | undefined;
  /** How long the agent must hold no handshake before the trim. */
  quietMs: number;
  /**
   * Starts watching V8's full (mark-compact) collections, calling `onFull` after each; returns
   * what stops the watch. Default: a PerformanceObserver of 'gc' entries. Tests pass fakes.
   */
  watchFullCollections?: (onFull: () => void) => () => void;
  /** Timer functions; tests pass fakes. */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
  /** Told after each trim: whether anything was released, and the CPU time it took (ms). */
  onTrim?: (released: boolean, ms: number) => void;
}

/** The quiet period the daemon uses: longer than the gaps inside a storm, short enough to matter. */
export const IDLE_TRIM_QUIET_MS = 1000;

/** Trims after V8's own full collections in one idle period; its memory reducer runs a few. */
export const MAX_TRIMS_AFTER_COLLECTION = 3;

/** Watches V8's full collections with a PerformanceObserver (only while the agent is idle). */
export function watchFullCollections(onFull: () => void): () => void {
  const observer = new PerformanceObserver((list) => {
    if (list.getEntries().some(isFullCollection)) onFull();
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

function isFullCollection(e: PerformanceEntry): boolean {
  // A gc entry says its kind in detail (Node ≥ 16); the kinds are bits.
  const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
  return (kind & perfConstants.NODE_PERFORMANCE_GC_MAJOR) !== 0;
}

export class IdleTrim {
  private timer: unknown;
  /** Stops the watch on V8's collections; set from an idle period's first trim until busy. */
  private stopWatch?: () => void;
  private trimsAfterCollection = 0;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;
  /** Trims done (tests and diagnostics). */
  trims = 0;

  private readonly onBusy = (): void => this.cancel();
  private readonly onIdle = (): void => this.arm();

  constructor(
    private readonly source: IdleSource,
    private readonly opts: IdleTrimOptions,
  ) {
    this.setTimer =
      opts.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        // A pending trim never keeps the process alive.
        t.unref();
        return t;
      });
    this.clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
    if (!opts.trim) return;
    source.on('busy', this.onBusy);
    source.on('idle', this.onIdle);
  }

  /** True when the C library has malloc_trim, so quiet periods end in a trim. */
  get enabled(): boolean {
    return this.opts.trim !== undefined;
  }

  /** Stop watching; a pending trim does not happen. */
  close(): void {
    this.cancel();
    this.source.off('busy', this.onBusy);
    this.source.off('idle', this.onIdle);
  }

  private arm(): void {
    this.cancel();
    this.timer = this.setTimer(() => this.fire(), this.opts.quietMs);
  }

  private cancel(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
    if (this.timer === undefined) return;
    this.clearTimer(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    this.timer = undefined;
    this.trimNow();
    this.trimsAfterCollection = 0;
    this.stopWatch = (this.opts.watchFullCollections ?? watchFullCollections)(() => this.afterCollection());
  }

  private afterCollection(): void {
    // A report already queued when the watch stopped (the agent became busy) is dropped.
    if (!this.stopWatch) return;
    this.trimNow();
    if (++this.trimsAfterCollection < MAX_TRIMS_AFTER_COLLECTION) return;
    this.stopWatch();
    this.stopWatch = undefined;
  }

  private trimNow(): void {
    const trim = this.opts.trim;
    if (!trim) return;
    const t0 = performance.now();
    const released = trim(0) === 1;
    this.trims++;
    this.opts.onTrim?.(released, performance.now() - t0);
  }
}
