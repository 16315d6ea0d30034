/** Certificate revocation lists (RFC 5280 §5): decoding and lookup by serial number. */
import { AlgorithmIdentifier, decodeSignedEnvelope, Extension, parseAlgorithm, parseExtensions } from './cert';
import { ctx, DerReader, derFail, readIntegerBytes, readSmallInt, readTime, Tag } from './der';
import { DistinguishedName, parseName } from './dn';
import { OID } from './oids';

export interface RevokedEntry {
  serial: Buffer;
  revocationDate: Date;
  /** CRLReason code when given (RFC 5280 §5.3.1). */
  reason?: number;
}

export interface Crl {
  der: Buffer;
  /** TBSCertList DER: what the issuer signed. */
  tbs: Buffer;
  signatureAlgorithm: AlgorithmIdentifier;
  signature: Buffer;
  issuer: DistinguishedName;
  thisUpdate: Date;
  nextUpdate?: Date;
  authorityKeyId?: Buffer;
  /** cRLNumber content octets (RFC 5280 §5.2.3: every conforming CRL has one); undefined when absent. */
  crlNumber?: Buffer;
  /** Revoked serials, keyed by hex of the INTEGER content. */
  revoked: Map<string, RevokedEntry>;
  /**
   * Critical CRL or entry extensions we do not process (delta CRLs, indirect CRLs, partitioned
   * CRLs): such a CRL might not mean what a plain reading says, so verification refuses to use it.
   */
  unknownCritical: string[];
}

const CRL_UNDERSTOOD = new Set<string>([OID.authorityKeyIdentifier, OID.crlNumber]);
const ENTRY_UNDERSTOOD = new Set<string>([OID.crlReason, '2.5.29.24' /* invalidityDate */]);

export function serialKey(serial: Buffer): string {
  return serial.toString('hex');
}

function noteCritical(exts: Extension[], understood: Set<string>, into: string[]): void {
  for (const e of exts) if (e.critical && !understood.has(e.oid)) into.push(e.oid);
}

export function decodeCrl(der: Buffer): Crl {
  const what = 'CRL';
  const { tbsNode, signatureAlgorithm, signature } = decodeSignedEnvelope(der, what, {
    outer: 'CertificateList',
    tbs: 'tbsCertList',
    algorithm: 'CRL signatureAlgorithm',
    signature: 'CRL signatureValue',
  });

  const t = DerReader.of(tbsNode, 'tbsCertList');
  const versionNode = t.optional(Tag.INTEGER, 'CRL version');
  if (versionNode) readSmallInt(versionNode, 'CRL version', 1);
  const innerAlg = parseAlgorithm(t.read('tbsCertList signature'), 'tbsCertList signature');
  if (!innerAlg.raw.equals(signatureAlgorithm.raw)) derFail(tbsNode, what, 'signatureAlgorithm differs from tbsCertList.signature');
  const issuer = parseName(t.read('CRL issuer'), 'CRL issuer');
  const thisUpdate = readTime(t.read('thisUpdate'), 'thisUpdate');
  const next = t.peekTag();
  const nextUpdate = next === Tag.UTC_TIME || next === Tag.GENERALIZED_TIME ? readTime(t.read('nextUpdate'), 'nextUpdate') : undefined;
  const crl: Crl = {
    der, tbs: tbsNode.raw, signatureAlgorithm, signature, issuer, thisUpdate, nextUpdate,
    revoked: new Map(), unknownCritical: [],
  };
  const list = t.optional(Tag.SEQUENCE, 'revokedCertificates');
  if (list) {
    const lr = DerReader.of(list, 'revokedCertificates');
    while (!lr.done) {
      const entry = lr.expect(Tag.SEQUENCE, 'revoked certificate entry');
      const er = DerReader.of(entry, 'revoked certificate entry');
      const serial = readIntegerBytes(er.expect(Tag.INTEGER, 'userCertificate'), 'userCertificate');
      const revocationDate = readTime(er.read('revocationDate'), 'revocationDate');
      const extNode = er.optional(Tag.SEQUENCE, 'crlEntryExtensions');
      er.finish('revoked certificate entry');
      const rev: RevokedEntry = { serial, revocationDate };
      if (extNode) {
        const exts = parseExtensions(extNode, 'crlEntryExtensions');
        noteCritical(exts, ENTRY_UNDERSTOOD, crl.unknownCritical);
        const reason = exts.find((e) => e.oid === OID.crlReason);
        if (reason) {
          if (reason.value.tag !== Tag.ENUMERATED || reason.value.value.length !== 1) derFail(reason.value, what, 'CRLReason (ENUMERATED) expected');
          rev.reason = reason.value.value[0];
        }
      }
      crl.revoked.set(serialKey(serial), rev);
    }
  }
  const extWrapper = t.optional(ctx(0, true), 'crlExtensions');
  if (extWrapper) {
    const xr = DerReader.of(extWrapper, 'crlExtensions');
    const exts = parseExtensions(xr.expect(Tag.SEQUENCE, 'crlExtensions'), 'crlExtensions');
    xr.finish('crlExtensions');
    noteCritical(exts, CRL_UNDERSTOOD, crl.unknownCritical);
    const num = exts.find((e) => e.oid === OID.crlNumber);
    if (num) {
      const v = readIntegerBytes(num.value, 'cRLNumber');
      if (v[0] & 0x80 || v.length > 21) derFail(num.value, what, 'cRLNumber must be a non-negative INTEGER of at most 20 octets');
      crl.crlNumber = v;
    }
    const aki = exts.find((e) => e.oid === OID.authorityKeyIdentifier);
    if (aki) {
      const keyId = new DerReader(aki.value.value, 'authorityKeyIdentifier').optional(ctx(0), 'keyIdentifier');
      if (keyId) crl.authorityKeyId = keyId.value;
    }
  }
  t.finish('tbsCertList');
  return crl;
}

const crlCache = new WeakMap<Buffer, Crl>();

export function decodeCrlCached(der: Buffer): Crl {
  let crl = crlCache.get(der);
  if (!crl) {
    crl = decodeCrl(der);
    crlCache.set(der, crl);
  }
  return crl;
}
