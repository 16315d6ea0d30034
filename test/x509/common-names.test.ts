/**
 * Which subject commonNames each user of them sees: the strict profile's CN-in-SAN rule, the
 * name-constraints check of a certificate without a DNS SAN, and the `cn:` allow-list patterns.
 * The subjects are built here attribute by attribute, so that multi-valued RDNs, values holding
 * '+' or ',' and string types other than UTF8String are exactly what the DER says.
 */
import { certificateNames, parsePeerPattern, peerPatternMatchesCertificate } from '../../src/agent/peer-policy';
import { type Certificate, checkNameConstraints, decodeCertificate, type GeneralSubtree, parseDer } from '../../src/tls/x509';
import { parseName } from '../../src/tls/x509/dn';
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

  it('a single CN', () => {
    const c = withSubject([['CN', 'Host.A.Test']]);
    expect(strictProfileSees(c)).toEqual(['host.a.test']);
    expect(constraintsSee(c)).toEqual(['host.a.test']);
    expect(allowListSees(c)).toEqual(['host.a.test']);
  });

  it('two CN RDNs: both, in certificate order', () => {
    const c = withSubject([['O', 'org']], [['CN', 'one.a.test']], [['CN', 'two.a.test']]);
    expect(strictProfileSees(c)).toEqual(['one.a.test', 'two.a.test']);
    expect(constraintsSee(c)).toEqual(['one.a.test', 'two.a.test']);
    expect(allowListSees(c)).toEqual(['one.a.test', 'two.a.test']);
  });

  it('a multi-valued RDN CN=a+O=b: the CN only', () => {
    const c = withSubject([['CN', 'host.a.test'], ['O', 'org.test']]);
    expect(strictProfileSees(c)).toEqual(['host.a.test']);
    expect(constraintsSee(c)).toEqual(['host.a.test']);
    expect(allowListSees(c)).toEqual(['host.a.test']);
  });

  it('a multi-valued RDN CN=a+CN=b: both', () => {
    const c = withSubject([['CN', 'one.a.test'], ['CN', 'two.a.test']]);
    expect(strictProfileSees(c)).toEqual(['one.a.test', 'two.a.test']);
    expect(constraintsSee(c)).toEqual(['one.a.test', 'two.a.test']);
    expect(allowListSees(c)).toEqual(['one.a.test', 'two.a.test']);
  });

  // The value is one attribute: "host.a.test+x" is no host name, so name constraints have no
  // DNS name to check (a CN fallback would not match host.a.test with it either), and the strict
  // profile wants the whole value among the SAN entries, not its first piece.
  it("a CN whose value holds '+': one value, whole", () => {
    const c = withSubject([['CN', 'host.a.test+x']]);
    expect(strictProfileSees(c)).toEqual(['host.a.test+x']);
    expect(constraintsSee(c)).toEqual([]);
    expect(allowListSees(c)).toEqual(['host.a.test+x']);
  });

  // Fail closed: a CA that lets a requester choose a CN must not thereby issue the CN
  // "admin.a.test" too, so neither a cn: pattern nor the strict profile may find one here.
  it("a CN whose value holds '+' followed by what reads as another CN attribute: still one value", () => {
    const c = withSubject([['CN', 'x+2.5.4.3=admin.a.test']]);
    expect(strictProfileSees(c)).toEqual(['x+2.5.4.3=admin.a.test']);
    expect(constraintsSee(c)).toEqual([]);
    expect(allowListSees(c)).toEqual(['x+2.5.4.3=admin.a.test']);
    expect(peerPatternMatchesCertificate(parsePeerPattern('cn:admin.a.test', true), certificateNames(c))).toBe(false);
    expect(peerPatternMatchesCertificate(parsePeerPattern('cn:X+2.5.4.3=Admin.A.Test', true), certificateNames(c))).toBe(true);
  });

  it("a CN whose value holds ','", () => {
    const c = withSubject([['CN', 'host.a.test,x']]);
    expect(strictProfileSees(c)).toEqual(['host.a.test,x']);
    expect(constraintsSee(c)).toEqual([]);
    expect(allowListSees(c)).toEqual(['host.a.test,x']);
  });

  it('CNs in PrintableString and BMPString read like UTF8String ones', () => {
    const c = withSubject([['CN', 'One.A.Test', PRINTABLE]], [['CN', 'Two.A.Test', BMP]]);
    expect(strictProfileSees(c)).toEqual(['one.a.test', 'two.a.test']);
    expect(constraintsSee(c)).toEqual(['one.a.test', 'two.a.test']);
    expect(allowListSees(c)).toEqual(['one.a.test', 'two.a.test']);
  });

  it('a subject without a CN has none', () => {
    const c = withSubject([['O', 'org.test']]);
    expect(strictProfileSees(c)).toEqual([]);
    expect(constraintsSee(c)).toEqual([]);
    expect(allowListSees(c)).toEqual([]);
  });
});
