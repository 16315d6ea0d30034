import { X509Certificate } from 'node:crypto';
import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { dnsPatternMatches, formatIp, GeneralNames, matchGeneralNames, matchName, parseIPv6, referenceIdentity } from '../../src/tls/x509';
import { certOf } from './pki';

const sans = (dns: string[], ip: string[] = []): GeneralNames => ({
  dns,
  ip: ip.map((a) => {
    const r = referenceIdentity(a);
    if (r.kind !== 'ip') throw new Error(`bad test address ${a}`);
    return r.address;
  }),
  email: [],
  uri: [],
  dirNames: [],
  otherCount: 0,
});

describe('matchName against the "names" fixture', () => {
  // SANs: *.wild.test, f*.partial.test, Mixed.Case.Test, *.*.double.test, exact.test,
  // IP 192.0.2.7, 2001:db8::1, ::ffff:198.51.100.1, an email and a URI; CN=names.test.
  const cert = certOf('names');
  const table: Array<[string, boolean]> = [
    ['a.wild.test', true],
    ['A.WILD.TEST', true],
    ['a.wild.test.', true],
    ['wild.test', false],
    ['a.b.wild.test', false],
    ['.wild.test', false],
    ['foo.partial.test', false],
    ['f.partial.test', false],
    ['mixed.case.test', true],
    ['MIXED.case.TEST.', true],
    ['a.b.double.test', false],
    ['x.double.test', false],
    ['exact.test', true],
    ['exact.test..', false],
    ['sub.exact.test', false],
    ['names.test', false], // only the CN: never consulted
    ['admin@names.test', false],
    ['uri.test', false],
    ['192.0.2.7', true],
    ['192.0.2.8', false],
    ['192.000.002.007', false],
    ['2001:db8::1', true],
    ['2001:DB8:0:0:0:0:0:1', true],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', true],
    ['[2001:db8::1]', true],
    ['2001:db8::1%eth0', false],
    ['2001:db8::2', false],
    ['::ffff:198.51.100.1', true],
    ['::ffff:c633:6401', true],
    ['198.51.100.1', false], // IPv4 vs IPv4-mapped IPv6: different addresses
    ['*.wild.test', false],
    ['', false],
  ];
  test.each(table)('%j → %s', (name, expected) => {
    expect(matchName(cert, name)).toBe(expected);
  });

  test('node:crypto checkHost falls back to the subject CN in cases where we must not', () => {
    // Why we do not rely on X509Certificate alone: with subject=always it matches the CN.
    const x = new X509Certificate(cert);
    expect(x.checkHost('names.test', { subject: 'always' })).toBe('names.test');
    expect(matchName(cert, 'names.test')).toBe(false);
  });
});

describe('RFC 9525 rules on synthetic SANs', () => {
  const dnsTable: Array<[string, string, boolean]> = [
    ['example.test', 'example.test', true],
    ['Example.TEST', 'example.test', true],
    ['example.test.', 'example.test', true],
    ['*.example.test', 'www.example.test', true],
    ['*.example.test', 'example.test', false],
    ['*.example.test', 'a.www.example.test', false],
    ['*.test', 'example.test', false], // wildcard needs two labels after it
    ['*', 'example', false],
    ['w*.example.test', 'www.example.test', false],
    ['*w.example.test', 'www.example.test', false],
    ['www.*.test', 'www.example.test', false],
    ['*.*.example.test', 'a.b.example.test', false],
    ['**.example.test', 'a.example.test', false],
    ['', 'example.test', false],
    ['example..test', 'example..test', false],
  ];
  test.each(dnsTable)('pattern %j vs %j → %s', (pattern, name, expected) => {
    expect(matchGeneralNames(sans([pattern]), name)).toBe(expected);
  });

  test('an IP literal never matches a dNSName, even one spelled like the address', () => {
    expect(matchGeneralNames(sans(['127.0.0.1', '::1']), '127.0.0.1')).toBe(false);
    expect(matchGeneralNames(sans(['127.0.0.1', '::1']), '::1')).toBe(false);
    expect(matchGeneralNames(sans([], ['127.0.0.1']), '127.0.0.1')).toBe(true);
  });

  test('a DNS name never matches an iPAddress entry', () => {
    expect(matchGeneralNames(sans([], ['127.0.0.1']), 'localhost')).toBe(false);
  });

  test('malformed reference names never match', () => {
    for (const bad of ['127.1', '1.2.3.4.5', '256.0.0.1', '1::2::3', ':::', 'a b.test', 'x/y.test', 'exa mple']) {
      expect(matchGeneralNames(sans(['*.test', 'exa mple', 'a b.test'], ['127.0.0.1']), bad)).toBe(false);
    }
  });

  test('dnsPatternMatches expects a normalised name', () => {
    expect(dnsPatternMatches('*.A.test', 'x.a.test')).toBe(true);
  });
});

describe('IPv6 parsing', () => {
  const forms: Array<[string, string]> = [
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['fe80::1:2', 'fe800000000000000000000000010002'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['::1.2.3.4', '00000000000000000000000001020304'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
    ['1::ffff:1.2.3.4', '00010000000000000000ffff01020304'],
    ['2001:db8:0:0:1::1', '20010db8000000000001000000000001'],
  ];
  test.each(forms)('%s', (text, hex) => {
    expect(parseIPv6(text)?.toString('hex')).toBe(hex);
  });

  test.each(['1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', '::1.2.3', '::256.1.1.1', 'g::1', '1:2:3:4:5:6:7:1.2.3.4', 'fe80::1%lo'])(
    'rejects %s', (text) => {
      expect(parseIPv6(text)).toBeUndefined();
    },
  );

  test('property: parse(format(bytes)) round-trips and agrees with node:net', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const text = formatIp(buf);
        expect(isIPv6(text)).toBe(true);
        expect(parseIPv6(text)?.equals(buf)).toBe(true);
        expect(parseIPv6(text.toUpperCase())?.equals(buf)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  test('property: sparse addresses (many zero groups) round-trip', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xabc), { minLength: 8, maxLength: 8 }), (groups) => {
        const buf = Buffer.alloc(16);
        groups.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
        const text = formatIp(buf);
        expect(parseIPv6(text)?.equals(buf)).toBe(true);
        // And the fully expanded form parses to the same bytes.
        expect(parseIPv6(groups.map((g) => g.toString(16)).join(':'))?.equals(buf)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
