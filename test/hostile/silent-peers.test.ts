/**
 * Stalled peers must not starve live ones: 8 × max_inflight TCP peers that never speak, in both
 * roles, plus a steady stream of valid handshakes in both roles. Every valid one completes in its
 * normal latency — asserted against a bound far below the silent peers' idle timeout and deadline
 * (with one FIFO of max_inflight slots, a valid handshake waited for those deadlines). Then the
 * silent ones end ETIMEDOUT when their peers leave, and no fd is left behind. With the handshakes
 * on the main thread (workers = 0) and on worker threads.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Status } from '../../src/agent/request';
import { pki } from '../agent/harness';
import { consumerServer, fdOf, openFds, startDirectAgent, type DirectAgent } from './agent';

jest.setTimeout(120_000);

const MAX_INFLIGHT = 4;
const SILENT = 8 * MAX_INFLIGHT;
const IDLE_MS = 30_000;
const DEADLINE_MS = 60_000;
/** A valid handshake here takes milliseconds; this allows for a loaded machine and still sits far below IDLE_MS. */
const NORMAL_MS = 5_000;

describe.each([0, 2])('silent peers with workers = %i', (workers) => {
  let agent: DirectAgent;
  let cs: Awaited<ReturnType<typeof consumerServer>>;
  let tlsServer: tls.Server;
  let silentServer: net.Server;
  const held: net.Socket[] = [];

  beforeAll(async () => {
    agent = await startDirectAgent(`[handshaked]\nmax_inflight=${MAX_INFLIGHT}\nmax_handshakes=1000\npeer_idle_timeout_ms=${IDLE_MS}\nworkers=${workers}\n`);
    cs = await consumerServer();
    tlsServer = tls.createServer({ key: pki('server-p256.key.pem'), cert: pki('server-p256.chain.pem'), minVersion: 'TLSv1.3' }, (s) => s.on('error', () => undefined));
    silentServer = net.createServer((s) => held.push(s.on('error', () => undefined)));
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => silentServer.listen(0, '127.0.0.1', r));
  });

  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silentServer.close(() => r()));
    await new Promise<void>((r) => tlsServer.close(() => r()));
    await cs.close();
    await agent.stop();
  });

  /** The consumer's end of a connection to `port`: connected, never read. */
  async function consumerTo(port: number): Promise<net.Socket> {
    const s = net.connect(port, '127.0.0.1');
    s.pause();
    s.on('error', () => undefined);
    await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
    return s;
  }

  it(`${SILENT} silent peers in both roles; valid handshakes in both roles each finish in normal time`, async () => {
    expect(agent.daemon.pool?.size ?? 0).toBe(workers);
    const fdsBefore = openFds();
    // Server role: clients that connect and never send a ClientHello.
    const silentClients = await Promise.all(Array.from({ length: SILENT / 2 }, () => cs.pair()));
    // Client role: servers that accept our ClientHello and never answer.
    const silentServers = await Promise.all(Array.from({ length: SILENT / 2 }, () => consumerTo((silentServer.address() as net.AddressInfo).port)));
    const stalled = [
      ...silentClients.map((p) => agent.submit({ fd: p.fd, role: 'server', timeoutMs: DEADLINE_MS })),
      ...silentServers.map((s) => agent.submit({ fd: fdOf(s), role: 'client', auth: 'unauth', peername: 'localhost', timeoutMs: DEADLINE_MS })),
    ];
    // Each has sent what it had to (nothing, or a ClientHello) and now waits, holding no work slot.
    for (let i = 0; i < 200 && agent.daemon.dispatcher.working > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(agent.daemon.dispatcher.inFlight).toBe(SILENT);
    expect(agent.daemon.dispatcher.working).toBe(0);

    const durations: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      if (i % 2 === 0) {
        const good = await cs.pair((port) => tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki('ca-bundle.pem'), minVersion: 'TLSv1.3' }));
        const r = await agent.submit({ fd: good.fd, role: 'server', timeoutMs: DEADLINE_MS });
        expect(r.status).toBe(Status.OK);
        good.peer.destroy();
        good.consumer.destroy();
      } else {
        const c = await consumerTo((tlsServer.address() as net.AddressInfo).port);
        const r = await agent.submit({ fd: fdOf(c), role: 'client', auth: 'unauth', peername: 'localhost', timeoutMs: DEADLINE_MS });
        expect(r.status).toBe(Status.OK);
        c.destroy();
      }
      durations.push(Date.now() - t0);
    }
    expect(Math.max(...durations)).toBeLessThan(NORMAL_MS);
    // The silent ones are all still held: nothing was cut short to make room.
    expect(agent.daemon.dispatcher.inFlight).toBe(SILENT);

    for (const p of silentClients) p.peer.destroy();
    for (const s of held.splice(0)) s.destroy();
    const statuses = await Promise.all(stalled.map((p) => p.then((r) => r.status)));
    expect(new Set(statuses)).toEqual(new Set([Status.ETIMEDOUT]));
    for (const p of silentClients) p.consumer.destroy();
    for (const s of silentServers) s.destroy();
    for (let i = 0; i < 100 && openFds() > fdsBefore; i++) await new Promise((r) => setTimeout(r, 50));
    expect(openFds()).toBeLessThanOrEqual(fdsBefore);
  });
});
