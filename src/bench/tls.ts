/**
 * `npm run bench:tls`: TLS 1.3 handshakes per second and CPU per handshake, handshaked's engine
 * against Node's tls (OpenSSL) doing the same handshake (same certificates, suite and group) over
 * loopback, in interleaved rounds in one run, because this machine's absolute speed drifts by
 * tens of percent over minutes (docs/platform.md). The measured side runs in this process; the
 * other side is always Node's tls in a child process (tls-peer.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { createClient, createServer } from '../tls';
import type { CipherSuiteName, ClientConfig, GroupName, ServerConfig } from '../tls/api';
import { runEngine } from './engine-socket';
import { endGracefully, nodeClientContext, nodeClientHandshake, nodeServerOptions, runPool, type HandshakeShape } from './node-tls';
import { loadBenchPki, type BenchPki } from './pki';
import { runPqBench } from './pq';
import { formatReport, summarize, type RoundSample, type Variant } from './report';
import { formatScaling, measureScaling } from './scaling';
import type { FromPeer, ToPeer } from './tls-peer';

const SUITES: CipherSuiteName[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_CCM_SHA256'];
const GROUPS: GroupName[] = ['x25519', 'secp256r1', 'secp384r1'];

interface BenchOptions extends HandshakeShape {
  pq?: boolean;
  rounds: number;
  perRound: number;
  concurrency: number;
  warmup: number;
  /** Worker counts for the engine-scaling section; empty: skipped. */
  workers: number[];
  json: boolean;
}

const HELP = `Usage: node dist/bench/tls.js [options]

Measures TLS 1.3 handshakes/s and CPU per handshake for handshaked's engine and for Node's tls,
client and server role, over loopback, in interleaved rounds.

  --rounds N        rounds per variant (default 5)
  --per-round N     handshakes per variant per round (default 200)
  --concurrency N   handshakes in flight (default 16)
  --warmup N        handshakes per variant before measuring (default 50)
  --suite NAME      ${SUITES.join(' | ')} (default TLS_AES_128_GCM_SHA256)
  --group NAME      ${GROUPS.join(' | ')} (default x25519)
  --cert NAME       server certificate from fixtures/pki (default server-p256)
  --workers LIST    engine scaling over worker threads, e.g. 1,2 (default 1,2; "none" skips it):
                    client+server engine pairs in memory on each count of threads, ratio to the first
  --json            print only the JSON result
  --pq              instead: post-quantum costs (ML-KEM/ML-DSA per operation) and the client's
                    key-share policies, engine against engine in-process (src/bench/pq.ts);
                    --rounds and --per-round apply (default 5 x 200)
  --help            this text
`;

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      'per-round': { type: 'string' },
      concurrency: { type: 'string' },
      warmup: { type: 'string' },
      suite: { type: 'string' },
      group: { type: 'string' },
      cert: { type: 'string' },
      workers: { type: 'string' },
      json: { type: 'boolean' },
      pq: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return undefined;
  if (values.pq) {
    return { pq: true, suite: 'TLS_AES_128_GCM_SHA256', group: 'x25519', cert: 'server-p256', rounds: positive('rounds', values.rounds, 5), perRound: positive('per-round', values['per-round'], 200), concurrency: 1, warmup: 0, workers: [], json: values.json ?? false };
  }
  const suite = (values.suite ?? 'TLS_AES_128_GCM_SHA256') as CipherSuiteName;
  if (!SUITES.includes(suite)) throw new Error(`--suite must be one of ${SUITES.join(', ')}`);
  const group = (values.group ?? 'x25519') as GroupName;
  if (!GROUPS.includes(group)) throw new Error(`--group must be one of ${GROUPS.join(', ')}`);
  return {
    suite,
    group,
    cert: values.cert ?? 'server-p256',
    rounds: positive('rounds', values.rounds, 5),
    perRound: positive('per-round', values['per-round'], 200),
    concurrency: positive('concurrency', values.concurrency, 16),
    warmup: values.warmup === '0' ? 0 : positive('warmup', values.warmup, 50),
    workers: workerList(values.workers),
    json: values.json ?? false,
  };
}

function workerList(v: string | undefined): number[] {
  if (v === 'none') return [];
  const list = (v ?? '1,2').split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--workers must be a list of positive integers (e.g. 1,2), got "${v}"`);
  return list;
}

/** The child process running Node's tls as the unmeasured side. */
class Peer {
  private pending: Array<(m: FromPeer) => void> = [];
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (m: FromPeer) => this.pending.shift()?.(m));
  }

  static start(shape: HandshakeShape): Promise<Peer> {
    const child = fork(path.join(__dirname, 'tls-peer.js'), [JSON.stringify(shape)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('message', (m: FromPeer) => (m.type === 'ready' ? resolve(new Peer(child, m.port)) : reject(new Error('peer did not start'))));
      child.once('exit', (code) => reject(new Error(`benchmark peer exited with code ${code}`)));
    });
  }

  /** Asks the peer to run `count` Node client handshakes against our server on `port`. */
  load(port: number, count: number, concurrency: number): Promise<Extract<FromPeer, { type: 'loaded' }>> {
    return new Promise((resolve, reject) => {
      this.pending.push((m) => (m.type === 'loaded' ? resolve(m) : reject(new Error(`unexpected peer message ${m.type}`))));
      this.child.send({ type: 'load', port, count, concurrency } satisfies ToPeer);
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.send({ type: 'exit' } satisfies ToPeer);
      setTimeout(() => this.child.kill('SIGKILL'), 5000).unref();
    });
  }
}

interface Measured {
  ok: number;
  failed: number;
  firstError?: string;
}

/** Wall time and this process's CPU (user + system) around `work`. */
async function measure(variant: Variant, count: number, work: () => Promise<Measured>): Promise<RoundSample> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await work();
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  return { variant, count, ok: r.ok, failed: r.failed, firstError: r.firstError, wallMs: wallNs / 1e6, cpuUs: cpu.user + cpu.system };
}

/** Serves exactly `count` connections with `handle`, while the peer drives `count` clients at it. */
async function serverRound(peer: Peer, count: number, concurrency: number, listen: (onResult: (err?: Error) => void) => net.Server): Promise<Measured> {
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  let allDone: () => void = () => undefined;
  const finished = new Promise<void>((r) => (allDone = r));
  const server = listen((err) => {
    if (err) {
      failed++;
      firstError ??= err.message;
    } else ok++;
    if (ok + failed === count) allDone();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const loaded = await peer.load(port, count, concurrency);
  // The peer's failures (e.g. a rejected certificate) may never reach our side as a result.
  if (loaded.failed > 0) {
    failed = Math.max(failed, loaded.failed);
    firstError ??= `peer: ${loaded.firstError ?? 'handshake failed'}`;
    if (ok + failed >= count) allDone();
  }
  await finished;
  await new Promise<void>((r) => server.close(() => r()));
  return { ok, failed, firstError };
}

function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function variants(o: BenchOptions, pki: BenchPki, peer: Peer): Record<Variant, (count: number) => Promise<Measured>> {
  const serverCfg: ServerConfig = { certificate: pki.certified, clientAuth: 'none', cipherSuites: [o.suite], groups: [o.group] };
  const clientCfg: ClientConfig = { serverName: 'localhost', trust: pki.trust, cipherSuites: [o.suite], groups: [o.group] };
  const nodeClientCtx = nodeClientContext(o, pki);
  return {
    'handshaked server': (count) =>
      serverRound(peer, count, o.concurrency, (onResult) =>
        net.createServer((sock) => {
          sock.on('error', () => undefined);
          runEngine(createServer(serverCfg), sock).then(
            () => onResult(),
            (e: Error) => onResult(e),
          ).finally(() => sock.destroy());
        }),
      ),
    'node server': (count) =>
      serverRound(peer, count, o.concurrency, (onResult) => {
        const server = tls.createServer(nodeServerOptions(o, pki), (s) => {
          s.on('error', () => undefined);
          s.destroy();
          onResult();
        });
        server.on('tlsClientError', (e) => onResult(e));
        return server;
      }),
    'handshaked client': (count) =>
      runPool(count, o.concurrency, async () => {
        const sock = await connectTcp(peer.port);
        sock.on('error', () => undefined);
        try {
          await runEngine(createClient(clientCfg), sock);
        } catch (e) {
          sock.destroy();
          throw e;
        }
        await endGracefully(sock);
      }),
    'node client': (count) => runPool(count, o.concurrency, () => nodeClientHandshake(peer.port, nodeClientCtx)),
  };
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  if (!o) {
    process.stdout.write(HELP);
    return 0;
  }
  if (o.pq) return runPqBench(o);
  const pki = loadBenchPki(o.cert);
  const peer = await Peer.start({ suite: o.suite, group: o.group, cert: o.cert });
  const samples: RoundSample[] = [];
  try {
    const run = variants(o, pki, peer);
    const order = Object.keys(run) as Variant[];
    if (o.warmup > 0) for (const v of order) await run[v](o.warmup);
    for (let round = 0; round < o.rounds; round++) {
      // Rotate the order each round so no variant always runs right after another.
      const rotated = order.map((_, i) => order[(i + round) % order.length]);
      for (const v of rotated) samples.push(await measure(v, o.perRound, () => run[v](o.perRound)));
      if (!o.json) process.stderr.write(`round ${round + 1}/${o.rounds} done\n`);
    }
  } finally {
    await peer.stop();
  }
  const summary = summarize(samples, {
    suite: o.suite,
    group: o.group,
    cert: o.cert,
    rounds: o.rounds,
    perRound: o.perRound,
    concurrency: o.concurrency,
    node: process.version,
    openssl: process.versions.openssl,
  });
  const scaling = o.workers.length ? await measureScaling({ suite: o.suite, group: o.group, cert: o.cert }, o.workers, o.rounds, o.perRound, o.warmup) : undefined;
  if (!o.json) process.stdout.write(`${formatReport(summary)}\n${scaling ? `\n${formatScaling(scaling)}\n` : ''}`);
  process.stdout.write(`${JSON.stringify({ ...summary, ...(scaling ? { scaling } : {}) }, null, o.json ? 2 : 0)}\n`);
  return summary.failed > 0 ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (e: Error) => {
    process.stderr.write(`bench:tls: ${e.message}\n`);
    process.exitCode = 2;
  },
);
