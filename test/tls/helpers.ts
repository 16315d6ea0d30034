/** Shared helpers for the engine tests: in-test PKI via openssl, a pump between two engines. */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChainVerifyOptions, ChainVerifyResult, Connection, Step } from '../../src/tls';

export type KeyKind = 'p256' | 'p384' | 'rsa' | 'rsa-pss' | 'ed25519';

export interface Pki {
  ca: Buffer;
  chain: Buffer[];
  key: KeyObject;
}

function genKeyArgs(kind: KeyKind): string[] {
  switch (kind) {
    case 'p256':
      return ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    case 'p384':
      return ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'];
    case 'rsa':
      return ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'];
    case 'rsa-pss':
      return ['-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048'];
    case 'ed25519':
      return ['-algorithm', 'ED25519'];
  }
}

const pkiCache = new Map<string, Pki>();

/** A CA (P-256) and a leaf of the given key type, SAN localhost + 127.0.0.1. */
export function makePki(kind: KeyKind, name = 'localhost'): Pki {
  const cacheKey = `${kind}/${name}`;
  const hit = pkiCache.get(cacheKey);
  if (hit) return hit;
  const dir = mkdtempSync(join(tmpdir(), 'tls-pki-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca.key']);
    run(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=Test CA', '-days', '30', '-out', 'ca.pem',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    run(['genpkey', ...genKeyArgs(kind), '-out', 'leaf.key']);
    run(['req', '-new', '-key', 'leaf.key', '-subj', `/CN=${name}`, '-out', 'leaf.csr']);
    writeFileSync(join(dir, 'ext.cnf'),
      `subjectAltName=DNS:${name},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
    run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30',
      '-extfile', 'ext.cnf', '-out', 'leaf.pem']);
    const der = (f: string) => Buffer.from(new X509Certificate(readFileSync(join(dir, f))).raw);
    const pki = { ca: der('ca.pem'), chain: [der('leaf.pem')], key: createPrivateKey(readFileSync(join(dir, 'leaf.key'))) };
    pkiCache.set(cacheKey, pki);
    return pki;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A minimal path check for engine tests (one leaf directly under an anchor): the real
 * validator is src/tls/x509's and has its own tests.
 */
export function testVerifier(opts: ChainVerifyOptions): ChainVerifyResult {
  const leaf = new X509Certificate(opts.chain[0]);
  for (const a of opts.trust.anchors) {
    const anchor = new X509Certificate(a);
    if (leaf.checkIssued(anchor) && leaf.verify(anchor.publicKey)) {
      if (opts.name && !leaf.checkHost(opts.name) && !leaf.checkIP(opts.name)) {
        return { ok: false, alert: 'bad_certificate', reason: `name ${opts.name} does not match` };
      }
      return { ok: true, leafPublicKey: leaf.publicKey, path: [opts.chain[0], a] };
    }
  }
  return { ok: false, alert: 'unknown_ca', reason: 'no anchor issued the leaf' };
}

/** Splits a byte stream into whole records. */
export function splitRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const len = buf.readUInt16BE(off + 3);
    out.push(buf.subarray(off, off + 5 + len));
    off += 5 + len;
  }
  return out;
}

export interface PumpResult {
  client: Step;
  server: Step;
  /** Every record each side sent, in order. */
  clientSent: Buffer[];
  serverSent: Buffer[];
}

export type Tamper = (from: 'client' | 'server', record: Buffer, index: number) => Buffer | Buffer[] | null;

/**
 * Drives a client and a server against each other in-process until both stop. `tamper` may
 * rewrite, drop (null) or multiply each record in flight.
 */
export function pump(client: Connection, server: Connection, tamper?: Tamper): PumpResult {
  const clientSent: Buffer[] = [];
  const serverSent: Buffer[] = [];
  let cStep = client.start();
  let sStep: Step = { send: Buffer.alloc(0), status: 'continue' };
  server.start();
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const queue = (from: 'client' | 'server', bytes: Buffer) => {
    const sent = from === 'client' ? clientSent : serverSent;
    const q = from === 'client' ? toServer : toClient;
    for (const r of splitRecords(bytes)) {
      const idx = sent.length;
      sent.push(r);
      const t = tamper ? tamper(from, r, idx) : r;
      if (t === null) continue;
      for (const x of Array.isArray(t) ? t : [t]) q.push(x);
    }
  };
  queue('client', cStep.send);
  for (let guard = 0; guard < 1000; guard++) {
    if (toServer.length > 0 && sStep.status === 'continue') {
      sStep = server.receiveRecord(toServer.shift() as Buffer);
      queue('server', sStep.send);
    } else if (toClient.length > 0 && cStep.status === 'continue') {
      cStep = client.receiveRecord(toClient.shift() as Buffer);
      queue('client', cStep.send);
    } else {
      break;
    }
  }
  return { client: cStep, server: sStep, clientSent, serverSent };
}
