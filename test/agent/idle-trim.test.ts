import { Dispatcher, type RunOutcome } from '../../src/agent/dispatcher';
import { IdleTrim } from '../../src/agent/idle-trim';
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
  return { d, calls, trim, start };
}

// Real setImmediate (not faked) lets promise chains run between fake-timer steps.
const flush = () => new Promise<void>((r) => setImmediate(r));

describe('idle trim', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'performance', 'queueMicrotask'] }));
  afterEach(() => jest.useRealTimers());

  it('trims once the agent has held no handshake for the quiet period, and only once', async () => {
    const a = agent();
    const t = new IdleTrim(a.d, { trim: a.trim, quietMs: 1000 });
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
    const t = new IdleTrim(a.d, { trim: a.trim, quietMs: 1000 });
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
    const t = new IdleTrim(a.d, { trim: a.trim, quietMs: 1000 });
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

  it('does nothing, and never arms a timer, when the C library has no malloc_trim', async () => {
    const a = agent();
    const t = new IdleTrim(a.d, { trim: undefined, quietMs: 1000 });
    expect(t.enabled).toBe(false);
    expect(a.d.listenerCount('idle')).toBe(0);
    expect(a.d.listenerCount('busy')).toBe(0);
    await (await a.start())();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(10_000);
    expect(t.trims).toBe(0);
  });

  it('close() drops a pending trim and stops watching', async () => {
    const a = agent();
    const t = new IdleTrim(a.d, { trim: a.trim, quietMs: 1000 });
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
    const t = new IdleTrim(a.d, { trim: () => 0, quietMs: 1000, onTrim: (released, ms) => seen.push([released, ms]) });
    await (await a.start())();
    jest.advanceTimersByTime(1000);
    expect(seen).toHaveLength(1);
    expect(seen[0][0]).toBe(false);
    expect(seen[0][1]).toBeGreaterThanOrEqual(0);
    t.close();
  });
});

describe('lookUpMallocTrim', () => {
  it('finds glibc malloc_trim on this host and calling it answers 0 or 1', () => {
    const trim = lookUpMallocTrim();
    expect(trim).toBeInstanceOf(Function);
    expect([0, 1]).toContain(trim?.(0));
  });
});
