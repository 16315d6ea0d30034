/**
 * Post-quantum interop against Debian 13's OpenSSL 3.5 (X25519MLKEM768 and the two NIST hybrids,
 * ML-DSA certificates it generated: fixtures/pki-pq) and GnuTLS 3.8, run inside the root that
 * scripts/trixie-root.sh builds. Each handshake is followed by the key proof (one record each
 * way under the exported keys), and the peer's NSS key log must equal ours line for line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClientConfig, GroupName, ServerConfig } from '../../src/tls/api';
import type { PeerOptions } from '../helpers/cli-peers';
import { expectDone } from '../helpers/driver';
import { ourClientAgainst, ourServerAgainst, type PeerKind, type ScenarioOutcome } from '../helpers/interop';
import { certifiedKey, PQ_CA_BUNDLE, PQ_PKI_DIR, pqCertifiedKey, trust, CA_BUNDLE } from '../helpers/pki';
import { stopAllPeers } from '../helpers/process-peer';
import { trixieRoot } from '../helpers/trixie';

jest.setTimeout(120000);
afterEach(stopAllPeers);

const t = trixieRoot();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pq-interop-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Trust for both PKIs: the ML-DSA root and the classic one. */
const bothTrust = () => ({ anchors: [...trust().anchors, ...trust(PQ_CA_BUNDLE).anchors] });
const bothCaFile = (): string => {
  const f = path.join(dir, 'both-ca.pem');
  if (!fs.existsSync(f)) fs.writeFileSync(f, fs.readFileSync(CA_BUNDLE, 'utf8') + fs.readFileSync(PQ_CA_BUNDLE, 'utf8'));
  return f;
};

let n = 0;
function peerOptions(extra: PeerOptions): PeerOptions {
  return { root: t.root, pkiDir: PQ_PKI_DIR, caFile: PQ_CA_BUNDLE, keyLogFile: path.join(dir, `peer-${++n}.keylog`), ...extra };
}

/** Our key log equals the peer's for the four traffic secrets (the peer may log more, e.g. EXPORTER_SECRET). */
function expectKeyLogsMatch(ours: string[], peer: PeerOptions): void {
  const theirs = fs.readFileSync(peer.keyLogFile as string, 'utf8').split('\n').filter((l) => /_TRAFFIC_SECRET/.test(l));
  expect(ours.length).toBe(4);
  expect([...theirs].sort()).toEqual([...ours].sort());
}

function expectProof(out: ScenarioOutcome): void {
  expect(out.proof).toBeDefined();
  expect(out.proof?.received).toContain(out.proof?.expected);
}

async function client(kind: PeerKind, peer: PeerOptions, cfg: Partial<ClientConfig> = {}) {
  const keyLog: string[] = [];
  const out = await ourClientAgainst(kind, peer, { serverName: 'localhost', trust: bothTrust(), keyLog: (l) => keyLog.push(l), ...cfg });
  return { out, keyLog, done: expectDone(out.result) };
}

async function server(kind: PeerKind, peer: PeerOptions, cfg: Partial<ServerConfig> = {}) {
  const keyLog: string[] = [];
  const out = await ourServerAgainst(kind, peer, {
    certificate: certifiedKey('server-p256'),
    pqCertificate: pqCertifiedKey('server-mldsa65'),
    clientAuth: 'none',
    keyLog: (l) => keyLog.push(l),
    ...cfg,
  });
  return { out, keyLog, done: expectDone(out.result) };
}

const HYBRIDS: GroupName[] = ['X25519MLKEM768', 'SecP256r1MLKEM768', 'SecP384r1MLKEM1024'];

const suite = t.root ? describe : describe.skip;
const title = t.root ? `OpenSSL ${t.openssl}, GnuTLS ${t.gnutls} (Debian 13 root)` : `Debian 13 peers (skipped: ${'reason' in t ? t.reason : ''})`;

suite(title, () => {
  describe('our client vs openssl s_server', () => {
    it.each(HYBRIDS)('%s with an ML-DSA-65 server certificate, key logs equal', async (group) => {
      const peer = peerOptions({ cert: 'server-mldsa65', groups: [group] });
      // Defaults, except that the hybrid under test is the one we lead with.
      const { out, keyLog, done } = await client('openssl', peer, group === 'X25519MLKEM768' ? {} : { groups: [group, 'x25519'] });
      expect(done.info).toMatchObject({ group, signatureScheme: 'mldsa65', peerVerified: true, helloRetry: false });
      expectProof(out);
      expectKeyLogsMatch(keyLog, peer);
    });

    it.each(['server-mldsa44', 'server-mldsa87'])('%s certificate', async (cert) => {
      const peer = peerOptions({ cert });
      const { out, keyLog, done } = await client('openssl', peer);
      expect(done.info.signatureScheme).toBe(cert === 'server-mldsa44' ? 'mldsa44' : 'mldsa87');
      expect(done.info.group).toBe('X25519MLKEM768');
      expectProof(out);
      expectKeyLogsMatch(keyLog, peer);
    });

    it('mTLS: s_server demands a client certificate and verifies our ML-DSA-65 one', async () => {
      const peer = peerOptions({ cert: 'server-mldsa65', groups: ['X25519MLKEM768'], requireClientCert: true });
      const { out, keyLog, done } = await client('openssl', peer, { certificate: certifiedKey('client-p256'), pqCertificate: pqCertifiedKey('client-mldsa65') });
      expect(done.info.clientSignatureScheme).toBe('mldsa65');
      expectProof(out);
      expectKeyLogsMatch(keyLog, peer);
    });

    it('HelloRetryRequest into the hybrid: we lead with x25519, s_server accepts only X25519MLKEM768', async () => {
      const peer = peerOptions({ cert: 'server-mldsa65', groups: ['X25519MLKEM768'] });
      const { out, keyLog, done } = await client('openssl', peer, { groups: ['x25519', 'X25519MLKEM768'], keyShares: ['x25519'] });
      expect(done.info).toMatchObject({ group: 'X25519MLKEM768', helloRetry: true });
      expectProof(out);
      expectKeyLogsMatch(keyLog, peer);
    });

    it('HelloRetryRequest out of the hybrid: only a hybrid share, s_server accepts only P-256', async () => {
      const peer = peerOptions({ cert: 'server-p256', groups: ['secp256r1'] });
      const { out, done } = await client('openssl', peer, { keyShares: ['X25519MLKEM768'] });
      expect(done.info).toMatchObject({ group: 'secp256r1', helloRetry: true, signatureScheme: 'ecdsa_secp256r1_sha256' });
      expectProof(out);
    });
  });

  describe('our server vs openssl s_client', () => {
    it('s_client with its defaults (X25519MLKEM768 and X25519 shares) gets X25519MLKEM768 and the ML-DSA certificate', async () => {
      const peer = peerOptions({ caFile: bothCaFile() });
      const { out, keyLog, done } = await server('openssl', peer);
      expect(done.info).toMatchObject({ group: 'X25519MLKEM768', signatureScheme: 'mldsa65', helloRetry: false });
      expectProof(out);
      expectKeyLogsMatch(keyLog, peer);
    });

    it.each(HYBRIDS)('%s only', async (group) => {
      const peer = peerOptions({ groups: [group] });
      const { out, keyLog, done } = await server('openssl', peer);
      expect(done.info.group).toBe(group);
      expectProof(out);
      expectKeyLogsMatch(keyLog, peer);
    });

    it('an s_client that sends an x25519 share but lists X25519MLKEM768 is asked for the hybrid (HelloRetryRequest)', async () => {
      const peer = peerOptions({ groups: ['x25519', 'X25519MLKEM768'] });
      const { out, keyLog, done } = await server('openssl', peer);
      expect(done.info).toMatchObject({ group: 'X25519MLKEM768', helloRetry: true });
      expectProof(out);
      expectKeyLogsMatch(keyLog, peer);
    });

    it('an s_client without ML-DSA in its signature algorithms gets the classic certificate', async () => {
      const peer = peerOptions({ caFile: bothCaFile(), sigalgs: 'ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256' });
      const { out, done } = await server('openssl', peer);
      expect(done.info.signatureScheme).toBe('ecdsa_secp256r1_sha256');
      expectProof(out);
    });

    it('mTLS: s_client presents its ML-DSA-65 certificate and we verify it', async () => {
      const peer = peerOptions({ cert: 'client-mldsa65', groups: ['X25519MLKEM768'] });
      const { out, keyLog, done } = await server('openssl', peer, { clientAuth: 'required', trust: bothTrust() });
      expect(done.info).toMatchObject({ clientSignatureScheme: 'mldsa65', peerVerified: true });
      expectProof(out);
      expectKeyLogsMatch(keyLog, peer);
    });
  });

  // Debian 13's GnuTLS 3.8.9 is built without ML-KEM and ML-DSA (gnutls-cli --list shows neither):
  // our post-quantum defaults must fall back to classical with it, without a HelloRetryRequest.
  describe('GnuTLS 3.8 (no ML-KEM, no ML-DSA in Debian 13)', () => {
    it('our default client reaches gnutls-serv over x25519 (the second share), no HelloRetryRequest', async () => {
      const peer = peerOptions({ cert: 'server-p256', pkiDir: undefined, caFile: undefined });
      const { out, keyLog, done } = await client('gnutls', peer, { trust: trust() });
      expect(done.info).toMatchObject({ group: 'x25519', helloRetry: false, signatureScheme: 'ecdsa_secp256r1_sha256' });
      expectProof(out);
      expectKeyLogsMatch(keyLog, peer);
    });

    it('gnutls-cli against our server with both certificates gets x25519 and the classic certificate', async () => {
      const peer = peerOptions({ caFile: bothCaFile() });
      const { out, keyLog, done } = await server('gnutls', peer);
      expect(done.info).toMatchObject({ group: 'x25519', signatureScheme: 'ecdsa_secp256r1_sha256' });
      expectProof(out);
      expectKeyLogsMatch(keyLog, peer);
    });
  });
});
