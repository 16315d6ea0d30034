/**
 * `npm run bench:tls -- --pq`: what post-quantum TLS costs in this engine, and which key shares
 * a client should send by default.
 *
 * 1. Primitives: CPU µs per ML-KEM and ML-DSA operation (@noble/post-quantum) next to the
 *    classical operations they join or replace (node:crypto X25519, ECDSA P-256).
 * 2. Policies: whole handshakes, engine client against engine server in this process (no
 *    sockets: Node 20's OpenSSL 3.0 cannot be the peer for ML-KEM), CPU per handshake for both
 *    sides together as a ratio to the classical x25519 baseline measured in the same rounds,
 *    plus ClientHello size and whether a HelloRetryRequest (one more round trip) was needed.
 * Rounds interleave the policies and the median is reported, because this machine's speed drifts.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { createClient, createServer } from '../tls';
import type { CertifiedKey, ClientConfig, Connection, GroupName, ServerConfig, Step, TrustConfig } from '../tls/api';
import { groupByName } from '../tls/crypto/groups';
import { ML_DSA } from '../tls/crypto/pq';
import { loadPrivateKey, pemToDer } from '../tls/x509';
import { Pki, PQ_PKI_DIR } from '../companion/pki';
import { loadBenchPki, type BenchPki } from './pki';
import { cpuUsPerCall, median } from './stats';


export interface PrimitiveFigure {
  op: string;
  us: number;
}

/** Median CPU µs per operation over `rounds` rounds of `n` each. */
function measurePrimitives(n: number, rounds: number): PrimitiveFigure[] {
  const x25519 = groupByName('x25519')!;
  const hybrid = groupByName('X25519MLKEM768')!;
  const kp = ml_kem768.keygen();
  const enc = ml_kem768.encapsulate(kp.publicKey);
  const dsa = ml_dsa65.keygen();
  const msg = Buffer.alloc(130, 7); // about a CertificateVerify content: 64 spaces, context, hash
  const dsaSig = ml_dsa65.sign(msg, dsa.secretKey);
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ecSig = sign('sha256', msg, ec.privateKey);
  const clientShare = hybrid.generate();
  const ops: Array<[string, () => unknown]> = [
    ['ML-KEM-768 keygen', () => ml_kem768.keygen()],
    ['ML-KEM-768 encapsulate', () => ml_kem768.encapsulate(kp.publicKey)],
    ['ML-KEM-768 decapsulate', () => ml_kem768.decapsulate(enc.cipherText, kp.secretKey)],
    ['X25519 keygen + derive (node:crypto)', () => x25519.respond(x25519.generate().publicKey)],
    ['X25519MLKEM768 client share (keygen)', () => hybrid.generate()],
    ['X25519MLKEM768 server respond', () => hybrid.respond(clientShare.publicKey)],
    ['ML-DSA-65 sign', () => ml_dsa65.sign(msg, dsa.secretKey)],
    ['ML-DSA-65 verify', () => ml_dsa65.verify(dsaSig, msg, dsa.publicKey)],
    ['ECDSA P-256 sign (node:crypto)', () => sign('sha256', msg, ec.privateKey)],
    ['ECDSA P-256 verify (node:crypto)', () => verify('sha256', msg, ec.publicKey, ecSig)],
  ];
  for (const [, f] of ops) cpuUsPerCall(Math.max(5, n / 10), f); // JIT warm-up
  const samples = new Map<string, number[]>(ops.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) for (const [name, f] of ops) samples.get(name)!.push(cpuUsPerCall(n, f));
  return ops.map(([op]) => ({ op, us: Math.round(median(samples.get(op)!) * 10) / 10 }));
}

function splitRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; ) {
    const len = buf.readUInt16BE(off + 3);
    out.push(buf.subarray(off, off + 5 + len));
    off += 5 + len;
  }
  return out;
}

/** Runs one in-process handshake; returns the first ClientHello's size and whether HRR happened. */
function handshake(client: Connection, server: Connection): { chBytes: number; hrr: boolean } {
  let c: Step = client.start();
  let s: Step = { send: Buffer.alloc(0), status: 'continue' };
  server.start();
  const chBytes = c.send.length;
  const toServer = splitRecords(c.send);
  const toClient: Buffer[] = [];
  while ((toServer.length && s.status === 'continue') || (toClient.length && c.status === 'continue')) {
    if (toServer.length && s.status === 'continue') {
      s = server.receiveRecord(toServer.shift()!);
      toClient.push(...splitRecords(s.send));
    } else {
      c = client.receiveRecord(toClient.shift()!);
      toServer.push(...splitRecords(c.send));
    }
  }
  if (c.status !== 'done' || s.status !== 'done') throw new Error(`handshake failed: ${c.error?.message ?? s.error?.message ?? 'stalled'}`);
  return { chBytes, hrr: client.info().helloRetry };
}

export interface Policy {
  name: string;
  client: Partial<ClientConfig>;
  server: Partial<ServerConfig>;
}

const PQ_SERVER: Partial<ServerConfig> = {}; // the defaults: hybrids first
const CLASSIC_SERVER: Partial<ServerConfig> = { groups: ['x25519', 'secp256r1', 'secp384r1'] };
const HYBRID_AND_X25519: GroupName[] = ['X25519MLKEM768', 'x25519'];

export function policies(pqCert: CertifiedKey): Policy[] {
  return [
    { name: 'x25519 only (classical baseline)', client: { groups: ['x25519'] }, server: PQ_SERVER },
    { name: 'hybrid share only -> PQ server', client: { groups: HYBRID_AND_X25519, keyShares: ['X25519MLKEM768'] }, server: PQ_SERVER },
    { name: 'hybrid + x25519 shares -> PQ server (default)', client: { groups: HYBRID_AND_X25519 }, server: PQ_SERVER },
    { name: 'x25519 share, hybrid listed -> PQ server (HRR)', client: { groups: HYBRID_AND_X25519, keyShares: ['x25519'] }, server: PQ_SERVER },
    { name: 'hybrid share only -> classical server (HRR)', client: { groups: HYBRID_AND_X25519, keyShares: ['X25519MLKEM768'] }, server: CLASSIC_SERVER },
    { name: 'hybrid + x25519 shares -> classical server', client: { groups: HYBRID_AND_X25519 }, server: CLASSIC_SERVER },
    { name: 'x25519 share, hybrid listed -> classical server', client: { groups: HYBRID_AND_X25519, keyShares: ['x25519'] }, server: CLASSIC_SERVER },
    { name: 'default groups + ML-DSA-65 certificate', client: {}, server: { certificate: pqCert } },
  ];
}

export interface PolicyFigure {
  policy: string;
  cpuUsPerHandshake: number;
  /** CPU per handshake / the baseline's, same rounds. */
  ratio: number;
  clientHelloBytes: number;
  helloRetry: boolean;
}

const pqFixtures = new Pki(PQ_PKI_DIR, 'run scripts/gen-pq-pki.sh');

/** The certificates the policies use: the classical server-p256, the ML-DSA-65 server, and both roots. */
export function pqBenchMaterial(): { classic: BenchPki; pqCert: CertifiedKey; trust: TrustConfig } {
  const classic = loadBenchPki('server-p256');
  const pqCert: CertifiedKey = {
    chain: pemToDer(pqFixtures.text('server-mldsa65.chain.pem')),
    key: loadPrivateKey(pqFixtures.file('server-mldsa65.key.pem')),
  };
  return { classic, pqCert, trust: { anchors: [...classic.trust.anchors, ...pemToDer(pqFixtures.text('ca-bundle.pem'))] } };
}

function measurePolicies(perRound: number, rounds: number, { classic, pqCert, trust }: ReturnType<typeof pqBenchMaterial>): PolicyFigure[] {
  const all = policies(pqCert);
  const run = (p: Policy) =>
    handshake(
      createClient({ serverName: 'localhost', trust, cipherSuites: ['TLS_AES_128_GCM_SHA256'], ...p.client }),
      createServer({ certificate: classic.certified, clientAuth: 'none', cipherSuites: ['TLS_AES_128_GCM_SHA256'], ...p.server }),
    );
  const shape = all.map(run); // also the warm-up
  for (const p of all) for (let i = 0; i < 20; i++) run(p);
  const cpu = new Map<string, number[]>(all.map((p) => [p.name, []]));
  for (let r = 0; r < rounds; r++) {
    const rotated = all.map((_, i) => all[(i + r) % all.length]);
    for (const p of rotated) cpu.get(p.name)!.push(cpuUsPerCall(perRound, () => run(p)));
  }
  const base = median(cpu.get(all[0].name)!);
  return all.map((p, i) => {
    const us = median(cpu.get(p.name)!);
    return { policy: p.name, cpuUsPerHandshake: Math.round(us), ratio: Math.round((us / base) * 100) / 100, clientHelloBytes: shape[i].chBytes, helloRetry: shape[i].hrr };
  });
}

function formatPq(prims: PrimitiveFigure[], pols: PolicyFigure[]): string {
  const lines = ['Primitives (CPU µs per operation, median of rounds):'];
  for (const p of prims) lines.push(`  ${p.op.padEnd(40)} ${p.us.toFixed(1).padStart(9)}`);
  lines.push('', 'Handshakes, engine client + engine server in one process (CPU µs per handshake, both sides):');
  lines.push(`  ${'policy'.padEnd(50)} ${'µs'.padStart(7)} ${'ratio'.padStart(6)} ${'CH bytes'.padStart(9)}  HRR`);
  for (const p of pols) {
    lines.push(`  ${p.policy.padEnd(50)} ${String(p.cpuUsPerHandshake).padStart(7)} ${p.ratio.toFixed(2).padStart(6)} ${String(p.clientHelloBytes).padStart(9)}  ${p.helloRetry ? 'yes' : 'no'}`);
  }
  const sizes = Object.entries(ML_DSA).map(([k, v]) => `${k}: public key ${v.publicKeyLen} B, signature ${v.signatureLen} B`);
  lines.push('', `ML-DSA sizes: ${sizes.join('; ')}`);
  return lines.join('\n');
}

/** Entry from bench/tls.ts for --pq. */
export function runPqBench(opts: { perRound: number; rounds: number; json: boolean }): number {
  const material = pqBenchMaterial(); // first: a missing fixture fails now, not after minutes
  const prims = measurePrimitives(Math.max(20, opts.perRound), opts.rounds);
  const pols = measurePolicies(opts.perRound, opts.rounds, material);
  const setup = { node: process.version, noble: '@noble/post-quantum 0.7.1', rounds: opts.rounds, perRound: opts.perRound };
  if (!opts.json) process.stdout.write(`${formatPq(prims, pols)}\n`);
  process.stdout.write(`${JSON.stringify({ setup, primitives: prims, policies: pols }, null, opts.json ? 2 : 0)}\n`);
  return 0;
}
