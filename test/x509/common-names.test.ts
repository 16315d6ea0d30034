/**
 * Which subject commonNames each user of them sees: the strict profile's CN-in-SAN rule, the
 * name-constraints check of a certificate without a DNS SAN, and the `cn:` allow-list patterns.
 * The subjects are built here attribute by attribute, so that multi-valued RDNs, values holding
 * '+' or ',' and string types other than UTF8String are exactly what the DER says.
 */
import { certificateNames, parsePeerPattern, peerPatternMatchesCertificate } from '../../src/agent/peer-policy';
import { type Certificate, checkNameConstraints, decodeCertificate, type GeneralSubtree, parseDer } from '../../src/tls/x509';
import { parseName, sameName } from '../../src/tls/x509/dn';
import { checkStrictProfile } from '../../src/tls/x509/profile';
import { certOf } from './pki';

const template = decodeCertificate(certOf('server-p256'));

/** DER of one TLV with a short-form length (every value here is under 128 bytes). */
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag, body.length]), body]);
};

const UTF8 = 0x0c;
const PRINTABLE = 0x13;
const BMP = 0x1e;
const ATTRIBUTE_OIDS = { CN: '550403', O: '55040a' } as const;

type Attribute = [keyof typeof ATTRIBUTE_OIDS, string, number?];

/** A certificate whose subject has these RDNs (each a list of attributes) and no subjectAltName. */
function withSubject(...rdns: Attribute[][]): Certificate {
  const atv = ([type, value, tag = UTF8]: Attribute): Buffer =>
    tlv(0x30, tlv(0x06, Buffer.from(ATTRIBUTE_OIDS[type], 'hex')), tlv(tag, tag === BMP ? Buffer.from(value, 'utf16le').swap16() : Buffer.from(value, 'utf8')));
  const der = tlv(0x30, ...rdns.map((rdn) => tlv(0x31, ...rdn.map(atv))));
  return { ...template, subject: parseName(parseDer(der, 'subject'), 'subject'), subjectAltName: undefined };
}

/** The CNs the strict profile finds missing from the SAN, in order: add each to the SAN until none is. */
function strictProfileSees(cert: Certificate): string[] {
  const seen: string[] = [];
  for (;;) {
    const san = { dns: [...seen], ip: [], email: [], uri: [], dirNames: [], otherCount: 0 };
    const why = checkStrictProfile([{ ...cert, subjectAltName: san }]);
    const stray = why?.match(/has commonName "(.*)", which is not among/)?.[1];
    if (stray === undefined) return seen;
    seen.push(stray);
  }
}

/** The CNs name constraints check as DNS names, in order: permit each until none is outside. */
function constraintsSee(cert: Certificate): string[] {
  const permitted: GeneralSubtree[] = [{ kind: 'dns', value: 'nothing.invalid' }];
  const seen: string[] = [];
  for (;;) {
    const why = checkNameConstraints(cert, { permitted, excluded: [], problems: [] });
    const cn = why?.match(/subject commonName "(.*)" is outside/)?.[1];
    if (cn === undefined) return seen;
    seen.push(cn);
    permitted.push({ kind: 'dns', value: cn });
  }
}

const allowListSees = (cert: Certificate): readonly string[] => certificateNames(cert).cn;

describe('subject commonNames as each caller sees them', () => {
  it('the template keeps every other strict-profile rule, so only the CN rule can speak', () => {
    expect(checkStrictProfile([template])).toBeUndefined();
  });

  const one = ['one.a.test'];
  const both = ['one.a.test', 'two.a.test'];
  // [case, subject RDNs, strict profile, name constraints, cn: allow lists]
  const cases: Array<[string, Attribute[][], string[], string[], string[]]> = [
    ['a single CN', [[['CN', 'One.A.Test']]], one, one, one],
    ['two CN RDNs: both, in certificate order', [[['O', 'org']], [['CN', 'one.a.test']], [['CN', 'two.a.test']]], both, both, both],
    ['a multi-valued RDN CN=a+O=b: the CN only', [[['CN', 'one.a.test'], ['O', 'org.test']]], one, one, one],
    ['a multi-valued RDN CN=a+CN=b: both', [[['CN', 'one.a.test'], ['CN', 'two.a.test']]], both, both, both],
    // The value is one attribute: "host.a.test+x" is no host name, so name constraints have no
    // DNS name to check (a CN fallback would not match host.a.test with it either), and the
    // strict profile wants the whole value among the SAN entries, not its first piece.
    ["a CN whose value holds '+': one value, whole", [[['CN', 'host.a.test+x']]], ['host.a.test+x'], [], ['host.a.test+x']],
    // Fail closed: a CA that lets a requester choose a CN must not thereby issue the CN
    // "admin.a.test" too (see the cn: pattern test below).
    ["a value holding '+' and what reads as another CN attribute: still one value", [[['CN', 'x+2.5.4.3=admin.a.test']]], ['x+2.5.4.3=admin.a.test'], [], ['x+2.5.4.3=admin.a.test']],
    ["a CN whose value holds ','", [[['CN', 'host.a.test,x']]], ['host.a.test,x'], [], ['host.a.test,x']],
    ['CNs in PrintableString and BMPString read like UTF8String ones', [[['CN', 'One.A.Test', PRINTABLE]], [['CN', 'Two.A.Test', BMP]]], both, both, both],
    ['a subject without a CN has none', [[['O', 'org.test']]], [], [], []],
  ];

  it.each(cases)('%s', (_, rdns, profile, constraints, allowList) => {
    const c = withSubject(...rdns);
    expect(strictProfileSees(c)).toEqual(profile);
    expect(constraintsSee(c)).toEqual(constraints);
    expect(allowListSees(c)).toEqual(allowList);
  });

  it("a cn: pattern matches a value holding '+' only whole", () => {
    const names = certificateNames(withSubject([['CN', 'x+2.5.4.3=admin.a.test']]));
    expect(peerPatternMatchesCertificate(parsePeerPattern('cn:admin.a.test', true), names)).toBe(false);
    expect(peerPatternMatchesCertificate(parsePeerPattern('cn:X+2.5.4.3=Admin.A.Test', true), names)).toBe(true);
  });
});

describe('normalised names stay distinct when a value holds a separator', () => {
  const subjectOf = (...rdns: Attribute[][]) => withSubject(...rdns).subject;

  it.each<[string, Attribute[][], Attribute[][]]>([
    ["one CN 'a,2.5.4.3=b' against the RDNs CN=a, CN=b", [[['CN', 'a,2.5.4.3=b']]], [[['CN', 'a']], [['CN', 'b']]]],
    ["one O 'b+2.5.4.3=a' against the multi-valued RDN O=b+CN=a", [[['O', 'b+2.5.4.3=a']]], [[['CN', 'a'], ['O', 'b']]]],
    ["one CN 'a\\\\' against one CN 'a\\'", [[['CN', 'a\\\\']]], [[['CN', 'a\\']]]],
  ])('%s', (_what, left, right) => {
    const a = subjectOf(...left);
    const b = subjectOf(...right);
    expect(a.normalized).not.toBe(b.normalized);
    expect(sameName(a, b)).toBe(false);
    expect(sameName(a, subjectOf(...left))).toBe(true);
  });

  it('still compares case- and space-insensitively', () => {
    expect(sameName(subjectOf([['CN', ' Host  A ']]), subjectOf([['CN', 'host a']]))).toBe(true);
  });
});
