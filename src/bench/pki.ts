/**
 * The benchmark's certificates: the shared test PKI (fixtures/pki), read once, in the shapes the
 * engine (DER chain + KeyObject) and Node's tls (PEM) want.
 */
import crypto from 'node:crypto';
import { DEFAULT_PKI_DIR, Pki } from '../companion/pki';
import type { CertifiedKey, TrustConfig } from '../tls/api';
import { pemToDer } from '../tls/x509';

export const PKI_DIR = DEFAULT_PKI_DIR;

export interface BenchPki {
  /** Engine form. */
  certified: CertifiedKey;
  trust: TrustConfig;
  /** Node form. */
  certPem: string;
  keyPem: string;
  caPem: string;
}

const fixtures = new Pki(PKI_DIR, 'run scripts/gen-pki.sh or pass an existing --cert name');

/** Loads `<name>.chain.pem` / `<name>.key.pem` and the CA bundle. */
export function loadBenchPki(name: string): BenchPki {
  const certPem = fixtures.text(`${name}.chain.pem`);
  const keyPem = fixtures.text(`${name}.key.pem`);
  const caPem = fixtures.text('ca-bundle.pem');
  return {
    certified: { chain: pemToDer(certPem), key: crypto.createPrivateKey(keyPem) },
    trust: { anchors: pemToDer(caPem) },
    certPem,
    keyPem,
    caPem,
  };
}
