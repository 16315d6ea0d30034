/**
 * Post-quantum TLS in the engine: the hybrid ML-KEM groups (draft-ietf-tls-ecdhe-mlkem) and
 * ML-DSA certificates (draft-ietf-tls-mldsa, RFC 9881), both roles, HelloRetryRequest into and
 * out of the hybrids, and the alerts the drafts name for bad shares, keys and signatures.
 */
import fs from 'node:fs';
import {
  createClient,
  type ClientConfig,
  type ServerConfig,
  type Step,
} from '../../src/tls';
import { nodeCrypto } from '../../src/tls/crypto/node';
import { groupByName } from '../../src/tls/crypto/groups';
import { MlDsaKey, mlKemComponent } from '../../src/tls/crypto/pq';
import type { CryptoProvider } from '../../src/tls/crypto/provider';
import type { TestHooks } from '../../src/tls/hooks';
import { clientKeyShares, encodeClientKeyShares } from '../../src/tls/wire/extensions';
import { decodeServerHello } from '../../src/tls/wire/handshake';
import { verifyChain } from '../../src/tls/x509';
import { certifiedKey, pemBlocks, pqCertifiedKey, pqFiles, PQ_CA_BUNDLE, trust } from '../helpers/pki';
import { findMessage, flipBitIn, Mitm, runThroughMitm } from './mitm';
import type { Tamper } from './helpers';

const SUITE = 'TLS_AES_128_GCM_SHA256' as const;
const pqTrust = () => trust(PQ_CA_BUNDLE);

function run(
  c: Partial<ClientConfig> = {},
  s: Partial<ServerConfig> = {},
  tamper?: (m: Mitm) => Tamper,
  hooks: { client?: TestHooks; server?: TestHooks } = {},
) {
  return runThroughMitm(
    { serverName: 'localhost', trust: pqTrust(), cipherSuites: [SUITE], ...c },
    { certificate: pqCertifiedKey('server-mldsa65'), clientAuth: 'none', cipherSuites: [SUITE], ...s },
    tamper,
    hooks,
  );
}

function expectDone(r: ReturnType<typeof run>): void {
  expect(r.client.error).toBeUndefined();
  expect(r.server.error).toBeUndefined();
  expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
  expect(r.cc.secrets().tx).toEqual(r.sc.secrets().rx);
  expect(r.cc.secrets().rx).toEqual(r.sc.secrets().tx);
}

function expectFailure(step: Step, alert: string, message?: RegExp): void {
  expect(step.status).toBe('failed');
  expect(step.error?.alert).toBe(alert);
  expect(step.error?.peerAlert).toBe(false);
  if (message) expect(step.error?.message).toMatch(message);
}

/** The key_share entries of the first ClientHello a run sent. */
function clientShares(r: ReturnType<typeof run>): Array<{ group: number; len: number }> {
  const ch = r.clientSent[0].subarray(5 + 4);
  // legacy_version, random, session id, suites, compression, then extensions.
  let off = 2 + 32;
  off += 1 + ch[off];
  off += 2 + ch.readUInt16BE(off);
  off += 1 + ch[off];
  const end = off + 2 + ch.readUInt16BE(off);
  for (off += 2; off < end; ) {
    const type = ch.readUInt16BE(off);
    const len = ch.readUInt16BE(off + 2);
    if (type === 51) return clientKeyShares(ch.subarray(off + 4, off + 4 + len)).map((k) => ({ group: k.group, len: k.key.length }));
    off += 4 + len;
  }
  throw new Error('no key_share in the ClientHello');
}

/** The server's key_share entry in its ServerHello (the first record it sent). */
function serverShare(r: ReturnType<typeof run>, index = 0): { group: number; len: number } {
  const sh = decodeServerHello(r.serverSent[index].subarray(5 + 4));
  const body = sh.extensions.get(51) as Buffer;
  return { group: body.readUInt16BE(0), len: body.readUInt16BE(2) };
}

describe('hybrid ML-KEM key exchange', () => {
  it('is the default: X25519MLKEM768 (1216-byte share) plus an x25519 share; the server takes the hybrid', () => {
    const r = run();
    expectDone(r);
    expect(clientShares(r)).toEqual([{ group: 0x11ec, len: 1184 + 32 }, { group: 0x001d, len: 32 }]);
    // The server's share is the ML-KEM-768 ciphertext and its x25519 key.
    expect(serverShare(r)).toEqual({ group: 0x11ec, len: 1088 + 32 });
    expect(r.cc.info()).toMatchObject({ group: 'X25519MLKEM768', helloRetry: false });
    expect(r.sc.info()).toMatchObject({ group: 'X25519MLKEM768', helloRetry: false });
  });

  it.each([
    ['X25519MLKEM768', 0x11ec, 1184 + 32, 1088 + 32],
    ['SecP256r1MLKEM768', 0x11eb, 65 + 1184, 65 + 1088],
    ['SecP384r1MLKEM1024', 0x11ed, 97 + 1568, 97 + 1568],
  ] as const)('%s in both roles, with the share lengths of the draft', (group, code, clientLen, serverLen) => {
    const r = run({ groups: [group] }, { groups: [group] });
    expectDone(r);
    expect(clientShares(r)).toEqual([{ group: code, len: clientLen }]);
    expect(serverShare(r)).toEqual({ group: code, len: serverLen });
    expect(r.cc.info().group).toBe(group);
  });

  it('a server prefers a hybrid the client lists, even when that costs a HelloRetryRequest', () => {
    const r = run({ groups: ['x25519', 'X25519MLKEM768'], keyShares: ['x25519'] });
    expectDone(r);
    expect(r.cc.info()).toMatchObject({ group: 'X25519MLKEM768', helloRetry: true });
    // After the retry the second ClientHello carries exactly the hybrid share.
    expect(serverShare(r, 2)).toEqual({ group: 0x11ec, len: 1120 });
  });

  it('HelloRetryRequest out of a hybrid: a classical-only server asks for x25519', () => {
    const r = run({ groups: ['X25519MLKEM768', 'x25519'], keyShares: ['X25519MLKEM768'] }, { groups: ['x25519', 'secp256r1'] });
    expectDone(r);
    expect(r.cc.info()).toMatchObject({ group: 'x25519', helloRetry: true });
  });

  it('hybrid + x25519 shares reach a classical-only server without a HelloRetryRequest', () => {
    const r = run({}, { groups: ['x25519'] });
    expectDone(r);
    expect(r.cc.info()).toMatchObject({ group: 'x25519', helloRetry: false });
  });

  it('rejects keyShares that name a group not in groups', () => {
    const step = createClient({ trust: pqTrust(), groups: ['x25519'], keyShares: ['X25519MLKEM768'] }).start();
    expect(step.status).toBe('failed');
    expect(step.error?.message).toMatch(/keyShares names X25519MLKEM768, which groups does not list/);
  });

  it.each([
    ['X25519MLKEM768', 'ML-KEM-768', 'x25519', true],
    ['SecP256r1MLKEM768', 'ML-KEM-768', 'secp256r1', false],
    ['SecP384r1MLKEM1024', 'ML-KEM-1024', 'secp384r1', false],
  ] as const)('%s concatenates shares and secrets in the draft order (ML-KEM first: %s)', (name, kemName, classicName, kemFirst) => {
    const hybrid = groupByName(name)!;
    const kem = mlKemComponent(kemName, name, hybrid.code);
    const classic = groupByName(classicName)!;
    // A client assembled from the two halves, in the order the draft gives.
    const k = kem.generate();
    const c = classic.generate();
    const share = kemFirst ? Buffer.concat([k.publicKey, c.publicKey]) : Buffer.concat([c.publicKey, k.publicKey]);
    const reply = hybrid.respond(share);
    const split = kemFirst ? kem.serverShareLen : classic.serverShareLen;
    const [a, b] = [reply.publicKey.subarray(0, split), reply.publicKey.subarray(split)];
    const secret = kemFirst ? Buffer.concat([k.agree(a), c.agree(b)]) : Buffer.concat([c.agree(a), k.agree(b)]);
    expect(reply.secret).toEqual(secret);
    expect(secret.length).toBe(32 + (classicName === 'secp384r1' ? 48 : 32));
  });
});

describe('hybrid key exchange: bad shares, keys and ciphertexts', () => {
  /** A handshake offering only X25519MLKEM768, with one side's hooks. */
  const runHybrid = (hooks: { client?: TestHooks; server?: TestHooks }) => run({ groups: ['X25519MLKEM768'] }, {}, undefined, hooks);
  /** An edit of a copy of the key share or ciphertext. */
  const patched =
    (edit: (b: Buffer) => void) =>
    (k: Buffer): Buffer => {
      const b = Buffer.from(k);
      edit(b);
      return b;
    };
  /** Share or ciphertext lengths one byte off. */
  const oneByteOff: Array<[string, (k: Buffer) => Buffer]> = [
    ['one byte short', (k) => k.subarray(1)],
    ['one byte long', (k) => Buffer.concat([k, Buffer.alloc(1)])],
  ];
  const replaceShare = (make: (good: Buffer) => Buffer): TestHooks => ({
    clientHelloExtensions: (exts) =>
      exts.map((e) => {
        if (e.type !== 51) return e;
        const [first, ...rest] = clientKeyShares(e.body);
        return { type: 51, body: encodeClientKeyShares([{ group: first.group, key: make(first.key) }, ...rest]) };
      }),
  });

  it.each([...oneByteOff, ['only the x25519 part', (k: Buffer) => k.subarray(1184)]])('a client share %s is illegal_parameter at the server', (_what, make) => {
    const r = runHybrid({ client: replaceShare(make) });
    expectFailure(r.server, 'illegal_parameter', /X25519MLKEM768 client key share is \d+ bytes, want 1216/);
  });

  it('an ML-KEM encapsulation key that fails the FIPS 203 modulus check is illegal_parameter', () => {
    // The first 12-bit coefficient becomes 0xfff, which is not below q = 3329.
    const r = runHybrid({
      client: replaceShare(
        patched((b) => {
          b[0] = 0xff;
          b[1] |= 0x0f;
        }),
      ),
    });
    expectFailure(r.server, 'illegal_parameter', /encapsulation key fails the FIPS 203 check/);
  });

  it('an invalid x25519 half of a hybrid share is illegal_parameter too', () => {
    const r = runHybrid({
      client: replaceShare((k) => Buffer.concat([k.subarray(0, 1184), Buffer.alloc(32)])),
    });
    expectFailure(r.server, 'illegal_parameter', /x25519/);
  });

  const serverReply = (edit: (publicKey: Buffer) => Buffer): TestHooks => {
    const crypto: CryptoProvider = Object.create(nodeCrypto) as CryptoProvider;
    crypto.keyExchange = (group) => {
      const g = nodeCrypto.keyExchange(group);
      if (!g) return g;
      return { ...g, respond: (share, priv) => {
        const r = g.respond(share, priv);
        return { secret: r.secret, publicKey: edit(r.publicKey) };
      } };
    };
    return { crypto };
  };

  it.each(oneByteOff)('a server ciphertext %s is illegal_parameter at the client', (_what, edit) => {
    const r = runHybrid({ server: serverReply(edit) });
    expectFailure(r.client, 'illegal_parameter', /X25519MLKEM768 server key share is \d+ bytes, want 1120/);
  });

  it('a corrupted ciphertext decapsulates to a different secret (implicit rejection): the handshake fails at Finished', () => {
    const r = runHybrid({ server: serverReply(patched((b) => (b[10] ^= 1))) });
    // ML-KEM never reports a bad ciphertext; the keys differ, so the first protected record fails.
    expect(r.client.status).toBe('failed');
    expect(r.client.error?.alert).toBe('bad_record_mac');
  });
});

describe('ML-DSA certificates', () => {
  it.each(['server-mldsa44', 'server-mldsa65', 'server-mldsa87'])('%s: path validation to the ML-DSA-65 root and the leaf key', (name) => {
    const ck = pqCertifiedKey(name);
    const r = verifyChain({ chain: ck.chain, trust: pqTrust(), now: new Date(), purpose: 'serverAuth', name: 'localhost', maxChainLength: 10 });
    expect(r).toMatchObject({ ok: true });
    if (!r.ok) return;
    expect(r.leafPublicKey).toBeInstanceOf(MlDsaKey);
    expect(r.leafPublicKey.asymmetricKeyType).toBe(ck.key.asymmetricKeyType);
  });

  it('a classic P-256 leaf under the ML-DSA root validates (ML-DSA signature on the certificate)', () => {
    const ck = pqCertifiedKey('server-p256');
    const r = verifyChain({ chain: ck.chain, trust: pqTrust(), now: new Date(), purpose: 'serverAuth', name: 'localhost', maxChainLength: 10 });
    expect(r).toMatchObject({ ok: true });
  });

  it('a flipped bit in the ML-DSA certificate signature is bad_certificate', () => {
    const leaf = Buffer.from(pqCertifiedKey('server-mldsa65').chain[0]);
    leaf[leaf.length - 100] ^= 1;
    const r = verifyChain({ chain: [leaf], trust: pqTrust(), now: new Date(), purpose: 'serverAuth', name: 'localhost', maxChainLength: 10 });
    expect(r).toMatchObject({ ok: false, alert: 'bad_certificate' });
    if (!r.ok) expect(r.reason).toMatch(/signature does not verify/);
  });

  it.each([
    ['server-mldsa44', 'mldsa44'],
    ['server-mldsa65', 'mldsa65'],
    ['server-mldsa87', 'mldsa87'],
  ] as const)('%s signs CertificateVerify with %s', (name, scheme) => {
    const r = run({}, { certificate: pqCertifiedKey(name) });
    expectDone(r);
    expect(r.cc.info()).toMatchObject({ signatureScheme: scheme, peerVerified: true });
    expect(r.sc.info().signatureScheme).toBe(scheme);
  });

  it('a server with both presents ML-DSA to a client offering it, the classic certificate otherwise', () => {
    const both = { certificate: certifiedKey('server-p256'), pqCertificate: pqCertifiedKey('server-mldsa65') };
    const caBoth = { anchors: [...trust().anchors, ...pqTrust().anchors] };
    const pq = run({ trust: caBoth }, both);
    expectDone(pq);
    expect(pq.cc.info().signatureScheme).toBe('mldsa65');
    const classic = run({ trust: caBoth, signatureSchemes: ['ecdsa_secp256r1_sha256', 'rsa_pss_rsae_sha256'] }, both);
    expectDone(classic);
    expect(classic.cc.info().signatureScheme).toBe('ecdsa_secp256r1_sha256');
    expect(classic.cc.info().peerCertificates[0]).toEqual(certifiedKey('server-p256').chain[0]);
  });

  it('a client with both presents what the CertificateRequest allows', () => {
    const client = { certificate: certifiedKey('client-p256'), pqCertificate: pqCertifiedKey('client-mldsa65') };
    const caBoth = { anchors: [...trust().anchors, ...pqTrust().anchors] };
    const pq = run({ ...client, trust: caBoth }, { clientAuth: 'required', trust: caBoth });
    expectDone(pq);
    expect(pq.sc.info()).toMatchObject({ clientSignatureScheme: 'mldsa65', peerVerified: true });
    expect(pq.sc.info().peerCertificates[0]).toEqual(pqCertifiedKey('client-mldsa65').chain[0]);
    // A server whose signature_algorithms (and so its CertificateRequest) has no ML-DSA.
    const classic = run(
      { ...client, trust: caBoth },
      { certificate: certifiedKey('server-p256'), clientAuth: 'required', trust: caBoth, signatureSchemes: ['ecdsa_secp256r1_sha256'] },
    );
    expectDone(classic);
    expect(classic.sc.info().clientSignatureScheme).toBe('ecdsa_secp256r1_sha256');
    expect(classic.sc.info().peerCertificates[0]).toEqual(certifiedKey('client-p256').chain[0]);
  });

  it('a bad ML-DSA CertificateVerify signature is decrypt_error', () => {
    const r = run({}, {}, flipBitIn('server', 15, 100));
    expectFailure(r.client, 'decrypt_error', /server CertificateVerify signature \(mldsa65\) does not verify/);
  });

  it('an ML-DSA CertificateVerify of the wrong length is decrypt_error', () => {
    const r = run({}, {}, (m) => (from, rec) =>
      from === 'server' && rec[0] === 23
        ? m.rewrite('server', rec, (c) => {
          const cv = findMessage(c, 15);
          const len = c.readUIntBE(cv + 1, 3);
          // Drop the last signature byte: fix the message and signature lengths.
          const msg = Buffer.from(c.subarray(cv, cv + 4 + len - 1));
          msg.writeUIntBE(len - 1, 1, 3);
          msg.writeUInt16BE(msg.readUInt16BE(6) - 1, 6);
          return { content: Buffer.concat([c.subarray(0, cv), msg, c.subarray(cv + 4 + len)]) };
        })
        : rec);
    expectFailure(r.client, 'decrypt_error', /mldsa65/);
  });

  it('a server that signs with ML-DSA though the client offered none is illegal_parameter', () => {
    // The client leaves ML-DSA out; the test server signs with it anyway.
    const r = run({ signatureSchemes: ['ecdsa_secp256r1_sha256'] }, {}, undefined, {
      client: { clientHelloExtensions: (exts) => exts.map((e) => (e.type === 13 ? { type: 13, body: Buffer.from('00040403' + '0905', 'hex') } : e)) },
    });
    expectFailure(r.client, 'illegal_parameter', /0x905, which we did not offer/);
  });

  it('the ML-DSA key never shows in JSON', () => {
    expect(JSON.stringify({ key: pqCertifiedKey('server-mldsa65').key })).toBe('{"key":"[ml-dsa-65 private key]"}');
  });

  it('PEM chain fixture matches the certificate the engine sends', () => {
    const r = run();
    expectDone(r);
    expect(r.cc.info().peerCertificates).toEqual(pemBlocks(fs.readFileSync(pqFiles('server-mldsa65').chain, 'utf8')));
  });
});
