/**
 * Hostile peers against the agent's dispatcher and handshake runner, in-process, ktls off: a
 * peer that dribbles one byte a second or never speaks is cut off at the deadline (ETIMEDOUT);
 * a 16 MiB handshake message (a certificate chain from a server, a ClientHello) is refused at
 * its first record, and everything after that record is still unread in the socket (nothing was
 * buffered); thousands of stalled handshakes do not stop a new one from completing; and no fd
 * outlives any of it.
 */
import net from 'node:net';
import tls from 'node:tls';
import { createServer } from '../../src/tls';
import { Status } from '../../src/agent/request';
import { certifiedKey } from '../helpers/pki';
import { SocketRecordIO } from '../helpers/record-io';
import { RecordProtector, trafficKeysFromSecret } from '../helpers/record-layer';
import { pki } from '../agent/harness';
import { splitRecords } from '../fuzz/targets/tls-scenario';
import { consumerServer, openFds, raiseFdLimit, startDirectAgent, type DirectAgent } from './agent';

jest.setTimeout(120_000);

let agent: DirectAgent;
let cs: Awaited<ReturnType<typeof consumerServer>>;

beforeAll(async () => {
  agent = await startDirectAgent('[handshaked]\nmax_inflight=100000\nmax_handshakes=100000\npeer_idle_timeout_ms=0\n');
  cs = await consumerServer();
});

afterAll(async () => {
  await cs.close();
  await agent.stop();
});

async function fdsBackTo(n: number): Promise<number> {
  for (let i = 0; i < 100 && openFds() !== n; i++) await new Promise((r) => setTimeout(r, 50));
  return openFds();
}

/** Counts what is still unread in the consumer socket once the peer has sent everything and closed. */
function unread(consumer: net.Socket): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    consumer.on('data', (d: Buffer) => (n += d.length));
    consumer.on('end', () => resolve(n));
    consumer.on('close', () => resolve(n));
    consumer.resume();
  });
}

const HUGE = 0xfffff0; // a handshake length just under 16 MiB (the field is 24 bits)

function handshakeHeader(type: number, len: number): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUIntBE(len, 1, 3);
  return h;
}

function plainRecord(type: number, body: Buffer): Buffer {
  const h = Buffer.from([type, 3, 3, 0, 0]);
  h.writeUInt16BE(body.length, 3);
  return Buffer.concat([h, body]);
}

describe('slow and silent peers meet the deadline', () => {
  it.each([
    ['sends one byte per second', 1000],
    ['never sends anything', 0],
  ])('a client that %s: ETIMEDOUT at the deadline, fds released', async (_what, every) => {
    const before = openFds();
    const { peer, consumer, fd } = await cs.pair();
    const hello = plainRecord(22, Buffer.concat([handshakeHeader(1, 200), Buffer.alloc(200, 1)]));
    let i = 0;
    const timer = every ? setInterval(() => peer.write(hello.subarray(i, ++i)), every) : undefined;
    try {
      const r = await agent.submit({ fd, role: 'server', timeoutMs: 3000 });
      expect(r.status).toBe(Status.ETIMEDOUT);
      if (every) expect(i).toBeGreaterThan(0);
    } finally {
      clearInterval(timer);
      peer.destroy();
      consumer.destroy();
    }
    expect(await fdsBackTo(before)).toBe(before);
  });
});

describe('oversized handshake messages are refused before they are buffered', () => {
  it('a server sending a 16 MiB certificate chain: EACCES after its first record, the rest unread', async () => {
    const before = openFds();
    const { peer, consumer, fd } = await cs.pair();
    const result = agent.submit({ fd, role: 'client', auth: 'unauth', peername: 'localhost', timeoutMs: 60_000 });
    // A real TLS 1.3 server (our engine) up to its ServerHello; then its flight is replaced.
    const lines: string[] = [];
    const evil = createServer({ certificate: certifiedKey('server-p256'), clientAuth: 'none', cipherSuites: ['TLS_AES_128_GCM_SHA256'], keyLog: (l) => lines.push(l) });
    evil.start();
    const io = new SocketRecordIO(peer);
    const out = evil.receiveRecord(await io.readRecord());
    const plain = splitRecords(out.send).filter((r) => r[0] !== 23);
    const secret = Buffer.from(lines.find((l) => l.startsWith('SERVER_HANDSHAKE_TRAFFIC_SECRET'))!.split(' ')[2], 'hex');
    const seal = new RecordProtector('TLS_AES_128_GCM_SHA256', trafficKeysFromSecret('TLS_AES_128_GCM_SHA256', secret));
    const ee = Buffer.concat([handshakeHeader(8, 2), Buffer.from([0, 0])]);
    const records = [...plain, seal.seal(22, Buffer.concat([ee, handshakeHeader(11, HUGE), Buffer.from([0]), Buffer.from([0xff, 0xff, 0xe9])]))];
    const chunk = Buffer.alloc(16384, 0x30);
    for (let sent = 0; sent < HUGE; sent += chunk.length) records.push(seal.seal(22, chunk));
    const total = records.reduce((n, r) => n + r.length, 0);
    peer.end(Buffer.concat(records));
    const r = await result;
    expect(r.status).toBe(Status.EACCES);
    const consumed = total - (await unread(consumer));
    // ServerHello, CCS and the record that announced the chain: nothing of the 16 MiB after it.
    expect(consumed).toBeLessThan(plain.reduce((n, x) => n + x.length, 0) + 2 * 17_000);
    peer.destroy();
    consumer.destroy();
    expect(await fdsBackTo(before)).toBe(before);
  });

  it('a client announcing a 16 MiB ClientHello: refused at its first record, the rest unread', async () => {
    const before = openFds();
    const { peer, consumer, fd } = await cs.pair();
    const result = agent.submit({ fd, role: 'server', timeoutMs: 60_000 });
    const first = plainRecord(22, Buffer.concat([handshakeHeader(1, HUGE), Buffer.alloc(16380, 3)]));
    const rest: Buffer[] = [];
    for (let sent = 16380; sent < HUGE; sent += 16384) rest.push(plainRecord(22, Buffer.alloc(16384, 3)));
    const total = first.length + rest.reduce((n, x) => n + x.length, 0);
    peer.end(Buffer.concat([first, ...rest]));
    const r = await result;
    expect(r.status).toBe(Status.EACCES);
    expect(total - (await unread(consumer))).toBe(first.length);
    peer.destroy();
    consumer.destroy();
    expect(await fdsBackTo(before)).toBe(before);
  });
});

describe('many stalled handshakes', () => {
  const WANT = Number(process.env.HOSTILE_STALLED ?? 10_000);

  it(`with up to ${WANT} stalled handshakes in flight, a new one completes; all end ETIMEDOUT when their peers leave; no fd leaks`, async () => {
    // Three fds per stalled handshake in this process: the peer, the consumer, the agent's dup.
    const limit = raiseFdLimit(3 * WANT + 2000);
    const n = Math.min(WANT, Math.floor((limit - 2000) / 3));
    if (n < WANT) process.stderr.write(`hostile: RLIMIT_NOFILE ${limit} allows ${n} stalled handshakes, not ${WANT}\n`);
    expect(n).toBeGreaterThanOrEqual(Math.min(WANT, 1000));
    const fdsBefore = openFds();
    const heapBefore = process.memoryUsage();
    const t0 = Date.now();
    const stalled: Array<{ peer: net.Socket; consumer: net.Socket; result: Promise<{ status: number }> }> = [];
    for (let i = 0; i < n; i += 250) {
      const batch = await Promise.all(Array.from({ length: Math.min(250, n - i) }, () => cs.pair()));
      for (const p of batch) {
        // Three bytes of a record header: the agent's reader waits mid-record.
        p.peer.write(Buffer.from([22, 3, 1]));
        stalled.push({ ...p, result: agent.submit({ fd: p.fd, role: 'server', timeoutMs: 600_000 }) });
      }
    }
    process.stderr.write(`hostile: ${n} stalled in ${Date.now() - t0} ms\n`);
    expect(agent.daemon.dispatcher.inFlight).toBe(n);
    const heapStalled = process.memoryUsage();

    // A real client still gets its handshake done, with every stalled one still in flight.
    const good = await cs.pair((port) =>
      tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki('ca-bundle.pem'), minVersion: 'TLSv1.3' }));
    const secured = new Promise<void>((r, j) => good.peer.once('secureConnect', r).once('error', j));
    const ok = await agent.submit({ fd: good.fd, role: 'server', timeoutMs: 60_000 });
    expect(ok.status).toBe(Status.OK);
    await secured;
    expect(agent.daemon.dispatcher.inFlight).toBe(n);
    good.peer.destroy();
    good.consumer.destroy();

    process.stderr.write(`hostile: good one at ${Date.now() - t0} ms\n`);
    for (const s of stalled) s.peer.destroy();
    const statuses = await Promise.all(stalled.map((s) => s.result.then((r) => r.status)));
    expect(statuses.every((st) => st === Status.ETIMEDOUT)).toBe(true);
    process.stderr.write(`hostile: all ended at ${Date.now() - t0} ms\n`);
    for (const s of stalled) s.consumer.destroy();
    expect(agent.daemon.dispatcher.inFlight).toBe(0);
    expect(await fdsBackTo(fdsBefore)).toBe(fdsBefore);
    const perHandshake = (heapStalled.rss - heapBefore.rss) / n;
    process.stderr.write(`hostile: ${n} stalled handshakes, ~${Math.round(perHandshake / 1024)} KiB RSS each (agent + both test sockets)\n`);
    // Bounded: a stalled handshake holds a socket and an engine waiting for a ClientHello, not buffers.
    expect(perHandshake).toBeLessThan(256 * 1024);
  }, 300_000);
});
