/** A typed, log-friendly summary of a certificate. */
import { decodeCertificateCached, fingerprint256 } from './cert';
import { DerReader, readIntegerBytes, readOid, Tag } from './der';
import { formatIp } from './names';
import { CURVE_NAMES, OID, SIGNATURE_NAMES } from './oids';

export interface CertificateSummary {
  subject: string;
  issuer: string;
  /** Hex, as encoded (big-endian). */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  /** IP SANs in text form (IPv6 compressed). */
  ipAddresses: string[];
  emails: string[];
  uris: string[];
  keyType: 'rsa' | 'rsa-pss' | 'ec' | 'ed25519' | 'ed448' | 'unknown';
  /** RSA modulus bits, or the curve size for EC/EdDSA. */
  keyBits?: number;
  /** EC named curve, e.g. "P-256". */
  curve?: string;
  isCA: boolean;
  pathLen?: number;
  selfIssued: boolean;
  /** Extended key usage OIDs; undefined when the extension is absent (= any). */
  extKeyUsage?: string[];
  /** e.g. "ecdsa-with-SHA256"; the dotted OID when unknown. */
  signatureAlgorithm: string;
  /** SHA-256 of the DER, hex. */
  fingerprint256: string;
}

function rsaBits(bits: Buffer): number | undefined {
  try {
    const r = new DerReader(bits, 'RSAPublicKey');
    const seq = r.expect(Tag.SEQUENCE, 'RSAPublicKey');
    const n = readIntegerBytes(DerReader.of(seq, 'RSAPublicKey').expect(Tag.INTEGER, 'modulus'), 'modulus');
    let i = 0;
    while (i < n.length && n[i] === 0) i++;
    if (i === n.length) return 0;
    return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]));
  } catch {
    return undefined;
  }
}

/** Decodes `der` (throws X509Error when malformed) and summarises it for humans and logs. */
export function parseCertificate(der: Buffer): CertificateSummary {
  const c = decodeCertificateCached(der);
  const alg = c.publicKeyAlgorithm;
  let keyType: CertificateSummary['keyType'] = 'unknown';
  let keyBits: number | undefined;
  let curve: string | undefined;
  switch (alg.oid) {
    case OID.rsaEncryption:
    case OID.rsassaPss:
      keyType = alg.oid === OID.rsaEncryption ? 'rsa' : 'rsa-pss';
      keyBits = rsaBits(c.publicKeyBits);
      break;
    case OID.ecPublicKey: {
      keyType = 'ec';
      const curveOid = alg.params?.tag === Tag.OID ? readOid(alg.params, 'namedCurve') : undefined;
      curve = curveOid ? CURVE_NAMES[curveOid] ?? curveOid : undefined;
      keyBits = curve === 'P-256' ? 256 : curve === 'P-384' ? 384 : curve === 'P-521' ? 521 : undefined;
      break;
    }
    case OID.ed25519:
      keyType = 'ed25519';
      keyBits = 256;
      break;
    case OID.ed448:
      keyType = 'ed448';
      keyBits = 456;
      break;
  }
  const san = c.subjectAltName;
  return {
    subject: c.subject.text,
    issuer: c.issuer.text,
    serialNumber: c.serial.toString('hex'),
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    dnsNames: san?.dns ?? [],
    ipAddresses: (san?.ip ?? []).map(formatIp),
    emails: san?.email ?? [],
    uris: san?.uri ?? [],
    keyType,
    keyBits,
    curve,
    isCA: c.basicConstraints?.ca ?? false,
    pathLen: c.basicConstraints?.pathLen,
    selfIssued: c.subject.raw.equals(c.issuer.raw),
    extKeyUsage: c.extKeyUsage,
    signatureAlgorithm: SIGNATURE_NAMES[c.signatureAlgorithm.oid] ?? c.signatureAlgorithm.oid,
    fingerprint256: fingerprint256(der),
  };
}
