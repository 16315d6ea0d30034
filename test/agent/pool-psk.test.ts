/**
 * The pool's side of kernel keys for server PSK handshakes on worker threads
 * (src/agent/pool/pool.ts, findPsk and the keyrings' unlink): the real WorkerPool and real
 * workers running real handshakes against Node's TLS as the client, with the main thread's key
 * reads injected. A worker that asks twice for one handshake, or for a handshake of another
 * worker, gets no keys (test/support/psk-asking-worker.js makes one do so); a worker that dies
 * mid-handshake leaves its handshake ended with a status and its keyrings unlinked.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { loadConfig } from '../../src/agent/config';
import type { HandshakeEnv } from '../../src/agent/handshake';
import { WorkerPool } from '../../src/agent/pool/pool';
import { Status, type HandshakeRequest } from '../../src/agent/request';
import type { RunContext, RunOutcome } from '../../src/agent/run-context';
import { closing, configText, consumerListener, sleep } from './harness';

jest.setTimeout(60_000);

const KEYRINGS = ['.nvme', '.tls-test'];
const secrets = new Map([['host-a', crypto.randomBytes(32)]]);

/** The main thread's key reads, injected: `host-a` is found; every link, unlink and lookup is counted. */
function countedKeys() {
  const seen = { linked: [] as Array<readonly string[]>, unlinked: 0, lookedUp: [] as string[] };
  const env: HandshakeEnv['keys'] = {
    linkKeyrings: (_req, keyrings) => {
      seen.linked.push(keyrings);
      return () => void seen.unlinked++;
    },
    read: () => {
      throw new Error('not read by a server PSK handshake');
    },
    psk: () => {
      throw new Error('not read by a server PSK handshake');
    },
    findPsk: (identity) => {
      seen.lookedUp.push(identity.toString());
      const key = secrets.get(identity.toString());
      return key ? { identity, key, hash: 'sha256', tag: 101 } : undefined;
    },
  };
  return { env, seen };
}

interface Logged {
  message: string;
  meta: Record<string, unknown>;
}

/** A started pool of two workers (running `script`, default the real worker), configured and up. */
async function startPool(script?: string): Promise<{ pool: WorkerPool; logged: Logged[] }> {
  const logged: Logged[] = [];
  const record = (message: string, meta: Record<string, unknown> = {}) => void logged.push({ message, meta });
  const logger = { error: record, warn: record, info: record, debug: record, log: (_l: string, m: string, meta?: Record<string, unknown>) => record(m, meta) };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-pool-psk-'));
  try {
    fs.writeFileSync(path.join(dir, 'config'), configText());
    const { config } = loadConfig({ path: path.join(dir, 'config') });
    const pool = new WorkerPool({ size: 2, logger: logger as never, ktls: 'off', testHooks: true, ...(script ? { script } : {}) });
    pool.configure(config, 'info');
    pool.start();
    await pool.whenUp();
    return { pool, logged };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A handshake's context as the dispatcher gives it, with a work slot always free. */
function context(): RunContext {
  return {
    signal: new AbortController().signal,
    deadline: Date.now() + 30_000,
    transport: 'test',
    slot: { release: () => undefined, acquire: () => Promise.resolve() },
    peerWait: (read) => read(),
  };
}

/** A server PSK request; `testPskAsks` tells psk-asking-worker.js how to misbehave for it. */
const serverPsk = (fd: number, testPskAsks?: 'twice' | 'other'): HandshakeRequest =>
  ({ fd, role: 'server', auth: 'psk', peerIdentities: [], keySerialsAllowed: true, timeoutMs: 30_000, ...(testPskAsks ? { testPskAsks } : {}) }) as HandshakeRequest;

/** A Node TLS client offering `host-a` over `socket` (a new connection to `port` without it). */
const pskClient = (port: number, socket?: net.Socket) =>
  tls.connect({
    ...(socket ? { socket } : { port, host: '127.0.0.1' }),
    ciphers: 'TLS_AES_128_GCM_SHA256',
    pskCallback: () => ({ identity: 'host-a', psk: secrets.get('host-a')! }),
    checkServerIdentity: () => undefined,
  });

/** The answers a psk-asking worker reported, as [job id, identities answered with a key]. */
const answers = (logged: Logged[]) => logged.filter((l) => l.message === 'test worker: psks answer').map((l) => [l.meta.id, l.meta.keys]);

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !what(); i++) await sleep(10);
  expect(what()).toBe(true);
}

let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

const askingWorker = path.resolve(__dirname, '..', 'support', 'psk-asking-worker.js');

describe("the pool's PSK lookups for worker handshakes", () => {
  it('a server PSK handshake on a worker gets its key, and its keyrings are linked and then unlinked', async () => {
    const keys = countedKeys();
    ({ pool } = await startPool());
    await closing(await consumerListener(), async (l) => {
      const c = await l.accept((port) => pskClient(port));
      const r = await pool!.run(serverPsk(c.fd), context(), 10_000, { env: keys.env, keyrings: KEYRINGS });
      expect(r).toMatchObject({ status: Status.OK, remoteAuth: [101] });
      expect(keys.seen).toEqual({ linked: [KEYRINGS], unlinked: 1, lookedUp: ['host-a'] });
    });
  });

  it('a worker asking twice for one handshake: the second ask gets no keys (nothing is looked up), the handshake ends with its status', async () => {
    const keys = countedKeys();
    let logged: Logged[];
    ({ pool, logged } = await startPool(askingWorker));
    await closing(await consumerListener(), async (l) => {
      const c = await l.accept((port) => pskClient(port));
      const r = await pool!.run(serverPsk(c.fd, 'twice'), context(), 10_000, { env: keys.env, keyrings: KEYRINGS });
      expect(r).toMatchObject({ status: Status.OK, remoteAuth: [101] });
      // The first ask is answered with the key; the second, the same ask again, with none.
      const id = answers(logged)[0]?.[0];
      expect(answers(logged)).toEqual([
        [id, ['host-a']],
        [id, [null]],
      ]);
      expect(keys.seen).toEqual({ linked: [KEYRINGS], unlinked: 1, lookedUp: ['host-a'] });
    });
  });

  it("a worker asking for another worker's handshake gets no keys, and that handshake's own lookup still works", async () => {
    const keys = countedKeys();
    let logged: Logged[];
    ({ pool, logged } = await startPool(askingWorker));
    const p = pool!;
    await closing(await consumerListener(), async (l) => {
      // The victim: its client connected but silent (no ClientHello yet), so its handshake waits
      // on one worker without having asked for its key.
      const victim = await l.accept((port) => net.connect(port, '127.0.0.1'));
      const first = p.run(serverPsk(victim.fd), context(), 10_000, { env: keys.env, keyrings: KEYRINGS })!;
      await until(() => p.load.includes(1));
      const victimWorker = p.load.indexOf(1);
      // The thief: the next handshake goes to the other, idle worker, which at once asks for the
      // victim's handshake (the id before its own) by the victim's client identity.
      const other = await l.accept((port) => pskClient(port));
      const second = p.run(serverPsk(other.fd, 'other'), context(), 10_000, { env: keys.env, keyrings: KEYRINGS })!;
      expect(p.load[1 - victimWorker]).toBe(1);
      const r2 = await second;
      expect(r2).toMatchObject({ status: Status.OK, remoteAuth: [101] });
      // The thief's answers: none for the victim's handshake (the id before its own), then its own key.
      const [[victimId, stolen], [ownId, own]] = answers(logged);
      expect(ownId).toBe((victimId as number) + 1);
      expect(stolen).toEqual([null]);
      expect(own).toEqual(['host-a']);
      // Only the thief's own handshake was looked up so far.
      expect(keys.seen.lookedUp).toEqual(['host-a']);
      // The victim's client speaks now: its own worker asks, and gets its key.
      await new Promise<void>((resolve) => pskClient(0, victim.peer).once('secureConnect', resolve));
      expect(await first).toMatchObject({ status: Status.OK, remoteAuth: [101] });
      expect(answers(logged)).toContainEqual([victimId, ['host-a']]);
      expect(keys.seen).toEqual({ linked: [KEYRINGS, KEYRINGS], unlinked: 2, lookedUp: ['host-a', 'host-a'] });
    });
  });

  it('a worker that dies mid-handshake: its handshake ends EIO and the keyrings linked for it are unlinked', async () => {
    const keys = countedKeys();
    ({ pool } = await startPool());
    const p = pool!;
    await closing(await consumerListener(), async (l) => {
      // A client that never speaks: the handshake waits on its worker, keyrings linked.
      const c = await l.accept((port) => net.connect(port, '127.0.0.1'));
      let outcome: RunOutcome | undefined;
      void p.run(serverPsk(c.fd), context(), 10_000, { env: keys.env, keyrings: KEYRINGS })!.then((o) => (outcome = o));
      await until(() => p.load.includes(1));
      expect(keys.seen).toEqual({ linked: [KEYRINGS], unlinked: 0, lookedUp: [] });
      p.crashForTest(p.load.indexOf(1));
      await until(() => outcome !== undefined);
      expect(outcome).toMatchObject({ status: Status.EIO, reason: expect.stringMatching(/worker thread running this handshake exited \(code 70\)/) });
      expect(keys.seen.unlinked).toBe(1);
      expect(p.replaced).toBe(1);
    });
  });
});
