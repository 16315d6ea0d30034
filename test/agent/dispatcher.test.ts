import { abortKind, Dispatcher, type RunContext, type RunOutcome } from '../../src/agent/dispatcher';
import { captureTransport, createLogger } from '../../src/agent/logging';
import { AgentMetrics } from '../../src/agent/metrics';
import { Status, type HandshakeRequest } from '../../src/agent/request';

function req(over: Partial<HandshakeRequest> = {}): HandshakeRequest {
  return { fd: 100, role: 'client', auth: 'unauth', peerIdentities: [], keySerialsAllowed: true, ...over };
}

/** A runner whose handshakes finish when the test says so, or end with ETIMEDOUT when aborted. */
class ControlledRunner {
  readonly started: Array<{ req: HandshakeRequest; ctx: RunContext; finish: (o: RunOutcome) => void }> = [];
  running = 0;
  maxRunning = 0;
  run = (r: HandshakeRequest, ctx: RunContext): Promise<RunOutcome> =>
    new Promise((resolve) => {
      this.running++;
      this.maxRunning = Math.max(this.maxRunning, this.running);
      const finish = (o: RunOutcome) => {
        this.running--;
        resolve(o);
      };
      ctx.signal.addEventListener('abort', () => finish({ status: Status.ETIMEDOUT, remoteAuth: [], reason: String(abortKind(ctx.signal)) }));
      this.started.push({ req: r, ctx, finish });
    });
}

const tick = () => new Promise((r) => setImmediate(r));

describe('dispatcher', () => {
  it('never runs more than max_inflight at once and runs the rest in order as slots free', async () => {
    const runner = new ControlledRunner();
    const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 3, defaultTimeoutMs: 60000 }) });
    const results = Array.from({ length: 10 }, (_, i) => d.submit(req({ fd: 200 + i })));
    await tick();
    expect(runner.started.map((s) => s.req.fd)).toEqual([200, 201, 202]);
    expect(d.hasCapacity()).toBe(false);
    let n = 0;
    while (n < 10) {
      const s = runner.started[n++];
      s.finish({ status: Status.OK, remoteAuth: [s.req.fd] });
      await tick();
      expect(runner.running).toBeLessThanOrEqual(3);
    }
    const all = await Promise.all(results);
    expect(all.map((r) => r.remoteAuth[0])).toEqual(Array.from({ length: 10 }, (_, i) => 200 + i));
    expect(runner.maxRunning).toBe(3);
    expect(d.peakInflight).toBe(3);
    expect(d.hasCapacity()).toBe(true);
  });

  it('emits capacity when a slot frees up', async () => {
    const runner = new ControlledRunner();
    const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 1, defaultTimeoutMs: 60000 }) });
    const p = d.submit(req());
    await tick();
    expect(d.hasCapacity()).toBe(false);
    const capacity = new Promise<void>((r) => d.once('capacity', r));
    runner.started[0].finish({ status: Status.OK, remoteAuth: [] });
    await capacity;
    await p;
    expect(d.inFlight).toBe(0);
  });

  it('aborts a running handshake at its deadline (request timeout first, else the default)', async () => {
    const runner = new ControlledRunner();
    const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 4, defaultTimeoutMs: 60000 }) });
    const r = await d.submit(req({ timeoutMs: 30 }));
    expect(r).toEqual({ status: Status.ETIMEDOUT, remoteAuth: [] });
    expect(abortKind(runner.started[0].ctx.signal)).toBe('deadline');

    const d2 = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 4, defaultTimeoutMs: 30 }) });
    expect((await d2.submit(req())).status).toBe(Status.ETIMEDOUT);
  });

  it('times out a request still waiting for a slot without ever running it', async () => {
    const runner = new ControlledRunner();
    const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 1, defaultTimeoutMs: 60000 }) });
    const first = d.submit(req({ fd: 1 }));
    const second = await d.submit(req({ fd: 2, timeoutMs: 20 }));
    expect(second.status).toBe(Status.ETIMEDOUT);
    expect(runner.started.map((s) => s.req.fd)).toEqual([1]);
    runner.started[0].finish({ status: Status.OK, remoteAuth: [] });
    expect((await first).status).toBe(Status.OK);
  });

  it('cancels when the consumer goes away', async () => {
    const runner = new ControlledRunner();
    const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 1, defaultTimeoutMs: 60000 }) });
    const gone = new AbortController();
    const p = d.submit(req(), { signal: gone.signal });
    await tick();
    gone.abort();
    expect((await p).status).toBe(Status.ETIMEDOUT);
    expect(abortKind(runner.started[0].ctx.signal)).toBe('cancelled');
    const already = new AbortController();
    already.abort();
    expect((await d.submit(req(), { signal: already.signal })).status).toBe(Status.ETIMEDOUT);
    expect(runner.started).toHaveLength(1);
  });

  it('reports EIO and no remote-auth when the runner throws, and drops remote-auth on failure', async () => {
    const d = new Dispatcher({
      run: () => Promise.reject(new Error('bug')),
      limits: () => ({ maxInflight: 1, defaultTimeoutMs: 1000 }),
    });
    expect(await d.submit(req())).toEqual({ status: Status.EIO, remoteAuth: [] });
    const d2 = new Dispatcher({
      run: async () => ({ status: Status.EACCES, remoteAuth: [7] }),
      limits: () => ({ maxInflight: 1, defaultTimeoutMs: 1000 }),
    });
    expect(await d2.submit(req())).toEqual({ status: Status.EACCES, remoteAuth: [] });
  });

  it('on shutdown lets fast handshakes finish, aborts the slow after the grace period, refuses new ones', async () => {
    const runner = new ControlledRunner();
    const d = new Dispatcher({ run: runner.run, limits: () => ({ maxInflight: 2, defaultTimeoutMs: 60000 }) });
    const fast = d.submit(req({ fd: 1 }));
    const slow = d.submit(req({ fd: 2 }));
    const waiting = d.submit(req({ fd: 3 }));
    await tick();
    const done = d.shutdown(200);
    expect((await waiting).status).toBe(Status.ETIMEDOUT);
    runner.started[0].finish({ status: Status.OK, remoteAuth: [] });
    expect((await fast).status).toBe(Status.OK);
    expect((await d.submit(req({ fd: 4 }))).status).toBe(Status.ETIMEDOUT);
    await done;
    expect((await slow).status).toBe(Status.ETIMEDOUT);
    expect(abortKind(runner.started[1].ctx.signal)).toBe('shutdown');
    expect(runner.started.map((s) => s.req.fd)).toEqual([1, 2]);
    expect(d.inFlight).toBe(0);
  });

  it('follows a changed limit (reload) and logs and counts every handshake', async () => {
    let max = 1;
    const runner = new ControlledRunner();
    const cap = captureTransport();
    const metrics = new AgentMetrics();
    const d = new Dispatcher({
      run: runner.run,
      limits: () => ({ maxInflight: max, defaultTimeoutMs: 60000 }),
      logger: createLogger({ format: 'text', level: 'info', transports: [cap.transport], journalPriority: false }),
      metrics,
    });
    const ps = [d.submit(req(), { transport: 'kernel' }), d.submit(req(), { transport: 'kernel' })];
    await tick();
    expect(runner.started).toHaveLength(1);
    max = 2;
    runner.started[0].finish({ status: Status.OK, remoteAuth: [], suite: 'TLS_AES_128_GCM_SHA256' });
    await tick();
    runner.started[1].finish({ status: Status.EACCES, remoteAuth: [], reason: 'unknown_ca' });
    await Promise.all(ps);
    expect(cap.lines).toHaveLength(2);
    expect(cap.lines[0]).toMatch(/^info handshake succeeded transport=kernel netns=self role=client auth=unauth suite=TLS_AES_128_GCM_SHA256 .*status=OK/);
    expect(cap.lines[1]).toMatch(/^warn handshake failed .*status=EACCES .*reason=unknown_ca/);
    const text = await metrics.registry.metrics();
    expect(text).toContain('handshaked_handshakes_total{role="client",auth="unauth",result="EACCES",netns="self"} 1');
    expect(text).toContain('handshaked_handshakes_in_flight 0');
  });
});
