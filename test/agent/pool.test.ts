/**
 * Handshakes on worker threads ([handshaked] workers): the main thread keeps the fake kernel's
 * transport, DONE and the logs; the workers run the engines. A reload and a certificate rotated on
 * disk reach every worker; a worker that dies mid-handshake is replaced and its handshake ends
 * with EIO (never silently), with no fd left behind.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Status } from '../../src/agent/request';
import { socketFd } from '../../src/sys/socket-fd';
import { closing, configText, consumerListener, openFds, pki, rotatableServerIdentity, sleep, startAgent, type Agent } from './harness';

jest.setTimeout(60_000);

let agent: Agent | undefined;
const saved = process.env.HANDSHAKED_TEST_HOOKS;
beforeAll(() => {
  process.env.HANDSHAKED_TEST_HOOKS = '1';
});
afterAll(() => {
  if (saved === undefined) delete process.env.HANDSHAKED_TEST_HOOKS;
  else process.env.HANDSHAKED_TEST_HOOKS = saved;
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
});

async function pooledAgent(config = configText('[handshaked]\nworkers=2')): Promise<Agent> {
  agent = await startAgent({ config });
  expect(agent.daemon.pool?.size).toBe(2);
  await agent.daemon.pool!.whenUp();
  return agent;
}

const connect = (port: number) => tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost' });

/** `n` server-role x509 handshakes through the agent at once; the curve of the certificate each presented. */
async function serverHandshakes(a: Agent, l: Awaited<ReturnType<typeof consumerListener>>, n = 1): Promise<Array<string | undefined>> {
  const conns = [];
  for (let i = 0; i < n; i++) conns.push(await l.accept(connect));
  const results = await Promise.all(conns.map((c) => a.kernel.submit({ sock: c.fd, messageType: 'serverhello', authMode: 'x509' })));
  expect(results.map((r) => r.status)).toEqual(new Array(n).fill(Status.OK));
  return conns.map((c) => (c.peer as tls.TLSSocket).getPeerCertificate().asn1Curve);
}

describe('worker threads', () => {
  it('a record already readable costs no message between the threads (each record read used to cost three)', async () => {
    const a = await pooledAgent();
    await closing(await consumerListener(), async (l) => {
      const n = 8;
      const before = { messages: a.daemon.pool!.messages, completed: a.daemon.pool!.completed };
      // One at a time, so that no batching of several handshakes' messages helps. The agent reads
      // four records from Node's client (ClientHello, change_cipher_spec, Certificate, Finished);
      // when every read crossed, that was 2 messages (run, done) + 3 × 4 = 14 per handshake. Now
      // only a read that finds nothing queued costs 3: mostly one of the four here (3.5-4.4
      // measured), never all of them on average.
      for (let i = 0; i < n; i++) await serverHandshakes(a, l);
      expect(a.daemon.pool!.completed - before.completed).toBe(n);
      expect((a.daemon.pool!.messages - before.messages) / n).toBeLessThanOrEqual(8);
    });
  });

  it("handshakes running together share crossings: one turn's messages to or from a worker cross as one", async () => {
    const a = await pooledAgent();
    await closing(await consumerListener(), async (l) => {
      const n = 8; // the fake kernel's limit of pending requests is 10
      await serverHandshakes(a, l, n); // both workers' code warm, as in the measured batch
      const pool = a.daemon.pool!;
      const before = { messages: pool.messages, carried: pool.carried, completed: pool.completed };
      await serverHandshakes(a, l, n);
      expect(pool.completed - before.completed).toBe(n);
      const crossings = pool.messages - before.messages;
      const carried = pool.carried - before.carried;
      // Every handshake has at least its run and its done; one crossing per message would make the two equal.
      expect(carried).toBeGreaterThanOrEqual(2 * n);
      expect(crossings).toBeLessThan(carried);
    });
  });

  it('runs handshakes on the workers', async () => {
    const a = await pooledAgent();
    await closing(await consumerListener(), async (l) => {
      const before = a.daemon.pool!.completed;
      const curves = await serverHandshakes(a, l, 6);
      expect(curves).toEqual(new Array(6).fill('prime256v1'));
      expect(a.daemon.pool!.completed - before).toBe(6);
      // The main thread still logs each outcome.
      expect(a.lines.filter((x) => x.includes('handshake succeeded')).length).toBeGreaterThanOrEqual(6);
    });
  });

  it('workers = 0 runs every handshake on the main thread', async () => {
    const a = (agent = await startAgent({ config: configText('[handshaked]\nworkers=0') }));
    expect(a.daemon.pool).toBeUndefined();
    await closing(await consumerListener(), async (l) => {
      expect(await serverHandshakes(a, l)).toEqual(['prime256v1']);
    });
  });

  it('SIGHUP reload reaches every worker', async () => {
    const a = await pooledAgent();
    await closing(await consumerListener(), async (l) => {
      expect(await serverHandshakes(a, l, 2)).toEqual(['prime256v1', 'prime256v1']);
      fs.writeFileSync(a.configPath, `${configText('[handshaked]\nworkers=2')}`.replace('server-p256.chain.pem', 'server-p384.chain.pem').replace('server-p256.key.pem', 'server-p384.key.pem'));
      expect(a.daemon.reload()).toBe(true);
      const before = a.daemon.pool!.completed;
      // Four at once: the least-loaded choice puts them on both workers.
      expect(await serverHandshakes(a, l, 4)).toEqual(new Array(4).fill('secp384r1'));
      expect(a.daemon.pool!.completed - before).toBe(4);
    });
  });

  it('a certificate rotated on disk reaches the workers without a SIGHUP', async () => {
    const { dir, install, config } = rotatableServerIdentity('hsd-pool-rotate-', '[handshaked]\nworkers=2');
    const a = await pooledAgent(config);
    const l = await consumerListener();
    try {
      expect(await serverHandshakes(a, l)).toEqual(['prime256v1']);
      install('server-p384');
      const before = a.daemon.pool!.completed;
      expect(await serverHandshakes(a, l, 2)).toEqual(['secp384r1', 'secp384r1']);
      expect(a.daemon.pool!.completed - before).toBe(2);
    } finally {
      await l.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker that dies mid-handshake is replaced; its handshake ends EIO, others go on, no fd leaks', async () => {
    const a = await pooledAgent();
    const pool = a.daemon.pool!;
    // A server that accepts and never speaks: the client handshake waits on a worker.
    const silent = net.createServer(() => undefined);
    const held: net.Socket[] = [];
    silent.on('connection', (s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const fdsBefore = openFds();
    const l = await consumerListener();
    try {
      const consumer = net.connect((silent.address() as net.AddressInfo).port, '127.0.0.1');
      consumer.pause();
      await new Promise<void>((r) => consumer.once('connect', r));
      const fd = socketFd(consumer);
      const result = a.kernel.submit({ sock: fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost', timeoutMs: 30_000 });
      for (let i = 0; i < 200 && pool.load.every((n) => n === 0); i++) await sleep(10);
      const victim = pool.load.findIndex((n) => n === 1);
      expect(victim).toBeGreaterThanOrEqual(0);
      const t0 = Date.now();
      pool.crashForTest(victim);
      const r = await result;
      expect(r.status).toBe(Status.EIO);
      // At once, not at the 30 s deadline.
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(a.lines.join('\n')).toMatch(/handshake worker thread exited; starting a new one/);
      expect(a.lines.join('\n')).toMatch(/worker thread running this handshake exited \(code 70\)/);
      expect(pool.replaced).toBe(1);
      await pool.whenUp();
      const before = pool.completed;
      expect(await serverHandshakes(a, l, 2)).toEqual(['prime256v1', 'prime256v1']);
      expect(pool.completed - before).toBe(2);
      consumer.destroy();
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
      await l.close();
    }
    // Everything of the test is closed: the agent kept neither its fd nor the dead worker's dup.
    // (An fd of an earlier test closing late may make it fewer, never more.)
    for (let i = 0; i < 100 && openFds() > fdsBefore; i++) await sleep(20);
    expect(openFds()).toBeLessThanOrEqual(fdsBefore);
  });
});

describe('a worker that cannot start', () => {
  it('is replaced with a growing delay, not in a loop, and handshakes meanwhile have no worker to go to', async () => {
    const { WorkerPool } = await import('../../src/agent/pool/pool');
    const logged: Array<{ message: string; meta: Record<string, unknown> }> = [];
    const record = (message: string, meta: Record<string, unknown> = {}) => void logged.push({ message, meta });
    const logger = { error: record, warn: record, info: record, debug: record, log: (_l: string, m: string, meta?: Record<string, unknown>) => record(m, meta) };
    const pool = new WorkerPool({ size: 1, logger: logger as never, ktls: 'off', script: path.join(os.tmpdir(), `handshaked-no-such-worker-${process.pid}.js`) });
    try {
      pool.start();
      void pool.whenUp();
      await sleep(2500);
      // Without the back-off a worker whose script is missing dies and is replaced dozens of
      // times a second; with it: at 0 s, after 1 s, after 2 s more.
      expect(pool.replaced).toBeGreaterThanOrEqual(1);
      expect(pool.replaced).toBeLessThanOrEqual(2);
      const exits = logged.filter((l) => l.message.includes('worker thread exited'));
      expect(exits[0].meta).toMatchObject({ before_it_was_up: true, retry_in_ms: 1000 });
      if (exits[1]) expect(exits[1].meta).toMatchObject({ retry_in_ms: 2000 });
      expect(pool.load).toEqual([0]);
    } finally {
      await pool.close();
    }
  });
});
