/**
 * Certificate decoding (RFC 5280 §4.1) with the extensions path validation needs.
 *
 * Our own DER reader rather than node:crypto's X509Certificate: it exposes every extension we
 * check (X509Certificate gives neither name constraints nor key usage bits nor IP SAN bytes),
 * costs a fraction of X509Certificate's ~250 µs, and turns bad input into an X509Error.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { AsymmetricKey } from '../api';
import { MlDsaKey } from '../crypto/pq';
import {
  children, ctx, Der, derFail, DerReader, parseDer, readBitString, readBoolean, readIntegerBytes,
  readOctetAlignedBits, readOid, readSmallInt, readTime, Tag,
} from './der';
import { DistinguishedName, parseName } from './dn';
import { X509Error } from './errors';
import { ML_DSA_OIDS, OID } from './oids';

export interface AlgorithmIdentifier {
  oid: string;
  /** The parameters TLV, when present (NULL included). */
  params?: Der;
  raw: Buffer;
}

export interface Extension {
  oid: string;
  critical: boolean;
  /** The extnValue OCTET STRING's content: the extension's own DER. */
  value: Der;
}

/** Key usage bits (RFC 5280 §4.2.1.3) as a bit mask: bit n = 1 << n. */
export const KeyUsage = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
  encipherOnly: 1 << 7,
  decipherOnly: 1 << 8,
} as const;

export interface GeneralNames {
  /** dNSName entries as written (not lower-cased). */
  dns: string[];
  /** iPAddress entries: 4 or 16 bytes. */
  ip: Buffer[];
  email: string[];
  uri: string[];
  /** directoryName entries. */
  dirNames: DistinguishedName[];
  /** How many entries of other kinds (otherName, x400, edi, registeredID). */
  otherCount: number;
}

export type GeneralSubtree =
  | { kind: 'dns'; value: string }
  | { kind: 'ip'; address: Buffer; mask: Buffer }
  | { kind: 'email'; value: string }
  | { kind: 'uri'; value: string }
  | { kind: 'dirName'; value: DistinguishedName }
  | { kind: 'other'; tag: number };

export interface NameConstraints {
  permitted: GeneralSubtree[];
  excluded: GeneralSubtree[];
  /**
   * Why the extension cannot be honoured as written (an empty subtree list, a DNS constraint that
   * is not a DNS name, an address mask that is not a prefix). Decoding goes on so that path
   * validation can say which CA is at fault; a CA with any problem here constrains nothing safely
   * and is refused.
   */
  problems: string[];
}

/** policyConstraints (RFC 5280 §4.2.1.11): skip counts, absent when not given. */
export interface PolicyConstraints {
  requireExplicitPolicy?: number;
  inhibitPolicyMapping?: number;
}

export interface Certificate {
  der: Buffer;
  /** TBSCertificate DER: what the issuer signed. */
  tbs: Buffer;
  signatureAlgorithm: AlgorithmIdentifier;
  signature: Buffer;
  version: 1 | 2 | 3;
  /** Serial number content octets (big-endian two's complement, as encoded). */
  serial: Buffer;
  issuer: DistinguishedName;
  subject: DistinguishedName;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER. */
  spki: Buffer;
  publicKeyAlgorithm: AlgorithmIdentifier;
  /** The subjectPublicKey BIT STRING content. */
  publicKeyBits: Buffer;
  extensions: Extension[];
  basicConstraints?: { ca: boolean; pathLen?: number };
  /** Bit mask of KeyUsage values; undefined when the extension is absent. */
  keyUsage?: number;
  /** EKU OIDs; undefined when the extension is absent. */
  extKeyUsage?: string[];
  subjectAltName?: GeneralNames;
  nameConstraints?: NameConstraints;
  subjectKeyId?: Buffer;
  authorityKeyId?: Buffer;
  /** authorityKeyIdentifier carries authorityCertIssuer or authorityCertSerialNumber. */
  authorityKeyIdHasIssuer?: boolean;
  /** certificatePolicies policy OIDs; undefined when the extension is absent. */
  policies?: string[];
  /** policyMappings pairs [issuerDomainPolicy, subjectDomainPolicy]. */
  policyMappings?: Array<[string, string]>;
  policyConstraints?: PolicyConstraints;
  /** inhibitAnyPolicy SkipCerts. */
  inhibitAnyPolicy?: number;
  /** Critical extensions this library does not process (path validation must reject these). */
  unknownCritical: string[];
}

/** Extensions whose semantics we either enforce or that are safe to accept even when critical. */
const UNDERSTOOD = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.nameConstraints,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  // Policies: processed as RFC 5280 §6.1 says (policy.ts), with initial-policy-set = anyPolicy.
  OID.certificatePolicies,
  OID.policyMappings,
  OID.policyConstraints,
  OID.inhibitAnyPolicy,
]);

export function parseAlgorithm(node: Der, what: string): AlgorithmIdentifier {
  if (node.tag !== Tag.SEQUENCE) derFail(node, what, 'AlgorithmIdentifier (SEQUENCE) expected');
  const r = DerReader.of(node, what);
  const oid = readOid(r.expect(Tag.OID, what), what);
  const params = r.done ? undefined : r.read(what);
  r.finish(what);
  return { oid, params, raw: node.raw };
}

export function parseExtensions(node: Der, what: string): Extension[] {
  if (node.tag !== Tag.SEQUENCE) derFail(node, what, 'Extensions (SEQUENCE) expected');
  const out: Extension[] = [];
  const seen = new Set<string>();
  for (const ext of children(node, what)) {
    if (ext.tag !== Tag.SEQUENCE) derFail(ext, what, 'Extension (SEQUENCE) expected');
    const r = DerReader.of(ext, what);
    const oid = readOid(r.expect(Tag.OID, `${what} extnID`), what);
    const critNode = r.optional(Tag.BOOLEAN, `${what} critical`);
    const critical = critNode ? readBoolean(critNode, `${what} critical`) : false;
    const octets = r.expect(Tag.OCTET_STRING, `${what} ${oid} extnValue`);
    r.finish(what);
    if (seen.has(oid)) derFail(ext, what, `extension ${oid} appears twice`);
    seen.add(oid);
    out.push({ oid, critical, value: parseDer(octets.value, `extension ${oid}`) });
  }
  return out;
}

function ascii(node: Der, what: string): string {
  for (const b of node.value) if (b > 0x7e || b < 0x20) derFail(node, what, 'non-printable or non-ASCII character in IA5String name');
  return node.value.toString('latin1');
}

function parseGeneralNames(node: Der, what: string): GeneralNames {
  if (node.tag !== Tag.SEQUENCE) derFail(node, what, 'GeneralNames (SEQUENCE) expected');
  const out: GeneralNames = { dns: [], ip: [], email: [], uri: [], dirNames: [], otherCount: 0 };
  for (const gn of children(node, what)) {
    switch (gn.tag) {
      case ctx(1):
        out.email.push(ascii(gn, `${what} rfc822Name`));
        break;
      case ctx(2):
        out.dns.push(ascii(gn, `${what} dNSName`));
        break;
      case ctx(6):
        out.uri.push(ascii(gn, `${what} uniformResourceIdentifier`));
        break;
      case ctx(7):
        if (gn.value.length !== 4 && gn.value.length !== 16) derFail(gn, what, `iPAddress of ${gn.value.length} bytes (4 or 16 expected)`);
        out.ip.push(gn.value);
        break;
      case ctx(4, true): {
        const r = DerReader.of(gn, what);
        out.dirNames.push(parseName(r.read(`${what} directoryName`), what));
        r.finish(what);
        break;
      }
      case ctx(0, true):
      case ctx(3, true):
      case ctx(5, true):
      case ctx(8):
        out.otherCount++;
        break;
      default:
        derFail(gn, what, `unknown GeneralName tag 0x${gn.tag.toString(16)}`);
    }
  }
  if (out.dns.length + out.ip.length + out.email.length + out.uri.length + out.dirNames.length + out.otherCount === 0) {
    derFail(node, what, 'GeneralNames must not be empty');
  }
  return out;
}

/** A dNSName constraint is a DNS name or empty (RFC 5280 §4.2.1.10): no wildcard, no leading period. */
function dnsConstraintProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.startsWith('.')) {
    return `DNS constraint "${value}" starts with a period (RFC 5280 defines no meaning for that; verifiers disagree on it)`;
  }
  const body = value.endsWith('.') ? value.slice(0, -1) : value;
  if (body.length > 253 || !body.split('.').every((l) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l))) {
    return `DNS constraint "${value}" is not a valid DNS name`;
  }
  return undefined;
}

/** An iPAddress constraint's mask must be a CIDR prefix (ones, then zeros). */
function isPrefixMask(mask: Buffer): boolean {
  let zeros = false;
  for (const b of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = (b >> bit) & 1;
      if (one && zeros) return false;
      if (!one) zeros = true;
    }
  }
  return true;
}

function parseSubtrees(node: Der, what: string, problems: string[]): GeneralSubtree[] {
  const out: GeneralSubtree[] = [];
  const list = children(node, what);
  // GeneralSubtrees ::= SEQUENCE SIZE (1..MAX): an empty list would read as "nothing permitted".
  if (list.length === 0) problems.push(`${what} is an empty list`);
  for (const st of list) {
    if (st.tag !== Tag.SEQUENCE) derFail(st, what, 'GeneralSubtree (SEQUENCE) expected');
    const r = DerReader.of(st, what);
    const base = r.read(`${what} base`);
    // minimum must be 0 and maximum absent (RFC 5280 §4.2.1.10); anything else is unusable.
    const min = r.optional(ctx(0), `${what} minimum`);
    if (min && !(min.value.length === 1 && min.value[0] === 0)) derFail(min, what, 'GeneralSubtree minimum must be 0');
    if (r.optional(ctx(1), `${what} maximum`)) derFail(st, what, 'GeneralSubtree maximum must be absent');
    r.finish(what);
    switch (base.tag) {
      case ctx(2): {
        const value = ascii(base, `${what} dNSName`);
        const problem = dnsConstraintProblem(value);
        if (problem) problems.push(problem);
        out.push({ kind: 'dns', value });
        break;
      }
      case ctx(7): {
        const n = base.value.length;
        if (n !== 8 && n !== 32) {
          problems.push(`iPAddress constraint of ${n} bytes (8 or 32 expected: address and mask)`);
          break;
        }
        const mask = base.value.subarray(n / 2);
        if (!isPrefixMask(mask)) problems.push(`iPAddress constraint mask ${mask.toString('hex')} is not a prefix`);
        out.push({ kind: 'ip', address: base.value.subarray(0, n / 2), mask });
        break;
      }
      case ctx(1):
        out.push({ kind: 'email', value: ascii(base, `${what} rfc822Name`) });
        break;
      case ctx(6):
        out.push({ kind: 'uri', value: ascii(base, `${what} uniformResourceIdentifier`) });
        break;
      case ctx(4, true): {
        const rr = DerReader.of(base, what);
        out.push({ kind: 'dirName', value: parseName(rr.read(what), what) });
        rr.finish(what);
        break;
      }
      default:
        out.push({ kind: 'other', tag: base.tag });
    }
  }
  return out;
}

function parseNameConstraints(node: Der, what: string): NameConstraints {
  if (node.tag !== Tag.SEQUENCE) derFail(node, what, 'NameConstraints (SEQUENCE) expected');
  const r = DerReader.of(node, what);
  const p = r.optional(ctx(0, true), `${what} permittedSubtrees`);
  const e = r.optional(ctx(1, true), `${what} excludedSubtrees`);
  r.finish(what);
  const problems: string[] = [];
  if (!p && !e) problems.push('NameConstraints has neither permitted nor excluded subtrees');
  const permitted = p ? parseSubtrees(p, 'permittedSubtrees', problems) : [];
  const excluded = e ? parseSubtrees(e, 'excludedSubtrees', problems) : [];
  return { permitted, excluded, problems };
}

function parseKeyUsage(node: Der, what: string): number {
  const { unused, bytes } = readBitString(node, what);
  if (bytes.length > 2) derFail(node, what, 'keyUsage longer than 9 bits');
  let mask = 0;
  for (let bit = 0; bit < bytes.length * 8 - unused; bit++) {
    if (bytes[bit >> 3] & (0x80 >> (bit & 7))) mask |= 1 << bit;
  }
  return mask;
}

function decodeExtension(cert: Certificate, ext: Extension): void {
  const what = `extension ${ext.oid}`;
  const v = ext.value;
  switch (ext.oid) {
    case OID.basicConstraints: {
      if (v.tag !== Tag.SEQUENCE) derFail(v, what, 'BasicConstraints (SEQUENCE) expected');
      const r = DerReader.of(v, what);
      const caNode = r.optional(Tag.BOOLEAN, `${what} cA`);
      const lenNode = r.optional(Tag.INTEGER, `${what} pathLenConstraint`);
      r.finish(what);
      cert.basicConstraints = {
        ca: caNode ? readBoolean(caNode, what) : false,
        pathLen: lenNode ? readSmallInt(lenNode, what) : undefined,
      };
      break;
    }
    case OID.keyUsage:
      cert.keyUsage = parseKeyUsage(v, what);
      break;
    case OID.extKeyUsage:
      if (v.tag !== Tag.SEQUENCE) derFail(v, what, 'ExtKeyUsageSyntax (SEQUENCE) expected');
      cert.extKeyUsage = children(v, what).map((n) => readOid(n, what));
      if (cert.extKeyUsage.length === 0) derFail(v, what, 'extKeyUsage must not be empty');
      break;
    case OID.subjectAltName:
      cert.subjectAltName = parseGeneralNames(v, what);
      break;
    case OID.nameConstraints:
      cert.nameConstraints = parseNameConstraints(v, what);
      break;
    case OID.subjectKeyIdentifier:
      if (v.tag !== Tag.OCTET_STRING) derFail(v, what, 'KeyIdentifier (OCTET STRING) expected');
      cert.subjectKeyId = v.value;
      break;
    case OID.authorityKeyIdentifier: {
      if (v.tag !== Tag.SEQUENCE) derFail(v, what, 'AuthorityKeyIdentifier (SEQUENCE) expected');
      const parts = children(v, what);
      const keyId = parts.find((n) => n.tag === ctx(0));
      if (keyId) cert.authorityKeyId = keyId.value;
      cert.authorityKeyIdHasIssuer = parts.some((n) => n.tag === ctx(1, true) || n.tag === ctx(2));
      break;
    }
    case OID.certificatePolicies: {
      if (v.tag !== Tag.SEQUENCE) derFail(v, what, 'certificatePolicies (SEQUENCE) expected');
      const ids = children(v, what).map((pi) => {
        if (pi.tag !== Tag.SEQUENCE) derFail(pi, what, 'PolicyInformation (SEQUENCE) expected');
        return readOid(DerReader.of(pi, what).expect(Tag.OID, `${what} policyIdentifier`), what);
      });
      if (ids.length === 0) derFail(v, what, 'certificatePolicies must not be empty');
      if (new Set(ids).size !== ids.length) derFail(v, what, 'a policy appears twice in certificatePolicies');
      cert.policies = ids;
      break;
    }
    case OID.policyMappings: {
      if (v.tag !== Tag.SEQUENCE) derFail(v, what, 'PolicyMappings (SEQUENCE) expected');
      cert.policyMappings = children(v, what).map((m) => {
        if (m.tag !== Tag.SEQUENCE) derFail(m, what, 'PolicyMapping (SEQUENCE) expected');
        const r = DerReader.of(m, what);
        const pair: [string, string] = [readOid(r.expect(Tag.OID, what), what), readOid(r.expect(Tag.OID, what), what)];
        r.finish(what);
        return pair;
      });
      if (cert.policyMappings.length === 0) derFail(v, what, 'policyMappings must not be empty');
      break;
    }
    case OID.policyConstraints: {
      if (v.tag !== Tag.SEQUENCE) derFail(v, what, 'PolicyConstraints (SEQUENCE) expected');
      const r = DerReader.of(v, what);
      const req = r.optional(ctx(0), `${what} requireExplicitPolicy`);
      const inh = r.optional(ctx(1), `${what} inhibitPolicyMapping`);
      r.finish(what);
      if (!req && !inh) derFail(v, what, 'PolicyConstraints must not be empty');
      const skip = (n: Der): number => readSmallInt({ ...n, tag: Tag.INTEGER }, what);
      cert.policyConstraints = {
        requireExplicitPolicy: req ? skip(req) : undefined,
        inhibitPolicyMapping: inh ? skip(inh) : undefined,
      };
      break;
    }
    case OID.inhibitAnyPolicy:
      cert.inhibitAnyPolicy = readSmallInt(v, what);
      break;
    default:
      if (ext.critical && !UNDERSTOOD.has(ext.oid)) cert.unknownCritical.push(ext.oid);
  }
}

/** The field names a signed object's envelope is reported by in errors. */
export interface EnvelopeNames {
  outer: string;
  tbs: string;
  algorithm: string;
  signature: string;
}

/**
 * The envelope certificates and CRLs share (RFC 5280 §4.1, §5.1): SEQUENCE { to-be-signed
 * SEQUENCE, signatureAlgorithm, signatureValue BIT STRING } and nothing after it.
 */
export function decodeSignedEnvelope(
  der: Buffer,
  what: string,
  names: EnvelopeNames,
): { tbsNode: Der; signatureAlgorithm: AlgorithmIdentifier; signature: Buffer } {
  const top = parseDer(der, what);
  if (top.tag !== Tag.SEQUENCE) derFail(top, what, `${names.outer} (SEQUENCE) expected`);
  const r = DerReader.of(top, what);
  const tbsNode = r.expect(Tag.SEQUENCE, names.tbs);
  const signatureAlgorithm = parseAlgorithm(r.read(names.algorithm), names.algorithm);
  const signature = readOctetAlignedBits(r.expect(Tag.BIT_STRING, names.signature), names.signature);
  r.finish(what);
  return { tbsNode, signatureAlgorithm, signature };
}

/** Decodes a DER certificate. Throws X509Error (X509_DER) on anything malformed. */
export function decodeCertificate(der: Buffer): Certificate {
  const what = 'certificate';
  const { tbsNode, signatureAlgorithm, signature } = decodeSignedEnvelope(der, what, {
    outer: 'Certificate',
    tbs: 'tbsCertificate',
    algorithm: 'signatureAlgorithm',
    signature: 'signatureValue',
  });

  const t = DerReader.of(tbsNode, 'tbsCertificate');
  let version: 1 | 2 | 3 = 1;
  const vNode = t.optional(ctx(0, true), 'version');
  if (vNode) {
    const vr = DerReader.of(vNode, 'version');
    const v = readSmallInt(vr.expect(Tag.INTEGER, 'version'), 'version', 2);
    vr.finish('version');
    version = (v + 1) as 1 | 2 | 3;
  }
  const serial = readIntegerBytes(t.expect(Tag.INTEGER, 'serialNumber'), 'serialNumber');
  if (serial.length > 21) derFail(tbsNode, 'serialNumber', `serial number of ${serial.length} octets (at most 20 allowed)`);
  const innerAlg = parseAlgorithm(t.read('tbsCertificate signature'), 'tbsCertificate signature');
  const issuer = parseName(t.read('issuer'), 'issuer');
  const validity = t.expect(Tag.SEQUENCE, 'validity');
  const vr = DerReader.of(validity, 'validity');
  const notBefore = readTime(vr.read('notBefore'), 'notBefore');
  const notAfter = readTime(vr.read('notAfter'), 'notAfter');
  vr.finish('validity');
  const subject = parseName(t.read('subject'), 'subject');
  const spkiNode = t.expect(Tag.SEQUENCE, 'subjectPublicKeyInfo');
  const sr = DerReader.of(spkiNode, 'subjectPublicKeyInfo');
  const publicKeyAlgorithm = parseAlgorithm(sr.read('subjectPublicKeyInfo algorithm'), 'subjectPublicKeyInfo algorithm');
  const publicKeyBits = readOctetAlignedBits(sr.expect(Tag.BIT_STRING, 'subjectPublicKey'), 'subjectPublicKey');
  sr.finish('subjectPublicKeyInfo');
  t.optional(ctx(1), 'issuerUniqueID');
  t.optional(ctx(2), 'subjectUniqueID');
  const extNode = t.optional(ctx(3, true), 'extensions');
  t.finish('tbsCertificate');

  if (!innerAlg.raw.equals(signatureAlgorithm.raw)) {
    derFail(tbsNode, what, 'signatureAlgorithm differs from tbsCertificate.signature');
  }
  const cert: Certificate = {
    der, tbs: tbsNode.raw, signatureAlgorithm, signature, version, serial, issuer, subject,
    notBefore, notAfter, spki: spkiNode.raw, publicKeyAlgorithm, publicKeyBits, extensions: [],
    unknownCritical: [],
  };
  if (extNode) {
    if (version !== 3) derFail(extNode, what, 'extensions in a certificate that is not version 3');
    const er = DerReader.of(extNode, 'extensions');
    cert.extensions = parseExtensions(er.expect(Tag.SEQUENCE, 'extensions'), 'extensions');
    er.finish('extensions');
    for (const ext of cert.extensions) decodeExtension(cert, ext);
  }
  return cert;
}

/**
 * Decoded certificates by content, most recently used last. Peers send the same intermediates
 * (and often the same leaf) in fresh Buffers on every handshake; this turns their decoding, key
 * import (~200 µs) and signature checks (~100 µs, see verifiedBy) into a lookup. Bounded so that
 * a peer sending endless distinct certificates cannot grow it.
 */
const certByContent = new Map<string, Certificate>();
const CONTENT_CACHE_SIZE = 512;

/**
 * decodeCertificate, remembered by content (never by Buffer identity: a caller may reuse a
 * buffer for different bytes, and a stale decode would be a verification bypass).
 */
export function decodeCertificateCached(der: Buffer): Certificate {
  const key = der.toString('latin1');
  let cert = certByContent.get(key);
  if (cert) {
    certByContent.delete(key);
  } else {
    cert = decodeCertificate(Buffer.from(der)); // own copy: the caller may reuse its buffer
    if (certByContent.size >= CONTENT_CACHE_SIZE) certByContent.delete(certByContent.keys().next().value as string);
  }
  certByContent.set(key, cert);
  return cert;
}

const keyCache = new WeakMap<Certificate, AsymmetricKey>();
const verifiedIssuers = new WeakMap<Certificate, WeakSet<Certificate>>();

/** Remembers that `issuer`'s key verified `cert`'s signature (both decoded, immutable). */
export function rememberVerified(cert: Certificate, issuer: Certificate): void {
  let set = verifiedIssuers.get(cert);
  if (!set) {
    set = new WeakSet();
    verifiedIssuers.set(cert, set);
  }
  set.add(issuer);
}

export function knownVerified(cert: Certificate, issuer: Certificate): boolean {
  return verifiedIssuers.get(cert)?.has(issuer) ?? false;
}

/**
 * The certificate's public key (remembered per decoded certificate): a KeyObject, or an MlDsaKey
 * for the ML-DSA OIDs, whose SPKI (RFC 9881 §4) has no parameters and the raw key as its bits.
 */
export function publicKeyOf(cert: Certificate): AsymmetricKey {
  let key = keyCache.get(cert);
  if (!key) {
    const mldsa = ML_DSA_OIDS[cert.publicKeyAlgorithm.oid];
    try {
      if (mldsa && cert.publicKeyAlgorithm.params) throw new Error(`${mldsa} subjectPublicKeyInfo must have no parameters`);
      key = mldsa ? MlDsaKey.publicFromRaw(mldsa, cert.publicKeyBits) : createPublicKey({ key: cert.spki, format: 'der', type: 'spki' });
    } catch (err) {
      throw new X509Error('X509_DER', `certificate "${cert.subject.text}": unsupported or invalid public key (${(err as Error).message})`);
    }
    keyCache.set(cert, key);
  }
  return key;
}

export function isSelfIssued(cert: Certificate): boolean {
  return cert.subject.raw.equals(cert.issuer.raw) || cert.subject.normalized === cert.issuer.normalized;
}

export function fingerprint256(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}
