/**
 * Verifies the signature a certificate or CRL carries, with node:crypto.
 *
 * Accepted: RSA PKCS#1 v1.5 and RSASSA-PSS with SHA-256/384/512, ECDSA with SHA-256/384/512,
 * Ed25519 and Ed448, and pure ML-DSA-44/65/87 (RFC 9881; through src/tls/crypto/pq). SHA-1 and MD5 signatures are refused (a forged SHA-1 chain is practical).
 */
import { constants, verify } from 'node:crypto';
import type { AsymmetricKey } from '../api';
import { MlDsaKey, type MlDsaKeyType } from '../crypto/pq';
import { AlgorithmIdentifier } from './cert';
import { ctx, DerReader, readOid, readSmallInt, Tag } from './der';
import { ML_DSA_OIDS, OID } from './oids';

type Hash = 'sha256' | 'sha384' | 'sha512';

const HASH_OIDS: Readonly<Record<string, Hash>> = {
  [OID.sha256]: 'sha256',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
};

type Scheme =
  | { kind: 'pkcs1'; hash: Hash }
  | { kind: 'pss'; hash: Hash; saltLength: number }
  | { kind: 'ecdsa'; hash: Hash }
  | { kind: 'eddsa' }
  | { kind: 'mldsa'; keyType: MlDsaKeyType };

/** The algorithms whose OID alone names the scheme: the hash is part of the identifier. */
const FIXED_SCHEMES: ReadonlyMap<string, Scheme> = new Map<string, Scheme>([
  [OID.sha256WithRSA, { kind: 'pkcs1', hash: 'sha256' }],
  [OID.sha384WithRSA, { kind: 'pkcs1', hash: 'sha384' }],
  [OID.sha512WithRSA, { kind: 'pkcs1', hash: 'sha512' }],
  [OID.ecdsaWithSha256, { kind: 'ecdsa', hash: 'sha256' }],
  [OID.ecdsaWithSha384, { kind: 'ecdsa', hash: 'sha384' }],
  [OID.ecdsaWithSha512, { kind: 'ecdsa', hash: 'sha512' }],
]);

/** Maps an AlgorithmIdentifier to a verification scheme, or says why it is refused. */
export function signatureScheme(alg: AlgorithmIdentifier): Scheme | string {
  const fixed = FIXED_SCHEMES.get(alg.oid);
  if (fixed) return fixed;
  switch (alg.oid) {
    case OID.ed25519:
    case OID.ed448:
      return alg.params ? 'EdDSA AlgorithmIdentifier must have no parameters' : { kind: 'eddsa' };
    case OID.rsassaPss:
      return pssScheme(alg);
    case OID.mlDsa44:
    case OID.mlDsa65:
    case OID.mlDsa87:
      // RFC 9881 §2: the parameters field is absent.
      return alg.params ? 'ML-DSA AlgorithmIdentifier must have no parameters' : { kind: 'mldsa', keyType: ML_DSA_OIDS[alg.oid] };
    case OID.sha1WithRSA:
      return 'SHA-1 signatures are not accepted';
    default:
      return `signature algorithm ${alg.oid} is not supported`;
  }
}

/** RSASSA-PSS-params (RFC 4055): only MGF1 with the same hash, trailer 1, SHA-2 hashes. */
function pssScheme(alg: AlgorithmIdentifier): Scheme | string {
  const what = 'RSASSA-PSS parameters';
  if (!alg.params || alg.params.tag !== Tag.SEQUENCE) return 'RSASSA-PSS without parameters (SHA-1 defaults) is not accepted';
  const r = DerReader.of(alg.params, what);
  const hashNode = r.optional(ctx(0, true), what);
  const mgfNode = r.optional(ctx(1, true), what);
  const saltNode = r.optional(ctx(2, true), what);
  const trailerNode = r.optional(ctx(3, true), what);
  r.finish(what);
  if (!hashNode || !mgfNode) return 'RSASSA-PSS with SHA-1 defaults is not accepted';
  const hashAlg = DerReader.of(hashNode, what).expect(Tag.SEQUENCE, what);
  const hashOid = readOid(DerReader.of(hashAlg, what).expect(Tag.OID, what), what);
  const hash = HASH_OIDS[hashOid];
  if (!hash) return `RSASSA-PSS hash ${hashOid} is not accepted`;
  const mgf = DerReader.of(DerReader.of(mgfNode, what).expect(Tag.SEQUENCE, what), what);
  if (readOid(mgf.expect(Tag.OID, what), what) !== OID.mgf1) return 'RSASSA-PSS mask generation other than MGF1';
  const mgfHash = readOid(DerReader.of(mgf.expect(Tag.SEQUENCE, what), what).expect(Tag.OID, what), what);
  if (mgfHash !== hashOid) return 'RSASSA-PSS with an MGF1 hash different from the message hash';
  const saltLength = saltNode ? readSmallInt(DerReader.of(saltNode, what).expect(Tag.INTEGER, what), what, 1024) : 20;
  if (trailerNode && readSmallInt(DerReader.of(trailerNode, what).expect(Tag.INTEGER, what), what) !== 1) {
    return 'RSASSA-PSS trailer field other than 1';
  }
  return { kind: 'pss', hash, saltLength };
}

/**
 * True when `signature` over `data` verifies under `key` with `alg`; a string when the algorithm
 * is refused or does not fit the key (so the caller can say why).
 */
export function verifySignature(alg: AlgorithmIdentifier, data: Buffer, signature: Buffer, key: AsymmetricKey): true | string {
  let scheme: Scheme | string;
  try {
    scheme = signatureScheme(alg);
  } catch (err) {
    return (err as Error).message;
  }
  if (typeof scheme === 'string') return scheme;
  const type = key.asymmetricKeyType;
  if (scheme.kind === 'mldsa' || key instanceof MlDsaKey) {
    if (scheme.kind !== 'mldsa' || !(key instanceof MlDsaKey) || type !== scheme.keyType) {
      return `the signature algorithm ${alg.oid} does not fit the issuer's ${type} key`;
    }
    return key.verify(data, signature) ? true : 'signature does not verify';
  }
  try {
    let ok: boolean;
    switch (scheme.kind) {
      case 'pkcs1':
        if (type !== 'rsa') return `an RSA PKCS#1 signature needs an rsaEncryption key, the issuer has ${type}`;
        ok = verify(scheme.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
        break;
      case 'pss':
        if (type !== 'rsa' && type !== 'rsa-pss') return `an RSASSA-PSS signature needs an RSA key, the issuer has ${type}`;
        ok = verify(scheme.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength }, signature);
        break;
      case 'ecdsa':
        if (type !== 'ec') return `an ECDSA signature needs an EC key, the issuer has ${type}`;
        ok = verify(scheme.hash, data, { key, dsaEncoding: 'der' }, signature);
        break;
      case 'eddsa': {
        const want = alg.oid === OID.ed25519 ? 'ed25519' : 'ed448';
        if (type !== want) return `an ${want} signature needs an ${want} key, the issuer has ${type}`;
        ok = verify(null, data, key, signature);
        break;
      }
    }
    return ok ? true : 'signature does not verify';
  } catch (err) {
    return `signature does not verify (${(err as Error).message})`;
  }
}
