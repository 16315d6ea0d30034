import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { decodeCertificate, decodeCrl, DerReader, parseCertificate, parseDer, X509Error } from '../../src/tls/x509';
import { certOf, pkiFile, x509Error } from './pki';

/** Runs f; passes if it returns or throws an X509Error; anything else fails the test. */
function onlyX509Errors(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof X509Error)) throw new Error(`threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
    expect(err.code).toBe('X509_DER');
  }
}


describe('DER framing', () => {
  test('reads nested values and reports offsets', () => {
    const der = Buffer.from('300602010502010a', 'hex');
    const seq = parseDer(der, 'test');
    const r = DerReader.of(seq, 'test');
    expect(r.read().value).toEqual(Buffer.from([5]));
    expect(r.read().offset).toBe(5);
    expect(r.done).toBe(true);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['empty input', '', /input ended/],
    ['tag without length', '30', /length missing/],
    ['truncated content', '300502010502', /exceeds/],
    ['oversized short length', '3005020105', /exceeds/],
    ['oversized long length', '3084ffffffff00', /exceeds/],
    ['length with too many octets', '3085010000000000', /too large/],
    ['indefinite length', '308002010500 00'.replace(' ', ''), /indefinite/],
    ['non-minimal length', '3081030201 05'.replace(' ', ''), /minimally/],
    ['truncated length octets', '3082 01'.replace(' ', ''), /truncated/],
    ['high tag number', '1f8101 00'.replace(' ', ''), /high tag/],
    ['trailing bytes', '3000 00'.replace(' ', ''), /trailing/],
  ];
  test.each(bad)('%s → X509Error', (_what, hex, message) => {
    const err = x509Error(() => parseDer(Buffer.from(hex, 'hex'), 'test'));
    expect(err.code).toBe('X509_DER');
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(/at byte \d+/);
  });
});

describe('certificate decoding', () => {
  test.each(['server-p256', 'server-rsa2048', 'server-rsapss2048', 'server-ed25519', 'names', 'nc-ca', 'root-ca'])(
    '%s: summary agrees with node:crypto X509Certificate', (name) => {
      const der = certOf(name);
      const ours = parseCertificate(der);
      const x = new X509Certificate(der);
      expect(ours.serialNumber.toUpperCase()).toBe(x.serialNumber.toUpperCase());
      expect(ours.notBefore.getTime()).toBe(new Date(x.validFrom).getTime());
      expect(ours.notAfter.getTime()).toBe(new Date(x.validTo).getTime());
      expect(ours.isCA).toBe(x.ca);
      expect(ours.fingerprint256).toBe(x.fingerprint256.replace(/:/g, '').toLowerCase());
      const cn = /CN=([^\n]+)/.exec(x.subject)?.[1];
      expect(ours.subject).toContain(`CN=${cn}`);
      const nodeSans = (x.subjectAltName ?? '').split(', ').filter(Boolean);
      expect(ours.dnsNames).toEqual(nodeSans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)));
      expect(ours.ipAddresses.length).toBe(nodeSans.filter((s) => s.startsWith('IP Address:')).length);
      const keyType = x.publicKey.asymmetricKeyType;
      expect(ours.keyType).toBe(keyType);
    },
  );

  test('key details', () => {
    expect(parseCertificate(certOf('server-rsa2048'))).toMatchObject({ keyType: 'rsa', keyBits: 2048 });
    expect(parseCertificate(certOf('server-rsapss2048'))).toMatchObject({ keyType: 'rsa-pss', keyBits: 2048 });
    expect(parseCertificate(certOf('server-p384'))).toMatchObject({ keyType: 'ec', curve: 'P-384' });
    expect(parseCertificate(certOf('pathlen0-ca'))).toMatchObject({ isCA: true, pathLen: 0, signatureAlgorithm: 'ecdsa-with-SHA256' });
    expect(parseCertificate(certOf('rsa-pss-signed')).signatureAlgorithm).toBe('RSASSA-PSS');
    expect(parseCertificate(certOf('names')).ipAddresses).toEqual(['192.0.2.7', '2001:db8::1', '::ffff:c633:6401']);
  });

  test('extensions are decoded', () => {
    const nc = decodeCertificate(certOf('nc-ca')).nameConstraints;
    expect(nc?.permitted.map((s) => s.kind)).toEqual(['dns', 'ip']);
    expect(nc?.excluded).toEqual([{ kind: 'dns', value: 'excluded.test' }]);
    const leaf = decodeCertificate(certOf('server-p256'));
    expect(leaf.extKeyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(leaf.basicConstraints).toEqual({ ca: false, pathLen: undefined });
    expect(leaf.unknownCritical).toEqual([]);
    expect(decodeCertificate(certOf('unknown-critical')).unknownCritical).toEqual(['1.3.6.1.4.1.55555.1']);
  });

  test('every truncation of a real certificate is an X509Error', () => {
    const der = certOf('server-rsa2048');
    for (let n = 0; n < der.length; n++) {
      const err = x509Error(() => decodeCertificate(der.subarray(0, n)));
      expect(err.code).toBe('X509_DER');
    }
  });

  test('every truncation of a real CRL is an X509Error', () => {
    const der = pkiFile('intermediate-ca.crl.der');
    for (let n = 0; n < der.length; n++) x509Error(() => decodeCrl(der.subarray(0, n)));
    expect(decodeCrl(der).revoked.size).toBe(1);
  });

  test('an inflated inner length is caught, not read past', () => {
    const der = Buffer.from(certOf('server-p256'));
    // The tbsCertificate header sits at offset 4 (30 82 xx xx | 30 82 yy yy): claim 0x7fff bytes.
    expect(der[4]).toBe(0x30);
    der.writeUInt16BE(0x7fff, 6);
    expect(x509Error(() => decodeCertificate(der)).message).toMatch(/tbsCertificate.*exceeds/);
  });
});

describe('properties: the decoders only ever throw X509Error', () => {
  test('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const b = Buffer.from(bytes);
        onlyX509Errors(() => decodeCertificate(b));
        onlyX509Errors(() => decodeCrl(b));
        onlyX509Errors(() => parseCertificate(b));
      }),
      { numRuns: 3000 },
    );
  });

  test('random DER-shaped bytes (a SEQUENCE header in front)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(0x30, 0x31, 0xa0, 0x02, 0x06), (bytes, tag) => {
        const b = Buffer.concat([Buffer.from([tag, bytes.length < 128 ? bytes.length : 0x81, ...(bytes.length < 128 ? [] : [bytes.length])]), Buffer.from(bytes)]);
        onlyX509Errors(() => decodeCertificate(b));
        onlyX509Errors(() => decodeCrl(b));
      }),
      { numRuns: 3000 },
    );
  });

  test('real certificates and CRLs with random bytes changed', () => {
    const samples = [certOf('names'), certOf('nc-ca'), certOf('server-rsapss2048'), pkiFile('intermediate-ca.crl.der')];
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (sample, edits) => {
          const b = Buffer.from(sample);
          for (const [at, v] of edits) b[at % b.length] = v;
          onlyX509Errors(() => decodeCertificate(b));
          onlyX509Errors(() => decodeCrl(b));
          onlyX509Errors(() => parseCertificate(b));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
