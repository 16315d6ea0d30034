/**
 * Cancellation keeps the AbortController behaviour the dispatcher, the transports and the runners
 * rely on (src/agent/cancel.ts): one abort, its first reason, listeners in order and once, a
 * listener removed before its turn skipped, none run for a signal already aborted.
 */
import { Cancellation } from '../../src/agent/cancel';

describe('Cancellation', () => {
  test('abort runs the listeners in order, once, with the reason set before the first runs', () => {
    const c = new Cancellation();
    const seen: string[] = [];
    const reason = new Error('deadline');
    c.signal.addEventListener('abort', () => seen.push(`a:${c.signal.aborted}:${(c.signal.reason as Error).message}`), { once: true });
    c.signal.addEventListener('abort', () => seen.push('b'));
    expect(c.signal.aborted).toBe(false);
    expect(c.signal.reason).toBeUndefined();
    c.abort(reason);
    c.abort(new Error('later'));
    expect(seen).toEqual(['a:true:deadline', 'b']);
    expect(c.signal.reason).toBe(reason);
  });

  test('abort without a reason gives an Error', () => {
    const c = new Cancellation();
    c.abort();
    expect(c.signal.reason).toBeInstanceOf(Error);
  });

  test('a listener removed before the abort, or by an earlier listener of the same abort, does not run', () => {
    const c = new Cancellation();
    const seen: string[] = [];
    const b = () => seen.push('b');
    const d = () => seen.push('d');
    c.signal.addEventListener('abort', () => {
      seen.push('a');
      c.signal.removeEventListener('abort', b);
    });
    c.signal.addEventListener('abort', b);
    c.signal.addEventListener('abort', () => seen.push('c'));
    c.signal.addEventListener('abort', d);
    c.signal.removeEventListener('abort', d);
    c.abort();
    expect(seen).toEqual(['a', 'c']);
  });

  test('the same listener added twice runs once; one added during or after the abort never runs', () => {
    const c = new Cancellation();
    let n = 0;
    let late = 0;
    const f = () => {
      n++;
      c.signal.addEventListener('abort', () => late++);
    };
    c.signal.addEventListener('abort', f);
    c.signal.addEventListener('abort', f);
    c.abort();
    c.signal.addEventListener('abort', () => late++);
    expect(n).toBe(1);
    expect(late).toBe(0);
  });

  test('a throwing listener does not stop the others; its error is thrown again from a microtask', async () => {
    const c = new Cancellation();
    const seen: string[] = [];
    const thrown: unknown[] = [];
    const realQueue = globalThis.queueMicrotask;
    // Catch the rethrow instead of letting it become jest's uncaught exception.
    globalThis.queueMicrotask = (cb) =>
      realQueue(() => {
        try {
          cb();
        } catch (e) {
          thrown.push(e);
        }
      });
    try {
      c.signal.addEventListener('abort', () => {
        throw new Error('listener bug');
      });
      c.signal.addEventListener('abort', () => seen.push('second'));
      c.abort();
      expect(seen).toEqual(['second']);
      await new Promise((r) => setImmediate(r));
    } finally {
      globalThis.queueMicrotask = realQueue;
    }
    expect(thrown).toHaveLength(1);
    expect((thrown[0] as Error).message).toBe('listener bug');
  });
});
