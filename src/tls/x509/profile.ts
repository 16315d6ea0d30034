/**
 * The strict profile (`x509.strict = yes`): RFC 5280 SHOULDs and MUSTs for issuers, and Web PKI
 * (CA/Browser Forum) rules, that private CAs commonly break without weakening anything the path
 * proves. Off by default so that a small NFS or NVMe CA that tlshd (GnuTLS) accepts keeps
 * working; docs/security.md lists every rule with its source.
 */
import type { Certificate } from './cert';
import { isSelfIssued } from './cert';
import { commonNames } from './dn';
import { formatIp } from './names';
import { OID } from './oids';

const describe = (c: Certificate): string => `"${c.subject.text}"`;

function extension(cert: Certificate, oid: string): { critical: boolean } | undefined {
  return cert.extensions.find((e) => e.oid === oid);
}

function isZeroOrNegative(serial: Buffer): boolean {
  return (serial[0] & 0x80) !== 0 || serial.every((b) => b === 0);
}

/** One rule: the first certificate that breaks it, and why; undefined when the path keeps it. */
type Rule = (path: Certificate[]) => string | undefined;

function each(path: Certificate[], from: number, to: number, test: (c: Certificate, i: number) => string | undefined): string | undefined {
  for (let i = from; i < to; i++) {
    const why = test(path[i], i);
    if (why) return `certificate ${describe(path[i])} ${why}`;
  }
  return undefined;
}

const RULES: Rule[] = [
  // RFC 5280 §4.2.1.2: SKI MUST be in CA certificates, SHOULD be in others, MUST NOT be critical.
  (path) =>
    each(path, 0, path.length, (c, i) => {
      const ski = extension(c, OID.subjectKeyIdentifier);
      if (!ski && i > 0) return 'is a CA without subjectKeyIdentifier';
      if (ski?.critical) return 'has a critical subjectKeyIdentifier';
      return undefined;
    }),
  // RFC 5280 §4.2.1.1: AKI MUST be present except in self-signed certificates, and MUST NOT be critical.
  (path) =>
    each(path, 0, path.length - 1, (c) => {
      const aki = extension(c, OID.authorityKeyIdentifier);
      if (!aki && !isSelfIssued(c)) return 'has no authorityKeyIdentifier';
      if (aki?.critical) return 'has a critical authorityKeyIdentifier';
      if (aki && !c.authorityKeyId) return 'has an authorityKeyIdentifier without keyIdentifier';
      return undefined;
    }),
  // CA/B Forum BR 7.1.2.1: a self-signed root's AKI, if any, is its own key identifier only.
  (path) =>
    each(path, path.length - 1, path.length, (c) => {
      if (!isSelfIssued(c) || !extension(c, OID.authorityKeyIdentifier)) return undefined;
      if (c.authorityKeyIdHasIssuer) return 'is a self-signed anchor whose authorityKeyIdentifier names an issuer and serial';
      if (!c.authorityKeyId || !c.subjectKeyId || !c.authorityKeyId.equals(c.subjectKeyId)) {
        return 'is a self-signed anchor whose authorityKeyIdentifier is not its own subjectKeyIdentifier';
      }
      return undefined;
    }),
  // RFC 5280 §4.2.1.9: a CA certificate carries a critical basicConstraints with cA set; the
  // default profile takes an anchor on the administrator's word.
  (path) =>
    path.length < 2
      ? undefined
      : each(path, path.length - 1, path.length, (c) => {
          const bc = extension(c, OID.basicConstraints);
          if (!bc) return 'is a trust anchor without basicConstraints';
          if (!bc.critical) return 'is a trust anchor whose basicConstraints is not critical';
          return undefined;
        }),
  // CA/B Forum BR 7.1.4.3: a subject commonName repeats one of the subjectAltName entries.
  (path) =>
    each(path, 0, 1, (c) => {
      const san = c.subjectAltName;
      const names = new Set([...(san?.dns ?? []).map((d) => d.toLowerCase()), ...(san?.ip ?? []).map(formatIp)]);
      const stray = commonNames(c.subject).find((cn) => !names.has(cn));
      return stray === undefined ? undefined : `has commonName "${stray}", which is not among its subjectAltName entries`;
    }),
  // CA/B Forum BR 7.1.2.7.10: a TLS leaf names its purpose and does not claim every purpose.
  (path) =>
    each(path, 0, 1, (c) => {
      if (!c.extKeyUsage) return 'has no extendedKeyUsage';
      if (c.extKeyUsage.includes(OID.anyExtendedKeyUsage)) return 'has anyExtendedKeyUsage';
      return undefined;
    }),
  // RFC 5280 §4.2.1.6 (preferred name syntax): DNS names are letters, digits and hyphens.
  (path) =>
    each(path, 0, path.length, (c) => {
      const bad = c.subjectAltName?.dns.find((d) => d.includes('_'));
      return bad === undefined ? undefined : `has DNS name "${bad}" with an underscore`;
    }),
  // RFC 5280 §4.1.2.2: the serial number is a positive integer.
  (path) => each(path, 0, path.length, (c) => (isZeroOrNegative(c.serial) ? 'has a serial number that is not positive' : undefined)),
  // RFC 5280 §4.1.2.6: CAs have a non-empty subject; a leaf with an empty one relies on SAN alone.
  (path) => each(path, 0, path.length, (c) => (c.subject.rdns.length === 0 ? 'has an empty subject' : undefined)),
];

/** undefined when the path keeps every strict-profile rule, else the first broken one. */
export function checkStrictProfile(path: Certificate[]): string | undefined {
  for (const rule of RULES) {
    const why = rule(path);
    if (why) return `${why} (x509.strict)`;
  }
  return undefined;
}
