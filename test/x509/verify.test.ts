import { X509Certificate } from 'node:crypto';
import type { AlertName, ChainVerifyOptions } from '../../src/tls/api';
import { decodeCertificateCached, pemToDer, verifyChain } from '../../src/tls/x509';
import { certOf, chainOf, NOW, pkiFile, rootBundle } from './pki';

const base = (chain: Buffer[], over: Partial<ChainVerifyOptions> = {}): ChainVerifyOptions => ({
  chain,
  trust: rootBundle(),
  now: NOW,
  purpose: 'serverAuth',
  maxChainLength: 10,
  ...over,
});

function expectOk(opts: ChainVerifyOptions): Buffer[] {
  const r = verifyChain(opts);
  if (!r.ok) throw new Error(`expected success, got ${r.alert}: ${r.reason}`);
  return r.path;
}

function expectAlert(opts: ChainVerifyOptions, alert: AlertName, reason?: RegExp): void {
  const r = verifyChain(opts);
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.alert).toBe(alert);
  if (reason) expect(r.reason).toMatch(reason);
}

describe('verifyChain on the fixture PKI', () => {
  const serverLeaves = ['server-p256', 'server-p384', 'server-rsa2048', 'server-rsapss2048', 'server-ed25519'];

  test.each(serverLeaves)('%s verifies for serverAuth with every SAN form', (name) => {
    for (const host of ['localhost', 'server.test', 'LOCALHOST.', '127.0.0.1', '::1', '[::1]', '0:0:0:0:0:0:0:1']) {
      const path = expectOk(base(chainOf(name), { name: host }));
      expect(path).toHaveLength(3);
      expect(path[0].equals(certOf(name))).toBe(true);
      expect(path[2].equals(certOf('root-ca'))).toBe(true);
    }
  });

  test('the leaf public key is returned and matches the certificate', () => {
    const r = verifyChain(base(chainOf('server-ed25519')));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.leafPublicKey.asymmetricKeyType).toBe('ed25519');
    expect(r.leafPublicKey.equals(new X509Certificate(certOf('server-ed25519')).publicKey)).toBe(true);
  });

  test.each(['client-p256', 'client-rsa2048'])('%s verifies for clientAuth but not serverAuth', (name) => {
    expectOk(base(chainOf(name), { purpose: 'clientAuth' }));
    expectAlert(base(chainOf(name)), 'unsupported_certificate', /serverAuth/);
  });

  test('server leaves are refused for clientAuth (EKU serverAuth only)', () => {
    expectAlert(base(chainOf('server-p256'), { purpose: 'clientAuth' }), 'unsupported_certificate', /clientAuth/);
  });

  const negatives: Array<[string, AlertName, RegExp]> = [
    ['expired', 'certificate_expired', /expired/],
    ['not-yet-valid', 'certificate_expired', /not valid before/],
    ['unknown-ca', 'unknown_ca', /unknown root CA/],
    ['no-serverauth', 'unsupported_certificate', /serverAuth/],
    ['no-digitalsignature', 'bad_certificate', /digitalSignature/],
    ['unknown-critical', 'bad_certificate', /1\.3\.6\.1\.4\.1\.55555\.1/],
    ['pathlen-violation', 'bad_certificate', /pathLenConstraint 0/],
    ['not-ca-leaf', 'bad_certificate', /not a CA/],
    ['no-keycertsign-leaf', 'bad_certificate', /keyCertSign/],
    ['nc-outside', 'bad_certificate', /outside\.example.*outside the permitted/],
    ['nc-excluded', 'bad_certificate', /excluded subtree/],
    ['nc-outside-ip', 'bad_certificate', /10\.0\.0\.1.*outside the permitted/],
  ];
  test.each(negatives)('%s → %s', (name, alert, reason) => {
    expectAlert(base(chainOf(name)), alert, reason);
  });

  test.each(['no-eku', 'any-eku'])('%s (no EKU / anyExtendedKeyUsage) is accepted for both purposes', (name) => {
    expectOk(base(chainOf(name), { name: 'localhost' }));
    expectOk(base(chainOf(name), { purpose: 'clientAuth' }));
  });

  test('name-constrained CA: names inside the constraints verify', () => {
    expectOk(base(chainOf('nc-inside'), { name: 'inside.test' }));
    expectOk(base(chainOf('nc-inside'), { name: '127.0.0.1' }));
  });

  test('name mismatch → bad_certificate; no name → no check', () => {
    expectAlert(base(chainOf('wrong-name'), { name: 'localhost' }), 'bad_certificate', /not valid for the name "localhost"/);
    expectOk(base(chainOf('wrong-name'), { name: 'wrong.test' }));
    expectOk(base(chainOf('wrong-name')));
    expectAlert(base(chainOf('server-p256'), { name: '127.0.0.2' }), 'bad_certificate');
    expectAlert(base(chainOf('server-p256'), { name: 'other.test' }), 'bad_certificate');
  });

  test('validity is judged at opts.now, for every certificate on the path', () => {
    // In 2020 the leaf "expired" was valid, but its intermediate (from 2025) was not yet.
    expectAlert(base(chainOf('expired'), { now: new Date('2020-06-01T00:00:00Z') }), 'certificate_expired', /intermediate CA.*not valid before 2025/);
    expectOk(base(chainOf('not-yet-valid'), { now: new Date('2045-07-01T00:00:00Z'), name: 'localhost' }));
    expectAlert(base(chainOf('server-p256'), { now: new Date('2045-01-01T00:00:01Z') }), 'certificate_expired', /expired at 2045/);
    expectAlert(base(chainOf('server-p256'), { now: new Date('2024-12-31T23:59:59Z') }), 'certificate_expired');
    expectOk(base(chainOf('server-p256'), { now: new Date('2045-01-01T00:00:00Z') }));
  });

  test('validity is judged at whole seconds: notAfter covers its whole second, notBefore starts at its second', () => {
    expectOk(base(chainOf('server-p256'), { now: new Date('2045-01-01T00:00:00.005Z') }));
    expectOk(base(chainOf('server-p256'), { now: new Date('2045-01-01T00:00:00.999Z') }));
    expectAlert(base(chainOf('server-p256'), { now: new Date('2045-01-01T00:00:01.000Z') }), 'certificate_expired');
    expectAlert(base(chainOf('server-p256'), { now: new Date('2024-12-31T23:59:59.999Z') }), 'certificate_expired', /not valid before 2025/);
    expectOk(base(chainOf('server-p256'), { now: new Date('2025-01-01T00:00:00.000Z') }));
  });
});

describe('path building', () => {
  test('intermediates in any order, with unrelated extras, are fine', () => {
    const [leaf, inter] = chainOf('server-p256');
    const extras = [certOf('unknown-root-ca'), certOf('nc-ca'), certOf('server-rsa2048')];
    const path = expectOk(base([leaf, ...extras, inter]));
    expect(path.map((c) => c.toString('hex'))).toEqual([leaf, inter, certOf('root-ca')].map((c) => c.toString('hex')));
  });

  test('the root sent along in the chain is harmless', () => {
    const path = expectOk(base([...chainOf('server-p256'), certOf('root-ca')]));
    expect(path).toHaveLength(3);
  });

  test('a missing intermediate → unknown_ca', () => {
    expectAlert(base([certOf('server-p256')]), 'unknown_ca', /intermediate CA/);
  });

  test('an intermediate in the trust store is an anchor on its own', () => {
    const path = expectOk(base([certOf('server-p256')], { trust: { anchors: [certOf('intermediate-ca')] } }));
    expect(path).toHaveLength(2);
  });

  test('a self-signed leaf is accepted only when it is itself trusted', () => {
    const self = certOf('self-signed');
    expectAlert(base([self]), 'unknown_ca');
    const path = expectOk(base([self], { trust: { anchors: [self] }, name: 'server.test' }));
    expect(path).toEqual([self]);
  });

  test('an empty trust store → unknown_ca', () => {
    expectAlert(base(chainOf('server-p256'), { trust: { anchors: [] } }), 'unknown_ca');
  });

  test.each([
    ['rsa-pkcs1-signed', 'rsa-root-ca'],
    ['rsa-pss-signed', 'rsa-root-ca'],
    ['ed25519-signed', 'ed25519-root-ca'],
    ['p384-signed', 'p384-root-ca'],
  ])('signature algorithms: %s under %s', (leaf, root) => {
    expectOk(base([certOf(leaf)], { trust: { anchors: [certOf(root)] }, name: 'localhost' }));
    expect(new X509Certificate(certOf(leaf)).verify(new X509Certificate(certOf(root)).publicKey)).toBe(true);
    expectAlert(base([certOf(leaf)]), 'unknown_ca');
  });

  test('a tampered signature → bad_certificate, as node:crypto agrees', () => {
    const [leaf, inter] = chainOf('server-p256');
    const bad = Buffer.from(leaf);
    bad[bad.length - 5] ^= 0x01; // inside the ECDSA signature's s value
    expect(new X509Certificate(bad).verify(new X509Certificate(inter).publicKey)).toBe(false);
    expectAlert(base([bad, inter]), 'bad_certificate', /signature/);
  });

  test('a tampered to-be-signed part → bad_certificate', () => {
    const [leaf, inter] = chainOf('server-p256');
    const bad = Buffer.from(leaf);
    const i = bad.indexOf(Buffer.from('server.test'));
    bad.write('SERVER', i, 'latin1');
    expectAlert(base([bad, inter]), 'bad_certificate', /signature/);
  });

  test('chain length limits: sent chain and built path (the anchor does not count, RFC 5280 §6.1)', () => {
    const chain = chainOf('pathlen-violation'); // 3 sent, path of 4 with the root
    expectAlert(base(chain, { maxChainLength: 1 }), 'bad_certificate', /more than the limit/);
    expectAlert(base(chainOf('server-p256'), { maxChainLength: 1 }), 'bad_certificate', /within 1 certificates besides the anchor/);
    // leaf + intermediate: a path of length 2 under the root.
    expectOk(base(chainOf('server-p256'), { maxChainLength: 2 }));
    // The root sent along does not count against the limit either.
    expectOk(base([...chainOf('server-p256'), certOf('root-ca')], { maxChainLength: 2 }));
    // A trusted leaf alone is a path of length 0... and 1 with its own issuer trusted.
    expectOk(base([certOf('server-p256')], { trust: { anchors: [certOf('intermediate-ca')] }, maxChainLength: 1 }));
  });

  test('no certificate, or garbage, → bad_certificate (never a throw)', () => {
    expectAlert(base([]), 'bad_certificate', /no certificate/);
    expectAlert(base([Buffer.from('not a certificate')]), 'bad_certificate', /malformed/);
    expectAlert(base([certOf('server-p256'), Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])]), 'bad_certificate', /#1/);
  });

  test('many same-named bogus issuers cannot make path building spin', () => {
    const [leaf] = chainOf('server-p256');
    const decoys = Array.from({ length: 9 }, () => certOf('not-ca')); // same cert repeated: deduplicated
    expectAlert(base([leaf, ...decoys]), 'unknown_ca');
  });

  test('decoded certificates are cached per Buffer (trust anchors are not re-parsed)', () => {
    const trust = rootBundle();
    expectOk(base(chainOf('server-p256'), { trust }));
    expect(decodeCertificateCached(trust.anchors[0])).toBe(decodeCertificateCached(trust.anchors[0]));
  });
});

describe('CRLs', () => {
  const interCrl = (): Buffer => pkiFile('intermediate-ca.crl.der');
  const withCrls = (crls: Buffer[]) => ({ anchors: rootBundle().anchors, crls });

  test('a revoked leaf → certificate_revoked; without the CRL it verifies', () => {
    expectAlert(base(chainOf('revoked'), { trust: withCrls([interCrl()]) }), 'certificate_revoked', /revoked by/);
    expectOk(base(chainOf('revoked')));
  });

  test('the CRL does not affect other certificates of the same CA', () => {
    expectOk(base(chainOf('server-p256'), { trust: withCrls([interCrl()]) }));
  });

  test('a CRL whose signature does not verify fails closed (certificate_unknown)', () => {
    const bad = Buffer.from(interCrl());
    bad[bad.length - 3] ^= 0x40;
    expectAlert(base(chainOf('server-p256'), { trust: withCrls([bad]) }), 'certificate_unknown', /CRL/);
  });

  test('a malformed CRL fails closed too', () => {
    expectAlert(base(chainOf('server-p256'), { trust: withCrls([Buffer.from([0x30, 0x03, 0x02, 0x01])]) }), 'certificate_unknown', /malformed/);
  });

  test("a CRL from an unrelated CA doesn't matter", () => {
    // root-ca's CRL revokes nothing; it applies to intermediate-ca and must verify under root-ca.
    const rootCrl = pemToDer(pkiFile('root-ca.crl.pem').toString(), 'X509 CRL');
    expect(rootCrl).toHaveLength(1);
    expectOk(base(chainOf('server-p256'), { trust: withCrls(rootCrl) }));
    expectOk(base(chainOf('unknown-ca'), { trust: { anchors: [certOf('unknown-root-ca')], crls: [interCrl()] } }));
  });
});
