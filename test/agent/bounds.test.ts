/**
 * The dispatcher's bounds (docs/serve.md "Bounds"): max_inflight bounds handshakes doing work,
 * max_handshakes those held; a handshake waiting on its peer gives its work slot back, a silent
 * peer is given up after peer_idle_timeout_ms, consumers are served round-robin, and a consumer's
 * timeout too large for a Node timer is clamped instead of firing at once.
 */
import { abortKind, Dispatcher, MAX_TIMER_MS, type RunContext, type RunOutcome } from '../../src/agent/dispatcher';
import { Status, type HandshakeRequest } from '../../src/agent/request';

function req(over: Partial<HandshakeRequest> = {}): HandshakeRequest {
  return { fd: 100, role: 'server', auth: 'x509', peerIdentities: [], keySerialsAllowed: false, ...over };
}

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Each handshake: some work, then waits on its peer through ctx.peerWait until the test lets the
 * peer "speak", then finishes. Aborts end it with ETIMEDOUT and the abort kind as reason.
 */
class PeerRunner {
  readonly started: number[] = [];
  readonly speak = new Map<number, () => void>();
  run = (r: HandshakeRequest, ctx: RunContext): Promise<RunOutcome> => {
    this.started.push(r.fd);
    const aborted = new Promise<RunOutcome>((resolve) => {
      const on = () => resolve({ status: Status.ETIMEDOUT, remoteAuth: [], reason: String(abortKind(ctx.signal)) });
      if (ctx.signal.aborted) on();
      else ctx.signal.addEventListener('abort', on, { once: true });
    });
    const talk = ctx.peerWait(() => new Promise<void>((resolve) => this.speak.set(r.fd, resolve))).then(() => ({ status: Status.OK, remoteAuth: [r.fd] }));
    return Promise.race([talk, aborted]);
  };
}

describe('dispatcher bounds', () => {
  it('a handshake waiting on its peer holds no work slot: silent peers do not block ready ones', async () => {
    const runner = new PeerRunner();
    const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 2, maxHandshakes: 100, defaultTimeoutMs: 60_000 }) });
    // 10 × max_inflight handshakes whose peers never speak.
    const silent = Array.from({ length: 20 }, (_, i) => d.submit(req({ fd: 1000 + i }), { consumer: 'hostile' }));
    await tick();
    expect(runner.started.length).toBe(20);
    expect(d.working).toBe(0);
    expect(d.inFlight).toBe(20);
    // A live one starts and completes while all of them still wait.
    const live = d.submit(req({ fd: 7 }), { consumer: 'kernel' });
    await tick();
    expect(runner.started).toContain(7);
    runner.speak.get(7)!();
    expect(await live).toEqual({ status: Status.OK, remoteAuth: [7] });
    expect(d.inFlight).toBe(20);
    expect(d.peakWorking).toBeLessThanOrEqual(2);
    await d.shutdown(0);
    expect(new Set((await Promise.all(silent)).map((r) => r.status))).toEqual(new Set([Status.ETIMEDOUT]));
  });

  it('max_handshakes bounds what is held; beyond it requests wait for admission and hasCapacity() is false', async () => {
    const runner = new PeerRunner();
    const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 8, maxHandshakes: 3, defaultTimeoutMs: 60_000 }) });
    const all = Array.from({ length: 5 }, (_, i) => d.submit(req({ fd: i })));
    await tick();
    expect(runner.started).toEqual([0, 1, 2]);
    expect(d.queued).toBe(2);
    expect(d.hasCapacity()).toBe(false);
    runner.speak.get(0)!();
    await all[0];
    await tick();
    expect(runner.started).toEqual([0, 1, 2, 3]);
    for (const fd of [1, 2, 3]) runner.speak.get(fd)!();
    await tick();
    runner.speak.get(4)!();
    expect((await Promise.all(all)).map((r) => r.status)).toEqual([0, 0, 0, 0, 0]);
    expect(d.peakInflight).toBe(3);
  });

  it('when work slots are contended, consumers are served round-robin, not first come first served', async () => {
    const order: string[] = [];
    let release: Array<() => void> = [];
    const d = new Dispatcher({
      run: (r) =>
        new Promise<RunOutcome>((resolve) => {
          order.push(r.peername!);
          release.push(() => resolve({ status: Status.OK, remoteAuth: [] }));
        }),
      limits: () => ({ maxInflight: 1, maxHandshakes: 100, defaultTimeoutMs: 60_000 }),
    });
    const ps = [
      ...Array.from({ length: 6 }, (_, i) => d.submit(req({ peername: `flood${i}` }), { consumer: 'unix:uid=1000' })),
      d.submit(req({ peername: 'kernel0' }), { consumer: 'kernel' }),
      d.submit(req({ peername: 'kernel1' }), { consumer: 'kernel' }),
    ];
    for (let i = 0; i < 8; i++) {
      await tick();
      const r = release;
      release = [];
      r.forEach((f) => f());
    }
    await Promise.all(ps);
    // FIFO would run every flood request before the kernel's.
    expect(order.slice(0, 5)).toEqual(['flood0', 'flood1', 'kernel0', 'flood2', 'kernel1']);
  });

  it('a peer silent for peer_idle_timeout_ms is given up (ETIMEDOUT, kind idle) long before the deadline', async () => {
    const runner = new PeerRunner();
    const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 4, maxHandshakes: 10, defaultTimeoutMs: 60_000, peerIdleTimeoutMs: 50 }) });
    const t0 = Date.now();
    const r = await d.submit(req({ timeoutMs: 30_000 }));
    expect(r.status).toBe(Status.ETIMEDOUT);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(d.inFlight).toBe(0);
  });

  it('a peer that answers in time is not cut off by the idle timeout', async () => {
    const runner = new PeerRunner();
    const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 4, maxHandshakes: 10, defaultTimeoutMs: 60_000, peerIdleTimeoutMs: 400 }) });
    const p = d.submit(req({ fd: 5 }));
    await sleep(50);
    runner.speak.get(5)!();
    expect((await p).status).toBe(Status.OK);
  });

  it('a consumer timeout of 2^31 ms or more is clamped, not wrapped to 1 ms', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      for (const timeoutMs of [2 ** 31, 2 ** 32 - 1]) {
        const runner = new PeerRunner();
        const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 4, defaultTimeoutMs: 60_000 }) });
        const p = d.submit(req({ fd: 9, timeoutMs }));
        await sleep(100);
        // Still running: a wrapped timer would have fired after ~1 ms.
        expect(d.inFlight).toBe(1);
        runner.speak.get(9)!();
        expect((await p).status).toBe(Status.OK);
      }
      await tick();
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1);
  });
});
