import type { KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  derToPem, loadCertChain, loadCrls, loadPrivateKey, loadTrustStore, pemBlocks, pemToDer, SYSTEM_TRUST_STORE,
} from '../../src/tls/x509';
import { certOf, pkiFile, pkiPath, x509Error } from './pki';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'handshaked-x509-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});


describe('PEM', () => {
  test('round trip and labels', () => {
    const der = certOf('root-ca');
    const pem = derToPem(der);
    expect(pem).toBe(readFileSync(pkiPath('root-ca.crt.pem'), 'utf8'));
    expect(pemToDer(`# comment\n${pem}\ntrailing text\n${derToPem(der, 'X509 CRL')}`)).toEqual([der]);
    expect(pemBlocks(pem)[0]).toMatchObject({ label: 'CERTIFICATE', line: 1 });
  });

  test('an unterminated block and bad base64 are errors with a line number', () => {
    expect(x509Error(() => pemBlocks('x\n-----BEGIN CERTIFICATE-----\nAAAA\n', 'f.pem')).message).toMatch(/f\.pem: line 2.*no matching/);
    expect(x509Error(() => pemBlocks('-----BEGIN CERTIFICATE-----\nA*AA\n-----END CERTIFICATE-----\n')).code).toBe('X509_PEM');
  });
});

describe('loadTrustStore', () => {
  test('a PEM bundle file', () => {
    const store = loadTrustStore(pkiPath('ca-bundle.pem'));
    expect(store.anchors).toEqual([certOf('root-ca')]);
    expect(store.skipped).toEqual([]);
  });

  test('a directory of PEM files, hash links and non-PEM files included', () => {
    const d = join(dir, 'store');
    mkdirSync(d);
    copyFileSync(pkiPath('root-ca.crt.pem'), join(d, 'root.pem'));
    copyFileSync(pkiPath('rsa-root-ca.crt.pem'), join(d, 'rsa.crt'));
    symlinkSync('root.pem', join(d, 'abcdef01.0'));
    symlinkSync('missing.pem', join(d, 'dangling.0'));
    copyFileSync(pkiPath('root-ca.crt.der'), join(d, 'root.der'));
    copyFileSync(pkiPath('intermediate-ca.crl.pem'), join(d, 'inter.crl'));
    writeFileSync(join(d, 'README'), 'not a certificate\n');
    const store = loadTrustStore(d);
    expect(store.anchors).toHaveLength(2);
    expect(store.anchors.some((a) => a.equals(certOf('rsa-root-ca')))).toBe(true);
    expect(store.crls).toEqual([pkiFile('intermediate-ca.crl.der')]);
  });

  test('undefined → the system store', () => {
    const store = loadTrustStore();
    expect(store.source).toBe(SYSTEM_TRUST_STORE);
    expect(store.anchors.length).toBeGreaterThan(50);
  });

  test('a configured path that cannot be read is an error, not a fallback', () => {
    const missing = join(dir, 'nope.pem');
    const err = x509Error(() => loadTrustStore(missing));
    expect(err.code).toBe('X509_FILE');
    expect(err.message).toContain(missing);
    expect(err.message).toContain('ENOENT');
  });

  test('a file without certificates is an error', () => {
    const f = join(dir, 'empty.pem');
    writeFileSync(f, '# nothing here\n');
    expect(x509Error(() => loadTrustStore(f)).message).toMatch(/not a PEM file/);
    const g = join(dir, 'keyonly.pem');
    copyFileSync(pkiPath('server-p256.key.pem'), g);
    expect(x509Error(() => loadTrustStore(g)).message).toMatch(/no usable certificate/);
  });

  test('an undecodable certificate is skipped and reported', () => {
    const f = join(dir, 'mixed.pem');
    writeFileSync(f, readFileSync(pkiPath('root-ca.crt.pem'), 'utf8') + derToPem(Buffer.from([0x30, 0x01, 0x00])));
    const store = loadTrustStore(f);
    expect(store.anchors).toHaveLength(1);
    expect(store.skipped).toHaveLength(1);
    expect(store.skipped[0]).toMatch(/mixed\.pem line \d+: malformed DER/);
  });
});

describe('loadCrls and loadCertChain', () => {
  test('CRLs from PEM (several) and DER', () => {
    expect(loadCrls(pkiPath('crls.pem'))).toHaveLength(2);
    expect(loadCrls(pkiPath('intermediate-ca.crl.der'))).toEqual([pkiFile('intermediate-ca.crl.der')]);
    expect(x509Error(() => loadCrls(pkiPath('root-ca.crt.pem'))).message).toMatch(/no "X509 CRL" block/);
    expect(x509Error(() => loadCrls(join(dir, 'missing.crl'))).code).toBe('X509_FILE');
  });

  test('chains from PEM and DER, leaf first', () => {
    const pem = loadCertChain(pkiPath('server-p256.chain.pem'));
    expect(pem).toEqual([certOf('server-p256'), certOf('intermediate-ca')]);
    expect(loadCertChain(pkiPath('server-p256.chain.der'))).toEqual(pem);
    expect(loadCertChain(pkiPath('server-p256.crt.der'))).toEqual([certOf('server-p256')]);
  });

  test('more than 10 certificates, none, or garbage are errors naming the file', () => {
    const many = join(dir, 'many.pem');
    writeFileSync(many, readFileSync(pkiPath('root-ca.crt.pem'), 'utf8').repeat(11));
    expect(x509Error(() => loadCertChain(many)).message).toMatch(/many\.pem.*11 certificates/);
    expect(x509Error(() => loadCertChain(pkiPath('server-p256.key.pem'))).message).toMatch(/no "BEGIN CERTIFICATE"/);
    const junk = join(dir, 'junk.der');
    writeFileSync(junk, Buffer.from([0x30, 0x82, 0x10]));
    const err = x509Error(() => loadCertChain(junk));
    expect(err.code).toBe('X509_DER');
    expect(err.message).toContain(junk);
  });
});

describe('loadPrivateKey', () => {
  test.each([
    ['server-p256.key.pem', 'ec'],
    ['server-p256.sec1.key.pem', 'ec'],
    ['server-rsa2048.key.pem', 'rsa'],
    ['server-rsa2048.pkcs1.key.pem', 'rsa'],
    ['server-rsapss2048.key.pem', 'rsa-pss'],
    ['server-ed25519.key.pem', 'ed25519'],
  ])('%s → %s', (file, type) => {
    const key = loadPrivateKey(pkiPath(file));
    expect(key.type).toBe('private');
    expect(key.asymmetricKeyType).toBe(type);
  });

  test('the SEC1 and PKCS#8 files hold the same key', () => {
    const a = (loadPrivateKey(pkiPath('server-p256.key.pem')) as KeyObject).export({ format: 'jwk' });
    const b = (loadPrivateKey(pkiPath('server-p256.sec1.key.pem')) as KeyObject).export({ format: 'jwk' });
    expect(a).toEqual(b);
  });

  test('DER PKCS#8', () => {
    const f = join(dir, 'key.der');
    writeFileSync(f, (loadPrivateKey(pkiPath('server-p256.key.pem')) as KeyObject).export({ format: 'der', type: 'pkcs8' }));
    expect(loadPrivateKey(f).asymmetricKeyType).toBe('ec');
  });

  test('errors name the file and never carry key material', () => {
    const enc = x509Error(() => loadPrivateKey(pkiPath('server-p256.encrypted.key.pem')));
    expect(enc.code).toBe('X509_KEY');
    expect(enc.message).toMatch(/server-p256\.encrypted\.key\.pem.*encrypted/);

    expect(x509Error(() => loadPrivateKey(pkiPath('server-p256.crt.pem'))).message).toMatch(/holds no private key \(found: CERTIFICATE\)/);

    const missing = join(dir, 'absent.key');
    expect(x509Error(() => loadPrivateKey(missing)).message).toContain(missing);

    // A PEM block that decodes but is not a key: the message must not echo its bytes.
    const corrupt = join(dir, 'corrupt.key');
    const body = readFileSync(pkiPath('server-p256.key.pem'), 'utf8').split('\n');
    const b64 = body[1];
    body[1] = b64.slice(0, 20) + (b64[20] === 'A' ? 'B' : 'A') + b64.slice(21);
    writeFileSync(corrupt, body.slice(0, 2).join('\n') + '\n-----END PRIVATE KEY-----\n');
    const err = x509Error(() => loadPrivateKey(corrupt));
    expect(err.message).toContain(corrupt);
    expect(err.message).not.toContain(b64.slice(0, 16));

    const unreadable = join(dir, 'garbage.key');
    writeFileSync(unreadable, Buffer.from('0123456789abcdef'));
    chmodSync(unreadable, 0o600);
    const g = x509Error(() => loadPrivateKey(unreadable));
    expect(g.message).toMatch(/neither PEM nor/);
    expect(g.message).not.toContain('0123456789');
  });
});
