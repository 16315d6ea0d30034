/** ML-DSA private keys in PKCS#8 (RFC 9881 §6): seed, expanded key, or both; and what is refused. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MlDsaKey } from '../../src/tls/crypto/pq';
import { keyMatchesCertificate, loadPrivateKey, pemToDer, privateKeyFromDer } from '../../src/tls/x509';
import { pqCertifiedKey, pqFiles } from '../helpers/pki';

function tlv(tag: number, content: Buffer): Buffer {
  const len = content.length;
  const head = len < 0x80 ? [len] : len < 0x100 ? [0x81, len] : [0x82, len >> 8, len & 0xff];
  return Buffer.concat([Buffer.from([tag, ...head]), content]);
}

const ML_DSA_65_OID = Buffer.from('0609608648016503040312', 'hex');

function pkcs8(inner: Buffer, oid = ML_DSA_65_OID): Buffer {
  return tlv(0x30, Buffer.concat([Buffer.from('020100', 'hex'), tlv(0x30, oid), tlv(0x04, inner)]));
}

/** The seed and expanded key of the fixture (OpenSSL 3.5 writes "both"). */
function fixtureParts(): { seed: Buffer; expanded: Buffer } {
  const der = pemToDer(fs.readFileSync(pqFiles('server-mldsa65').key, 'utf8'), 'PRIVATE KEY')[0];
  // SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING { SEQUENCE { seed, expandedKey } } }
  const inner = der.subarray(der.length - (4 + 2 + 32 + 4 + 4032));
  expect(inner.subarray(0, 4)).toEqual(Buffer.from('30820fe6', 'hex'));
  return { seed: inner.subarray(6, 38), expanded: inner.subarray(42) };
}

describe('ML-DSA private keys', () => {
  const leaf = pqCertifiedKey('server-mldsa65').chain[0];

  it('loads the seed, the expanded key and both, and each matches the certificate', () => {
    const { seed, expanded } = fixtureParts();
    for (const inner of [
      tlv(0x80, seed),
      tlv(0x04, expanded),
      tlv(0x30, Buffer.concat([tlv(0x04, seed), tlv(0x04, expanded)])),
    ]) {
      const key = privateKeyFromDer(pkcs8(inner), 'test key');
      expect(key).toBeInstanceOf(MlDsaKey);
      expect(key.asymmetricKeyType).toBe('ml-dsa-65');
      expect(keyMatchesCertificate(leaf, key)).toBe(true);
    }
  });

  it('refuses a seed and an expanded key that disagree', () => {
    const { seed, expanded } = fixtureParts();
    const other = Buffer.from(seed);
    other[0] ^= 1;
    expect(() => privateKeyFromDer(pkcs8(tlv(0x30, Buffer.concat([tlv(0x04, other), tlv(0x04, expanded)]))), 'test key')).toThrow(
      /ml-dsa-65 private key cannot be loaded \(ml-dsa-65 private key: the expanded key does not match the seed\)/,
    );
  });

  it.each([
    ['a 31-byte seed', () => tlv(0x80, Buffer.alloc(31))],
    ['a short expanded key', () => tlv(0x04, Buffer.alloc(4031))],
    ['an unknown shape', () => tlv(0x02, Buffer.from([1]))],
  ])('refuses %s, naming the problem but no key bytes', (_what, make) => {
    let message = '';
    try {
      privateKeyFromDer(pkcs8(make()), 'test key');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^test key: the ml-dsa-65 private key cannot be loaded/);
    expect(message).not.toMatch(/[0-9a-f]{32}/);
  });

  it('loadPrivateKey reads the PEM fixture, and a DER copy of it', () => {
    expect(loadPrivateKey(pqFiles('client-mldsa65').key)).toBeInstanceOf(MlDsaKey);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mldsa-'));
    try {
      const f = path.join(dir, 'key.der');
      fs.writeFileSync(f, pemToDer(fs.readFileSync(pqFiles('server-mldsa87').key, 'utf8'), 'PRIVATE KEY')[0]);
      expect(loadPrivateKey(f).asymmetricKeyType).toBe('ml-dsa-87');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a key of another ML-DSA certificate does not match', () => {
    expect(keyMatchesCertificate(leaf, loadPrivateKey(pqFiles('client-mldsa65').key))).toBe(false);
    expect(keyMatchesCertificate(leaf, loadPrivateKey(pqFiles('server-mldsa44').key))).toBe(false);
  });
});
