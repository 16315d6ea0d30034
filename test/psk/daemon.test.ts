/**
 * PSK handshakes end to end through the daemon, the way NVMe/TCP drives them: the fake kernel
 * submits a socket with PSK key serials (host: several peer-identity serials; target: peer-identity
 * 0 plus the port's keyring), the agent reads real kernel keys ("user" type here: this kernel has
 * no "psk" type; description = the NVMe identity, payload = the PSK), handshakes with OpenSSL,
 * GnuTLS or itself, and DONEs with a status and remote-auth = the serial of the PSK used (the NVMe
 * host fails with ENOKEY without it).
 *
 * Keyrings: everything lives under this worker's process keyring and a fresh session keyring.
 * Client keys sit in a keyring the agent's identity search cannot see (only serials reach them);
 * server keys sit in a keyring passed as the request's keyring, which the agent links into its
 * session keyring for the handshake — so one agent can play host and target without the target
 * finding the host's keys.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Status } from '../../src/agent/request';
import { KeySpec, addKey, invalidateKey, joinSessionKeyring } from '../../src/sys/keyctl';
import { configText, fdOf, startAgent, type Agent } from '../agent/harness';
import type { ProcessPeer } from '../helpers/process-peer';
import { stopAllPeers } from '../helpers/process-peer';
import { opensslPskClient, opensslPskServer, gnutlsPskClient, removePskFiles, type PskSpec } from './peers';

jest.setTimeout(60000);

const HOST = 'nqn.2014-08.org.nvmexpress:uuid:3d0b6c1e-8f2a-4e57-b9c4-6a1d2e3f4a5b';
const SUB = 'nqn.2024-01.io.handshaked:daemon';
const nvmeId = (hash: '01' | '02', n: number) => `NVMe0R${hash} ${HOST} ${SUB}-${n}`;

let clientRing: number;
let serverRing: number;
beforeAll(() => {
  joinSessionKeyring();
  clientRing = addKey('keyring', 'hsd-psk-test-host', null, KeySpec.PROCESS);
  serverRing = addKey('keyring', 'hsd-psk-test-target', null, KeySpec.PROCESS);
});
afterAll(() => {
  // Invalidating the keyrings drops the keys in them; the session keyring ends with the worker.
  for (const ring of [clientRing, serverRing]) if (ring) invalidateKey(ring);
});

let agent: Agent | undefined;
const sockets: net.Socket[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  await stopAllPeers();
  removePskFiles();
  await agent?.stop();
  agent = undefined;
});

interface Psk extends PskSpec {
  serial: number;
}

/** A PSK as a "user" key named by its identity, in `ring`. */
function key(ring: number, identity: string, bytes: 32 | 48, secret: Buffer = randomBytes(bytes)): Psk {
  return { identity, key: secret, serial: addKey('user', identity, secret, ring) };
}

async function agentWith(extra = ''): Promise<Agent> {
  agent = await startAgent({ config: configText(extra), keylog: true });
  return agent;
}

/** The consumer's end of a connection to `port`: connected, never read. */
async function consumerTo(port: number): Promise<number> {
  const s = net.connect(port, '127.0.0.1');
  s.pause();
  sockets.push(s);
  await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
  return fdOf(s);
}

/** A listener whose accepted sockets stay unread (the NVMe target's side). */
async function consumerListener(): Promise<{ port: number; next(): Promise<number> }> {
  const server = net.createServer({ pauseOnConnect: true });
  servers.push(server);
  const queue: net.Socket[] = [];
  const waiting: Array<(s: net.Socket) => void> = [];
  server.on('connection', (s) => {
    sockets.push(s);
    const w = waiting.shift();
    if (w) w(s);
    else queue.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    next: async () => fdOf(queue.shift() ?? (await new Promise<net.Socket>((r) => waiting.push(r)))),
  };
}

/** The agent's per-handshake log lines for one role. */
const lines = (a: Agent, role: 'client' | 'server') => a.lines.filter((l) => /handshake (succeeded|failed)/.test(l) && l.includes(`role=${role}`));

/** NSS key-log entries (label client_random → secret) from a file. */
function keylog(file: string): Map<string, string> {
  const out = new Map<string, string>();
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'latin1') : '';
  for (const l of text.split('\n')) {
    const f = l.trim().split(' ');
    if (f.length === 3) out.set(`${f[0]} ${f[1].toLowerCase()}`, f[2].toLowerCase());
  }
  return out;
}

/** The application traffic secrets the agent logged agree with the peer's: both derived the same keys. */
async function expectSameAppSecrets(a: Agent, peer: ProcessPeer | undefined, peerKeylog: string): Promise<void> {
  if (peer) await peer.waitFor(/Cipher is|CIPHER is|Reused|Shared ciphers/i, 15000).catch(() => undefined);
  const ours = keylog(path.join(a.dir, 'keylog'));
  const theirs = keylog(peerKeylog);
  const app = [...theirs.entries()].filter(([k]) => /^(CLIENT|SERVER)_TRAFFIC_SECRET_0 /.test(k));
  expect(app).toHaveLength(2);
  for (const [k, v] of app) expect(ours.get(k)).toBe(v);
}

describe('PSK client (NVMe host): several peer-identity serials in one ClientHello', () => {
  it('against openssl s_server: the right key is the last of three; remote-auth is its serial; same traffic secrets', async () => {
    const a = await agentWith();
    const decoy1 = key(clientRing, nvmeId('01', 1), 32);
    const decoy2 = key(clientRing, nvmeId('02', 2), 48);
    const right = key(clientRing, nvmeId('01', 3), 32);
    const peerKeylog = path.join(a.dir, 'peer-keylog');
    const { peer, port } = await opensslPskServer({ psks: [right], keylogFile: peerKeylog });
    const fd = await consumerTo(port);
    const r = await a.kernel.submit({ sock: fd, messageType: 'clienthello', authMode: 'psk', peerIdentities: [decoy1.serial, decoy2.serial, right.serial] });
    expect(r).toEqual({ status: Status.OK, remoteAuth: [right.serial], cancelled: false });
    expect(lines(a, 'client').join('\n')).toMatch(/auth=psk .*suite=TLS_\w+_SHA256 group=\w+ .*status=OK/);
    await expectSameAppSecrets(a, peer, peerKeylog);
  });

  it('a SHA-384 NVMe PSK (NVMe0R02, 48 bytes): TLS_AES_256_GCM_SHA384 with openssl s_server', async () => {
    const a = await agentWith();
    const right = key(clientRing, nvmeId('02', 4), 48);
    const peerKeylog = path.join(a.dir, 'peer-keylog');
    const { peer, port } = await opensslPskServer({ psks: [right], keylogFile: peerKeylog });
    const r = await a.kernel.submit({ sock: await consumerTo(port), messageType: 'clienthello', authMode: 'psk', peerIdentities: [right.serial] });
    expect(r).toEqual({ status: Status.OK, remoteAuth: [right.serial], cancelled: false });
    expect(lines(a, 'client').join('\n')).toMatch(/suite=TLS_AES_256_GCM_SHA384 .*status=OK/);
    await expectSameAppSecrets(a, peer, peerKeylog);
  });

  it('[handshaked] psk_modes=psk_ke: no key exchange group with openssl s_server -allow_no_dhe_kex', async () => {
    const a = await agentWith('[handshaked]\npsk_modes=psk_ke');
    const right = key(clientRing, nvmeId('01', 5), 32);
    const peerKeylog = path.join(a.dir, 'peer-keylog');
    const { peer, port } = await opensslPskServer({ psks: [right], modes: 'both', keylogFile: peerKeylog });
    const r = await a.kernel.submit({ sock: await consumerTo(port), messageType: 'clienthello', authMode: 'psk', peerIdentities: [right.serial] });
    expect(r).toEqual({ status: Status.OK, remoteAuth: [right.serial], cancelled: false });
    const line = lines(a, 'client').join('\n');
    expect(line).toMatch(/status=OK/);
    expect(line).not.toMatch(/group=/);
    await expectSameAppSecrets(a, peer, peerKeylog);
  });

  it('a key whose length contradicts its NVMe identity is EIO before anything is sent', async () => {
    const a = await agentWith();
    const bad = key(clientRing, nvmeId('01', 6), 48);
    const l = await consumerListener();
    const fd = await consumerTo(l.port);
    const r = await a.kernel.submit({ sock: fd, messageType: 'clienthello', authMode: 'psk', peerIdentities: [bad.serial] });
    expect(r).toEqual({ status: Status.EIO, remoteAuth: [], cancelled: false });
    expect(lines(a, 'client').join('\n')).toMatch(new RegExp(`PSK key ${bad.serial} cannot be used: .*names SHA-256 \\(hash 01\\), which needs a 32-byte key, but the key is 48 bytes`));
  });
});

describe('agent to agent: one agent is host (client) and target (server, peer-identity 0 + keyring)', () => {
  async function pair(a: Agent, clientIds: number[], opts: { keyring?: number } = {}) {
    const l = await consumerListener();
    const clientFd = await consumerTo(l.port);
    const serverFd = await l.next();
    const [client, server] = await Promise.all([
      a.kernel.submit({ sock: clientFd, messageType: 'clienthello', authMode: 'psk', peerIdentities: clientIds, timeoutMs: 20000 }),
      a.kernel.submit({ sock: serverFd, messageType: 'serverhello', authMode: 'psk', peerIdentities: [0], keyring: opts.keyring ?? serverRing, timeoutMs: 20000 }),
    ]);
    return { client, server };
  }

  it('the target finds the host identity through the request keyring; each side reports its own serial', async () => {
    // Workers on (the default has none on 1-2 CPUs): both ends run on them, their keys read by the main thread.
    const a = await agentWith('[handshaked]\nworkers=2\n');
    await a.daemon.pool!.whenUp();
    const secret = randomBytes(32);
    const decoy = key(clientRing, nvmeId('01', 10), 32);
    const host = key(clientRing, nvmeId('01', 11), 32, secret);
    const target = key(serverRing, nvmeId('01', 11), 32, secret);
    const r = await pair(a, [decoy.serial, host.serial]);
    // Both ran on the workers (each reports its outcome through the pool); the keyrings were
    // linked and the keys read on the main thread, whose credentials the kernel judges them by
    // (src/agent/pool/keys.ts).
    expect(a.daemon.pool?.completed).toBe(2);
    expect(r.client).toEqual({ status: Status.OK, remoteAuth: [host.serial], cancelled: false });
    expect(r.server).toEqual({ status: Status.OK, remoteAuth: [target.serial], cancelled: false });
    // Both ends logged the same application secrets under the same client_random.
    const log = fs.readFileSync(path.join(a.dir, 'keylog'), 'latin1').split('\n').filter((x) => x.startsWith('CLIENT_TRAFFIC_SECRET_0 '));
    expect(log).toHaveLength(2);
    expect(log[0]).toBe(log[1]);
  });

  it('SHA-384 NVMe PSKs: AES-256-GCM on both ends', async () => {
    const a = await agentWith();
    const secret = randomBytes(48);
    const host = key(clientRing, nvmeId('02', 12), 48, secret);
    const target = key(serverRing, nvmeId('02', 12), 48, secret);
    const r = await pair(a, [host.serial]);
    expect(r.client).toEqual({ status: Status.OK, remoteAuth: [host.serial], cancelled: false });
    expect(r.server).toEqual({ status: Status.OK, remoteAuth: [target.serial], cancelled: false });
    expect(lines(a, 'client').join('\n')).toMatch(/suite=TLS_AES_256_GCM_SHA384/);
    expect(lines(a, 'server').join('\n')).toMatch(/suite=TLS_AES_256_GCM_SHA384/);
  });

  it('psk_ke on both ends (psk_modes=psk_ke)', async () => {
    const a = await agentWith('[handshaked]\npsk_modes=psk_ke');
    const secret = randomBytes(32);
    const host = key(clientRing, nvmeId('01', 13), 32, secret);
    key(serverRing, nvmeId('01', 13), 32, secret);
    const r = await pair(a, [host.serial]);
    expect([r.client.status, r.server.status]).toEqual([Status.OK, Status.OK]);
    for (const role of ['client', 'server'] as const) expect(lines(a, role).join('\n')).not.toMatch(/group=/);
  });

  /**
   * An agent with `workers` threads up; the check after a pair that both ends ran there (their
   * keys read by the main thread, pool/keys.ts), or on the main thread with none.
   */
  async function agentOn(workers: number): Promise<{ a: Agent; ranOnWorkers(): void }> {
    const a = await agentWith(`[handshaked]\nworkers=${workers}\n`);
    await a.daemon.pool?.whenUp();
    return { a, ranOnWorkers: () => expect(a.daemon.pool?.completed ?? 0).toBe(workers > 0 ? 2 : 0) };
  }

  it.each([0, 2])('a host identity the target does not have: the target sends unknown_psk_identity (EACCES), the host reports EKEYREJECTED (workers = %i)', async (workers) => {
    const { a, ranOnWorkers } = await agentOn(workers);
    const host = key(clientRing, nvmeId('01', 14), 32);
    const r = await pair(a, [host.serial]);
    expect(r.client).toEqual({ status: Status.EKEYREJECTED, remoteAuth: [], cancelled: false });
    expect(r.server).toEqual({ status: Status.EACCES, remoteAuth: [], cancelled: false });
    expect(lines(a, 'server').join('\n')).toMatch(/alert=unknown_psk_identity/);
    expect(lines(a, 'client').join('\n')).toMatch(/status=EKEYREJECTED .*alert=unknown_psk_identity/);
    ranOnWorkers();
  });

  it.each([0, 2])('a host key revoked before the handshake: the host fails with EIO and names the key and the errno (workers = %i)', async (workers) => {
    const { a } = await agentOn(workers);
    const host = key(clientRing, nvmeId('01', 17), 32);
    invalidateKey(host.serial);
    const l = await consumerListener();
    const r = await a.kernel.submit({ sock: await consumerTo(l.port), messageType: 'clienthello', authMode: 'psk', peerIdentities: [host.serial], timeoutMs: 20000 });
    expect(r).toEqual({ status: Status.EIO, remoteAuth: [], cancelled: false });
    // The same reason as on the main thread: the worker fails with the text of the main thread's read.
    expect(lines(a, 'client').join('\n')).toMatch(new RegExp(`reason="?PSK key ${host.serial} cannot be read: (ENOKEY|EKEYREVOKED)`));
    expect(a.daemon.pool?.completed ?? 0).toBe(workers > 0 ? 1 : 0);
  });

  it.each([0, 2])('without the request keyring the target cannot see its key: EKEYREJECTED on the host (workers = %i)', async (workers) => {
    const { a, ranOnWorkers } = await agentOn(workers);
    const secret = randomBytes(32);
    const host = key(clientRing, nvmeId('01', 15), 32, secret);
    key(serverRing, nvmeId('01', 15), 32, secret);
    const otherRing = addKey('keyring', 'hsd-psk-test-empty', null, KeySpec.PROCESS);
    try {
      const r = await pair(a, [host.serial], { keyring: otherRing });
      expect(r.client.status).toBe(Status.EKEYREJECTED);
      ranOnWorkers();
    } finally {
      invalidateKey(otherRing);
    }
  });

  it.each([0, 2])('a target key whose length contradicts its NVMe identity: the target fails with EIO and says why (workers = %i)', async (workers) => {
    const { a, ranOnWorkers } = await agentOn(workers);
    const host = key(clientRing, nvmeId('02', 16), 48);
    const target = key(serverRing, nvmeId('02', 16), 32);
    const r = await pair(a, [host.serial]);
    expect(r.server).toEqual({ status: Status.EIO, remoteAuth: [], cancelled: false });
    expect(r.client.status).toBe(Status.EACCES); // the host saw our internal_error alert
    expect(lines(a, 'server').join('\n')).toMatch(new RegExp(`PSK key ${target.serial} cannot be used: .*names SHA-384 \\(hash 02\\), which needs a 48-byte key, but the key is 32 bytes`));
    ranOnWorkers();
  });
});

describe('PSK server (NVMe target): peer-identity 0, lookup by the client identity', () => {
  /** The target's side of one PSK handshake: the next consumer fd of l, peer-identity 0, the server keyring. */
  const serveTarget = async (a: Agent, l: Awaited<ReturnType<typeof consumerListener>>) =>
    a.kernel.submit({ sock: await l.next(), messageType: 'serverhello', authMode: 'psk', peerIdentities: [0], keyring: serverRing });

  it.each([
    ['openssl s_client: status 0, remote-auth = the serial found, same traffic secrets', '01', 20, 32, /suite=TLS_\w+_SHA256 /],
    ['openssl s_client with a SHA-384 PSK', '02', 21, 48, /suite=TLS_AES_256_GCM_SHA384/],
  ] as const)('%s', async (_name, hash, n, bytes, suite) => {
    const a = await agentWith();
    const target = key(serverRing, nvmeId(hash, n), bytes);
    const l = await consumerListener();
    const peerKeylog = path.join(a.dir, 'peer-keylog');
    const peer = opensslPskClient(l.port, { psks: [target], keylogFile: peerKeylog });
    const r = await serveTarget(a, l);
    expect(r).toEqual({ status: Status.OK, remoteAuth: [target.serial], cancelled: false });
    expect(lines(a, 'server').join('\n')).toMatch(suite);
    await expectSameAppSecrets(a, peer, peerKeylog);
  });

  it('gnutls-cli: status 0, remote-auth = the serial found', async () => {
    const a = await agentWith();
    const target = key(serverRing, nvmeId('01', 22), 32);
    const l = await consumerListener();
    const peer = gnutlsPskClient(l.port, { psks: [target] });
    const r = await serveTarget(a, l);
    expect(r).toEqual({ status: Status.OK, remoteAuth: [target.serial], cancelled: false });
    await peer.waitFor(/Handshake was completed/);
  });

  it('an identity nobody provisioned: unknown_psk_identity, which openssl s_client reports', async () => {
    const a = await agentWith();
    const l = await consumerListener();
    const peer = opensslPskClient(l.port, { psks: [{ identity: nvmeId('01', 23), key: randomBytes(32) }] });
    const r = await serveTarget(a, l);
    expect(r).toEqual({ status: Status.EACCES, remoteAuth: [], cancelled: false });
    expect(lines(a, 'server').join('\n')).toMatch(/alert=unknown_psk_identity/);
    await peer.waitFor(/alert unknown psk identity/i);
  });
});
