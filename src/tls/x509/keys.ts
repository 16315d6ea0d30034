/**
 * Which public keys may appear on a certification path, one rule per SubjectPublicKeyInfo
 * algorithm. A key type missing from the table is refused: an algorithm we never reviewed
 * cannot be trusted to sign anything. Adding an algorithm is one entry here (plus its signature
 * scheme in signature.ts).
 *
 * - RSA (rsaEncryption, RSASSA-PSS): modulus of at least 2048 bits and a whole number of octets.
 *   1024-bit RSA is within reach of a well-funded factoring effort; a modulus whose length is not
 *   a multiple of 8 comes from no conforming key generator and trips up some implementations.
 * - EC: named curves P-256, P-384, P-521 only. P-192 and P-224 are below the 128-bit level;
 *   explicit curve parameters (specifiedCurve) let a certificate define its own weak or
 *   malicious curve (CVE-2020-0601), and RFC 5480 §2.1.1 forbids them in PKIX.
 * - Ed25519, Ed448: fixed parameters, nothing to check beyond the encoding.
 * - ML-DSA-44/65/87 (FIPS 204, RFC 9881): fixed parameters; the SPKI has none and the key must
 *   have the length its parameter set defines (checked when the key is decoded).
 * - DSA: refused. TLS 1.3 has no DSA, FIPS 186-5 withdrew it, and a DSA CA can only be an
 *   old or odd one.
 */
import { KeyObject } from 'node:crypto';
import type { Certificate } from './cert';
import { publicKeyOf } from './cert';
import { Tag, readOid } from './der';
import { CURVE_NAMES, OID } from './oids';

/** undefined when the key is acceptable, else why not. */
type KeyRule = (cert: Certificate) => string | undefined;

const MIN_RSA_BITS = 2048;

const rsaRule: KeyRule = (cert) => {
  const key = publicKeyOf(cert);
  const bits = key instanceof KeyObject ? key.asymmetricKeyDetails?.modulusLength : undefined;
  if (bits === undefined) return 'RSA key without a readable modulus';
  if (bits < MIN_RSA_BITS) return `RSA key of ${bits} bits (at least ${MIN_RSA_BITS} required)`;
  if (bits % 8 !== 0) return `RSA modulus of ${bits} bits is not a whole number of octets`;
  return undefined;
};

const ACCEPTED_CURVES = new Set<string>([OID.secp256r1, OID.secp384r1, OID.secp521r1]);

const ecRule: KeyRule = (cert) => {
  const params = cert.publicKeyAlgorithm.params;
  if (!params || params.tag !== Tag.OID) {
    return 'EC key with explicit or missing curve parameters (only named curves are accepted)';
  }
  const curve = readOid(params, 'EC curve');
  if (!ACCEPTED_CURVES.has(curve)) return `EC key on curve ${CURVE_NAMES[curve] ?? curve} (accepted: P-256, P-384, P-521)`;
  publicKeyOf(cert); // the point must decode on that curve
  return undefined;
};

/** EdDSA and ML-DSA: parameters fixed by the OID, so the SPKI must carry none; the key must decode. */
const fixedParamsRule: KeyRule = (cert) => {
  if (cert.publicKeyAlgorithm.params) return 'this key algorithm must have no parameters';
  publicKeyOf(cert);
  return undefined;
};

const KEY_RULES: Readonly<Record<string, KeyRule>> = {
  [OID.rsaEncryption]: rsaRule,
  [OID.rsassaPss]: rsaRule,
  [OID.ecPublicKey]: ecRule,
  [OID.ed25519]: fixedParamsRule,
  [OID.ed448]: fixedParamsRule,
  [OID.mlDsa44]: fixedParamsRule,
  [OID.mlDsa65]: fixedParamsRule,
  [OID.mlDsa87]: fixedParamsRule,
  [OID.dsa]: () => 'DSA keys are not accepted',
};

const verdicts = new WeakMap<Certificate, string | null>();

/** undefined when `cert`'s public key may be used on a path, else why not (remembered per certificate). */
export function publicKeyProblem(cert: Certificate): string | undefined {
  let v = verdicts.get(cert);
  if (v === undefined) {
    const rule = Object.hasOwn(KEY_RULES, cert.publicKeyAlgorithm.oid) ? KEY_RULES[cert.publicKeyAlgorithm.oid] : undefined;
    try {
      v = rule ? rule(cert) ?? null : `public key algorithm ${cert.publicKeyAlgorithm.oid} is not supported`;
    } catch (err) {
      v = (err as Error).message;
    }
    verdicts.set(cert, v);
  }
  return v ?? undefined;
}
