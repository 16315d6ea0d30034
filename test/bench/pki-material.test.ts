/**
 * The benchmarks' certificates, read through the shared Pki reader: the crypto floor's chains and
 * keys belong together and chain to the root, and the post-quantum bench's ML-DSA server and
 * trust are the fixture files.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pqBenchMaterial } from '../../src/bench/pq';
import { loadMaterial } from '../../src/bench/storm/floor';
import { MlDsaKey } from '../../src/tls/crypto/pq';
import { keyMatchesCertificate } from '../../src/tls/x509';
import { PKI_DIR, PQ_PKI_DIR } from '../helpers/pki';

const der = (file: string) => new crypto.X509Certificate(fs.readFileSync(file)).raw;

describe('bench PKI material', () => {
  it('crypto floor: each side its leaf key, leaf ← intermediate ← root', () => {
    const m = loadMaterial();
    for (const [chain, key, leaf] of [[m.serverChain, m.serverKey, 'server-p256'], [m.clientChain, m.clientKey, 'client-p256']] as const) {
      expect(chain.map((c) => c.raw)).toEqual([der(path.join(PKI_DIR, `${leaf}.crt.pem`)), expect.any(Buffer)]);
      expect(chain[0].checkPrivateKey(key)).toBe(true);
      expect(chain[0].verify(chain[1].publicKey)).toBe(true);
      expect(chain[1].verify(m.root.publicKey)).toBe(true);
    }
    expect(m.root.verify(m.root.publicKey)).toBe(true);
  });

  it('post-quantum: the ML-DSA-65 server pair and both roots', () => {
    const { classic, pqCert, trust } = pqBenchMaterial();
    expect(pqCert.chain).toEqual([der(path.join(PQ_PKI_DIR, 'server-mldsa65.crt.pem'))]);
    expect(pqCert.key).toBeInstanceOf(MlDsaKey);
    expect(keyMatchesCertificate(pqCert.chain[0], pqCert.key)).toBe(true);
    expect(trust.anchors).toEqual([...classic.trust.anchors, der(path.join(PQ_PKI_DIR, 'mldsa-root-ca.crt.pem'))]);
  });
});
