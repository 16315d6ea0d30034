/**
 * Cancellation for handshakes: the part of AbortController/AbortSignal the agent uses, without
 * the DOM event machinery. Every handshake makes two or three of these (its transport's, the
 * dispatcher's, a worker's) and listens on them from three or four places; with Node's
 * AbortController that cost ≈ 8-10 µs per controller with two listeners (an EventTarget, an
 * Event per abort, a WeakRef per listener), and its share of every scavenge (docs/bench.md,
 * "Cancellation without AbortController"). This one is a flag, a reason and an ordered set.
 *
 * What it keeps of AbortSignal's behaviour, which the dispatcher and the runners rely on:
 * - abort() once: later calls change nothing (the first reason stays);
 * - listeners run in the order they were added, each once, synchronously inside abort();
 * - a listener removed before its turn (also by an earlier listener of the same abort) does not
 *   run; one added to a signal already aborted never runs (callers check `aborted` first);
 * - a listener that throws does not keep the others from running; its error is thrown again
 *   from a microtask, an uncaught exception as it would be from an EventTarget.
 * AbortSignal itself satisfies CancelSignal, so a caller may still hand one in.
 */

export interface CancelSignal {
  readonly aborted: boolean;
  /** Why, once aborted (the value given to abort()); undefined before. */
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

class Signal implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  /** Insertion-ordered; iterating a Set skips entries deleted before their turn. */
  listeners: Set<() => void> | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    (this.listeners ??= new Set()).add(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    this.listeners?.delete(listener);
  }
}

export class Cancellation {
  private readonly s = new Signal();

  get signal(): CancelSignal {
    return this.s;
  }

  abort(reason: unknown = new Error('cancelled')): void {
    const s = this.s;
    if (s.aborted) return;
    s.aborted = true;
    s.reason = reason;
    const listeners = s.listeners;
    if (!listeners) return;
    for (const listener of listeners) {
      listeners.delete(listener);
      try {
        listener();
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    s.listeners = undefined;
  }
}
