/**
 * Private keys from DER: whatever node:crypto can load (PKCS#8, SEC1, PKCS#1), and ML-DSA
 * PKCS#8 keys, which Node 20 cannot. RFC 9881 §6 lets the ML-DSA private key be the 32-byte
 * seed ([0] IMPLICIT), the expanded key, or both in a SEQUENCE (OpenSSL 3.5 writes "both" by
 * default); when both are present they must agree.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { AsymmetricKey } from '../api';
import { MlDsaKey, type MlDsaKeyType } from '../crypto/pq';
import { decodeCertificateCached, parseAlgorithm, publicKeyOf } from './cert';
import { ctx, DerReader, parseDer, readSmallInt, Tag } from './der';
import { ML_DSA_OIDS } from './oids';

/** The ML-DSA key type of a PKCS#8 PrivateKeyInfo, or undefined for any other algorithm or shape. */
function mlDsaType(der: Buffer): MlDsaKeyType | undefined {
  try {
    const r = DerReader.of(parseDer(der, 'PrivateKeyInfo'), 'PrivateKeyInfo');
    r.expect(Tag.INTEGER, 'version');
    return ML_DSA_OIDS[parseAlgorithm(r.read('privateKeyAlgorithm'), 'privateKeyAlgorithm').oid];
  } catch {
    return undefined;
  }
}

function mlDsaFromPkcs8(kind: MlDsaKeyType, der: Buffer): MlDsaKey {
  const what = `${kind} PrivateKeyInfo`;
  const r = DerReader.of(parseDer(der, what), what);
  const version = readSmallInt(r.expect(Tag.INTEGER, 'version'), 'version', 1);
  if (version > 1) throw new Error(`${what}: version ${version}`);
  const alg = parseAlgorithm(r.read('privateKeyAlgorithm'), 'privateKeyAlgorithm');
  if (alg.params) throw new Error(`${what}: the ML-DSA AlgorithmIdentifier must have no parameters`);
  const inner = parseDer(r.expect(Tag.OCTET_STRING, 'privateKey').value, `${kind} private key`);
  // Attributes [0] and the public key [1] may follow; the key is derived from the seed anyway.
  if (inner.tag === ctx(0)) return MlDsaKey.privateFrom(kind, inner.value, undefined);
  if (inner.tag === Tag.OCTET_STRING) return MlDsaKey.privateFrom(kind, undefined, inner.value);
  if (inner.tag === Tag.SEQUENCE) {
    const b = DerReader.of(inner, `${kind} private key (both)`);
    const seed = b.expect(Tag.OCTET_STRING, 'seed').value;
    const expanded = b.expect(Tag.OCTET_STRING, 'expandedKey').value;
    b.finish();
    return MlDsaKey.privateFrom(kind, seed, expanded);
  }
  throw new Error(`${what}: private key is neither a seed, an expanded key nor both`);
}

/**
 * A DER private key in any encoding handshaked accepts, or an error saying why not (never
 * containing key bytes). `what` names the source for the message.
 */
export function privateKeyFromDer(der: Buffer, what: string): AsymmetricKey {
  const mldsa = mlDsaType(der);
  if (mldsa) {
    try {
      return mlDsaFromPkcs8(mldsa, der);
    } catch (err) {
      throw new Error(`${what}: the ${mldsa} private key cannot be loaded (${(err as Error).message})`);
    }
  }
  for (const type of ['pkcs8', 'sec1', 'pkcs1'] as const) {
    try {
      return createPrivateKey({ key: der, format: 'der', type });
    } catch {
      // try the next encoding
    }
  }
  throw new Error(`${what} is not a DER private key (PKCS#8, SEC1, PKCS#1, or ML-DSA PKCS#8)`);
}

/** The ML-DSA PKCS#8 form only (for PEM "PRIVATE KEY" blocks); undefined for other algorithms. */
export function mlDsaPrivateKey(der: Buffer, what: string): MlDsaKey | undefined {
  return mlDsaType(der) ? (privateKeyFromDer(der, what) as MlDsaKey) : undefined;
}

/** True when `key` is the private key of the certificate `leafDer`. */
export function keyMatchesCertificate(leafDer: Buffer, key: AsymmetricKey): boolean {
  if (key instanceof MlDsaKey) {
    const pub = publicKeyOf(decodeCertificateCached(leafDer));
    return pub instanceof MlDsaKey && pub.asymmetricKeyType === key.asymmetricKeyType && pub.publicKey.equals(key.publicKey);
  }
  return new X509Certificate(leafDer).checkPrivateKey(key);
}
