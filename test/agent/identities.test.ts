import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfigText } from '../../src/agent/config';
import { loadIdentities, systemTrust, trustFor } from '../../src/agent/identities';
import { MlDsaKey } from '../../src/tls/crypto/pq';
import { PKI_DIR } from '../helpers/pki';

const PKI = PKI_DIR;
const PQ = path.join(__dirname, '..', '..', 'fixtures', 'pki-pq');
const F = '/etc/tlshd/config';

function load(text: string) {
  return loadIdentities(parseConfigText(text, F).config);
}

describe('identities from the configuration', () => {
  it('loads trust, CRLs, chain and key once, per role', () => {
    const ids = load(
      [
        '[authenticate.server]',
        `x509.truststore=${PKI}/ca-bundle.pem`,
        `x509.crl=${PKI}/crls.pem`,
        `x509.certificate=${PKI}/server-p256.chain.pem`,
        `x509.private_key=${PKI}/server-p256.key.pem`,
      ].join('\n'),
    );
    expect(ids.server.trust?.anchors).toHaveLength(1);
    expect(ids.server.trust?.crls).toHaveLength(2);
    expect(ids.server.certificate?.chain).toHaveLength(2);
    expect(ids.server.certificate?.chain[0]).toEqual(fs.readFileSync(`${PKI}/server-p256.crt.der`));
    expect(ids.server.certificate?.key.type).toBe('private');
    expect(ids.client.trust).toBeUndefined();
  });

  it('x509.strict reaches the trust configuration verifyChain receives, with and without a truststore', () => {
    const ids = load(`[authenticate.server]\nx509.truststore=${PKI}/ca-bundle.pem\nx509.strict=yes\n[authenticate.client]\nx509.strict=yes\n`);
    expect(trustFor(ids.server).strict).toBe(true);
    const client = trustFor(ids.client);
    expect(client.strict).toBe(true);
    expect(client.anchors).toBe(systemTrust().anchors);
    expect(trustFor(ids.client)).toBe(client); // one object per store: the anchor index stays cached
    expect(systemTrust().strict).toBeUndefined();
    expect(trustFor(load('').client).strict).toBeUndefined();
  });

  it('loads x509.pq.* as an ML-DSA identity beside the classic one, in both roles', () => {
    const ids = load(
      ['client', 'server']
        .map((role) =>
          [
            `[authenticate.${role}]`,
            `x509.certificate=${PKI}/${role}-p256.chain.pem`,
            `x509.private_key=${PKI}/${role}-p256.key.pem`,
            `x509.pq.certificate=${PQ}/${role}-mldsa65.chain.pem`,
            `x509.pq.private_key=${PQ}/${role}-mldsa65.key.pem`,
          ].join('\n'),
        )
        .join('\n'),
    );
    for (const role of [ids.client, ids.server]) {
      expect(role.certificate?.key.asymmetricKeyType).toBe('ec');
      expect(role.pqCertificate?.key).toBeInstanceOf(MlDsaKey);
      expect(role.pqCertificate?.key.asymmetricKeyType).toBe('ml-dsa-65');
      expect(role.pqCertificate?.chain).toHaveLength(1);
    }
  });

  it.each([
    [
      `x509.pq.certificate=${PQ}/server-mldsa65.chain.pem\nx509.pq.private_key=${PQ}/server-mldsa44.key.pem`,
      `${F}:3: x509.pq.private_key ${PQ}/server-mldsa44.key.pem does not belong to the first certificate of x509.pq.certificate`,
    ],
    [
      `x509.pq.certificate=${PQ}/server-p256.chain.pem\nx509.pq.private_key=${PQ}/server-p256.key.pem`,
      `${F}:3: x509.pq.private_key ${PQ}/server-p256.key.pem is a ec key; x509.pq.* must name an ML-DSA-44/65/87 certificate and key`,
    ],
  ])('refuses a pq identity it cannot use: %s', (lines, message) => {
    expect(() => load(`[authenticate.server]\n${lines}\n`)).toThrow(message);
  });

  it('uses the system store only when no truststore is set', () => {
    const ids = load('');
    const t = trustFor(ids.client);
    expect(t.anchors.length).toBeGreaterThan(50);
    expect(systemTrust().anchors).toBe(t.anchors);
  });

  it.each([
    [`x509.truststore=/nonexistent/ca.pem`, `${F}:2: [authenticate.client] x509.truststore: cannot read trust store "/nonexistent/ca.pem": ENOENT`],
    [`x509.truststore=${PKI}/server-p256.key.pem`, 'contains no usable certificate'],
    [`x509.crl=${PKI}/ca-bundle.pem`, 'contains no "X509 CRL" block'],
    [
      `x509.certificate=${PKI}/server-p256.chain.pem\nx509.private_key=${PKI}/server-p384.key.pem`,
      `${F}:3: x509.private_key ${PKI}/server-p384.key.pem does not belong to the first certificate`,
    ],
    [
      `x509.certificate=${PKI}/server-p256.chain.pem\nx509.private_key=${PKI}/server-p256.crt.pem`,
      `${F}:3: [authenticate.client] x509.private_key: private key file "${PKI}/server-p256.crt.pem" holds no private key`,
    ],
  ])('refuses a configured file it cannot use: %s', (line, message) => {
    expect(() => load(`[authenticate.client]\n${line}\n`)).toThrow(message);
  });

  it('a per-peer section loads its classic and ML-DSA pairs as the role section does, and its errors name it', () => {
    const pairs = (role: string, dir: string, name: string, pqName: string) =>
      [`x509.certificate=${PKI}/${role}-${name}.chain.pem`, `x509.private_key=${PKI}/${role}-${name}.key.pem`, `x509.pq.certificate=${dir}/${role}-${pqName}.chain.pem`, `x509.pq.private_key=${dir}/${role}-${pqName}.key.pem`];
    const ids = load(['[authenticate.server]', ...pairs('server', PQ, 'p256', 'mldsa65'), '[authenticate.server.certificate.alt]', ...pairs('server', PQ, 'p384', 'mldsa44')].join('\n'));
    expect(ids.server.certificates.map((c) => [c.section, c.line, c.certificate?.key.asymmetricKeyType, c.pqCertificate?.key.asymmetricKeyType])).toEqual([
      ['[authenticate.server]', 2, 'ec', 'ml-dsa-65'],
      ['[authenticate.server.certificate.alt]', 6, 'ec', 'ml-dsa-44'],
    ]);
    expect(ids.server.certificates[0].certificate).toBe(ids.server.certificate);
    expect(ids.server.certificates[0].pqCertificate).toBe(ids.server.pqCertificate);
    // A role section with only an ML-DSA pair is listed at its x509.pq.certificate line.
    const pqOnly = load(['[authenticate.client]', `x509.truststore=${PKI}/ca-bundle.pem`, ...pairs('client', PQ, 'p256', 'mldsa65').slice(2)].join('\n'));
    expect(pqOnly.client.certificates.map((c) => [c.section, c.line, c.certificate])).toEqual([['[authenticate.client]', 3, undefined]]);
    const alt = (lines: string[]) => load(['[authenticate.server.certificate.alt]', ...lines].join('\n'));
    expect(() => alt([`x509.certificate=${PKI}/server-p256.chain.pem`, `x509.private_key=${PKI}/server-p256.crt.pem`])).toThrow(
      `${F}:3: [authenticate.server.certificate.alt] x509.private_key: private key file "${PKI}/server-p256.crt.pem" holds no private key`,
    );
    expect(() => alt([`x509.pq.certificate=/nonexistent/pq.pem`, `x509.pq.private_key=${PQ}/server-mldsa44.key.pem`])).toThrow(
      `${F}:2: [authenticate.server.certificate.alt] x509.pq.certificate: `,
    );
    expect(() => alt(pairs('server', PQ, 'p256', 'p256').slice(2))).toThrow(`${F}:3: x509.pq.private_key ${PQ}/server-p256.key.pem is a ec key; x509.pq.* must name an ML-DSA-44/65/87 certificate and key`);
  });

  it('refuses a trust store directory with nothing in it rather than falling back to the system store', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-id-'));
    try {
      expect(() => load(`[authenticate.server]\nx509.truststore=${dir}\n`)).toThrow(`${F}:2: [authenticate.server] x509.truststore: trust store "${dir}" contains no usable certificate`);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
