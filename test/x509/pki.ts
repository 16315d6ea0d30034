/** Access to the committed test PKI (fixtures/pki, see its README). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrustConfig } from '../../src/tls/api';
import { pemToDer, X509Error } from '../../src/tls/x509';
import { PKI_DIR } from '../helpers/pki';
import { thrownBy } from '../helpers/thrown';

export { PKI_DIR };

export const pkiPath = (file: string): string => join(PKI_DIR, file);
export const pkiFile = (file: string): Buffer => readFileSync(pkiPath(file));
/** The DER certificates of a PEM file. */
export const pkiCerts = (file: string): Buffer[] => pemToDer(readFileSync(pkiPath(file), 'utf8'));
/** X.chain.pem as DER, leaf first. */
export const chainOf = (name: string): Buffer[] => pkiCerts(`${name}.chain.pem`);
export const certOf = (name: string): Buffer => pkiFile(`${name}.crt.der`);

export const rootBundle = (): TrustConfig => ({ anchors: pkiCerts('ca-bundle.pem') });

/** A moment inside every good certificate's validity (2025-01-01 .. 2045-01-01). */
export const NOW = new Date('2030-06-15T12:00:00Z');

/** Runs f, which must throw an X509Error, and returns that error for further checks. */
export const x509Error = (f: () => unknown): X509Error => thrownBy(X509Error, f);
