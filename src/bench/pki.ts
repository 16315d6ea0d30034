/**
 * The benchmark's certificates: the shared test PKI (fixtures/pki), read once, in the shapes the
 * engine (DER chain + KeyObject) and Node's tls (PEM) want.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_PKI_DIR } from '../companion/pki';
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

function read(file: string): string {
  const p = path.join(PKI_DIR, file);
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${p} (${(e as NodeJS.ErrnoException).code ?? 'error'}); run scripts/gen-pki.sh or pass an existing --cert name`);
  }
}

/** Loads `<name>.chain.pem` / `<name>.key.pem` and the CA bundle. */
export function loadBenchPki(name: string): BenchPki {
  const certPem = read(`${name}.chain.pem`);
  const keyPem = read(`${name}.key.pem`);
  const caPem = read('ca-bundle.pem');
  return {
    certified: { chain: pemToDer(certPem), key: crypto.createPrivateKey(keyPem) },
    trust: { anchors: pemToDer(caPem) },
    certPem,
    keyPem,
    caPem,
  };
}
