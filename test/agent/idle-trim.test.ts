import { Dispatcher, type RunOutcome } from '../../src/agent/dispatcher';
import v8 from 'node:v8';
import vm from 'node:vm';
import { IdleTrim, MAX_TRIMS_AFTER_COLLECTION, watchFullCollections, type IdleTrimOptions } from '../../src/agent/idle-trim';
import { Status, type HandshakeRequest } from '../../src/agent/request';
import { lookUpMallocTrim } from '../../src/sys/libc';

const req: HandshakeRequest = { fd: 100, role: 'client', auth: 'unauth', peerIdentities: [], keySerialsAllowed: true };
const OK: RunOutcome = { status: Status.OK, remoteAuth: [] };

/** A dispatcher whose handshakes finish when the test says so. */
function agent() {
  const finishers: Array<() => void> = [];
  const d = new Dispatcher({
    run: () => new Promise<RunOutcome>((resolve) => finishers.push(() => resolve(OK))),
    limits: () => ({ maxInflight: 8, defaultTimeoutMs: 600_000 }),
  });
  const calls: number[] = [];
  const trim = (pad: number): number => {
    calls.push(pad);
    return 1;
  };
  /** Submit one handshake; returns what finishes it and waits for its result. */
  const start = async (): Promise<() => Promise<void>> => {
    const result = d.submit(req);
    await flush();
    const finish = finishers.shift();
    if (!finish) throw new Error('the handshake did not start');
    return async () => {
      finish();
      await result;
      await flush();
    };
  };
  /** A stand-in for V8's full collections: `collect()` reports one to the watch, when there is one. */
  const watch = { active: 0, started: 0, onFull: undefined as undefined | (() => void) };
  const collect = (): void => watch.onFull?.();
  const watchFull = (onFull: () => void): (() => void) => {
    watch.active++;
    watch.started++;
    watch.onFull = onFull;
    return () => {
      watch.active--;
      watch.onFull = undefined;
    };
  };
  const trimmer = (o: Partial<IdleTrimOptions> = {}): IdleTrim => new IdleTrim(d, { trim, quietMs: 1000, watchFullCollections: watchFull, ...o });
  return { d, calls, trim, start, watch, collect, trimmer };
}

// Real setImmediate (not faked) lets promise chains run between fake-timer steps.
const flush = () => new Promise<void>((r) => setImmediate(r));

describe('idle trim', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'performance', 'queueMicrotask'] }));
  afterEach(() => jest.useRealTimers());

  it('trims once the agent has held no handshake for the quiet period, and only once', async () => {
    const a = agent();
    const t = a.trimmer();
    const finish = await a.start();
    await finish();
    jest.advanceTimersByTime(999);
    expect(a.calls).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(a.calls).toEqual([0]);
    jest.advanceTimersByTime(60_000);
    expect(a.calls).toEqual([0]);
    expect(t.trims).toBe(1);
    // The next storm's end is a new quiet period.
    await (await a.start())();
    jest.advanceTimersByTime(1000);
    expect(a.calls).toEqual([0, 0]);
    t.close();
  });

  it('never trims while a handshake is in flight', async () => {
    const a = agent();
    const t = a.trimmer();
    const first = await a.start();
    const second = await a.start();
    await first();
    jest.advanceTimersByTime(5000);
    expect(a.d.inFlight).toBe(1);
    expect(a.calls).toEqual([]);
    await second();
    jest.advanceTimersByTime(1000);
    expect(a.calls).toEqual([0]);
    t.close();
  });

  it('a handshake inside the quiet period cancels the trim and the wait starts again after it', async () => {
    const a = agent();
    const t = a.trimmer();
    // One handshake at a time with short gaps, as a storm at one in flight: idle after each, never quiet long enough.
    for (let i = 0; i < 20; i++) {
      await (await a.start())();
      jest.advanceTimersByTime(900);
    }
    expect(a.calls).toEqual([]);
    const finish = await a.start();
    jest.advanceTimersByTime(5000);
    expect(a.calls).toEqual([]);
    await finish();
    jest.advanceTimersByTime(999);
    expect(a.calls).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(a.calls).toEqual([0]);
    t.close();
  });

  it('trims again after each of V8\'s full collections while the agent stays idle, a bounded number of times', async () => {
    const a = agent();
    const t = a.trimmer();
    await (await a.start())();
    // No watch before the quiet trim: a collection during the quiet second does nothing.
    a.collect();
    expect(a.watch.started).toBe(0);
    jest.advanceTimersByTime(1000);
    expect(a.calls).toEqual([0]);
    expect(a.watch.active).toBe(1);
    for (let i = 0; i < MAX_TRIMS_AFTER_COLLECTION + 2; i++) a.collect();
    expect(a.calls).toHaveLength(1 + MAX_TRIMS_AFTER_COLLECTION);
    expect(a.watch.active).toBe(0);
    t.close();
  });

  it('stops watching V8\'s collections as soon as a handshake arrives', async () => {
    const a = agent();
    const t = a.trimmer();
    await (await a.start())();
    jest.advanceTimersByTime(1000);
    expect(a.watch.active).toBe(1);
    const finish = await a.start();
    expect(a.watch.active).toBe(0);
    a.collect();
    expect(a.calls).toEqual([0]);
    await finish();
    jest.advanceTimersByTime(1000);
    expect(a.calls).toEqual([0, 0]);
    expect(a.watch.active).toBe(1);
    t.close();
    expect(a.watch.active).toBe(0);
  });

  it('does nothing, and never arms a timer, when the C library has no malloc_trim', async () => {
    const a = agent();
    const t = a.trimmer({ trim: undefined });
    expect(t.enabled).toBe(false);
    expect(a.d.listenerCount('idle')).toBe(0);
    expect(a.d.listenerCount('busy')).toBe(0);
    await (await a.start())();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(10_000);
    expect(t.trims).toBe(0);
    expect(a.watch.started).toBe(0);
  });

  it('close() drops a pending trim and stops watching', async () => {
    const a = agent();
    const t = a.trimmer();
    await (await a.start())();
    t.close();
    jest.advanceTimersByTime(5000);
    await (await a.start())();
    jest.advanceTimersByTime(5000);
    expect(a.calls).toEqual([]);
    expect(a.d.listenerCount('idle')).toBe(0);
  });

  it('reports each trim: released or not, and how long it took', async () => {
    const a = agent();
    const seen: Array<[boolean, number]> = [];
    const t = a.trimmer({ trim: () => 0, onTrim: (released, ms) => seen.push([released, ms]) });
    await (await a.start())();
    jest.advanceTimersByTime(1000);
    expect(seen).toHaveLength(1);
    expect(seen[0][0]).toBe(false);
    expect(seen[0][1]).toBeGreaterThanOrEqual(0);
    t.close();
  });
});

describe('watchFullCollections', () => {
  it('reports a full collection of the real V8 heap, and nothing once stopped', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    let seen = 0;
    const stop = watchFullCollections(() => seen++);
    gc();
    for (let i = 0; i < 50 && seen === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen).toBeGreaterThan(0);
    stop();
    const before = seen;
    gc();
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toBe(before);
  });
});

describe('lookUpMallocTrim', () => {
  it('finds glibc malloc_trim on this host and calling it answers 0 or 1', () => {
    const trim = lookUpMallocTrim();
    expect(trim).toBeInstanceOf(Function);
    expect([0, 1]).toContain(trim?.(0));
  });
});
