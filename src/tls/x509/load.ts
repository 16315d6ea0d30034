/**
 * Loading trust stores, CRLs, certificate chains and private keys from files, with errors that
 * name the file and say what to fix. Unlike tlshd, a configured path that cannot be used is an
 * error, never a silent fall-back to the system store.
 */
import { createPrivateKey } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FILE_LIMITS, FileRefusedError, readRegularFile, statOf, type FileKind } from '../../sys/files';
import type { AsymmetricKey, TrustConfig } from '../api';
import { decodeCertificate } from './cert';
import { decodeCrl } from './crl';
import { DerReader } from './der';
import { X509Error } from './errors';
import { looksLikePem, pemBlocks } from './pem';
import { mlDsaPrivateKey, privateKeyFromDer } from './privkey';

/** Debian's (and Ubuntu's) consolidated CA bundle. */
export const SYSTEM_TRUST_STORE = '/etc/ssl/certs/ca-certificates.crt';
/** A peer may send at most this many certificates; ours is no different. */
export const MAX_CHAIN_CERTIFICATES = 10;

export interface LoadedTrustStore extends TrustConfig {
  /** Where the anchors came from. */
  source: string;
  /** Entries that could not be decoded and were left out ("file: reason"). */
  skipped: string[];
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}

/** Directory entries read for one trust store, beyond which the rest are not looked at. */
export const MAX_TRUST_STORE_FILES = 10_000;

/**
 * The file's bytes through the non-blocking, size-capped reader: a FIFO, device or directory
 * given as a certificate, key, CRL or bundle is refused rather than read.
 */
function readFile(path: string, kind: FileKind, maxBytes?: number): Buffer {
  try {
    return readRegularFile(path, kind, maxBytes === undefined ? {} : { maxBytes });
  } catch (err) {
    if (err instanceof FileRefusedError) throw new X509Error('X509_FILE', err.message);
    throw new X509Error('X509_FILE', `cannot read "${path}": ${errText(err)}`);
  }
}

/** Splits concatenated DER values (a DER chain file) into one Buffer each. */
function splitDer(data: Buffer, source: string): Buffer[] {
  const r = new DerReader(data, source);
  const out: Buffer[] = [];
  while (!r.done) out.push(r.read(source).raw);
  return out;
}

function wrap<T>(source: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof X509Error) throw new X509Error(err.code, `${source}: ${err.message}`);
    throw err;
  }
}

/**
 * A trust store: a PEM bundle file, or a directory whose PEM files are read (hash links and
 * duplicates collapse to one anchor). CRLs found alongside are returned too. `path` undefined →
 * the system store. A path that cannot be read or that yields no certificate is an error;
 * individual certificates that cannot be decoded are skipped and listed in `skipped`.
 */
export function loadTrustStore(path?: string): LoadedTrustStore {
  const source = path ?? SYSTEM_TRUST_STORE;
  let isDir: boolean;
  try {
    isDir = statOf(source, 'trust-store').isDirectory();
  } catch (err) {
    throw new X509Error('X509_FILE', `${(err as Error).message}${path === undefined ? ' (is the ca-certificates package installed?)' : ''}`);
  }
  let names: string[] = [];
  if (isDir) {
    try {
      names = readdirSync(source);
    } catch (err) {
      throw new X509Error('X509_FILE', `cannot read trust store directory "${source}": ${errText(err)}`);
    }
    if (names.length > MAX_TRUST_STORE_FILES) {
      throw new X509Error('X509_FILE', `trust store directory "${source}" holds ${names.length} entries; at most ${MAX_TRUST_STORE_FILES} are read`);
    }
  }
  const files = isDir
    ? names.sort().map((f) => join(source, f)).filter((f) => {
        try {
          return statSync(f).isFile(); // FIFOs, devices and subdirectories in a CA directory are not certificates
        } catch {
          return false; // dangling symlink
        }
      })
    : [source];
  const store: LoadedTrustStore = { anchors: [], crls: [], source, skipped: [] };
  const seen = new Set<string>();
  // One budget for the whole store, so a directory of many large files is bounded like one bundle.
  let budget = FILE_LIMITS['trust-store'];
  for (const file of files) {
    const data = readFile(file, 'trust-store', budget);
    budget -= data.length;
    if (!looksLikePem(data)) {
      if (isDir) continue;
      throw new X509Error('X509_FILE', `trust store "${file}" is not a PEM file (expected "-----BEGIN CERTIFICATE-----" blocks)`);
    }
    let blocks;
    try {
      blocks = pemBlocks(data.toString('latin1'), file);
    } catch (err) {
      if (isDir) {
        store.skipped.push(`${file}: ${(err as Error).message}`);
        continue;
      }
      throw err;
    }
    for (const b of blocks) {
      const key = b.der.toString('base64');
      if (seen.has(key)) continue;
      seen.add(key);
      try {
        if (b.label === 'CERTIFICATE' || b.label === 'TRUSTED CERTIFICATE') {
          decodeCertificate(b.der);
          store.anchors.push(b.der);
        } else if (b.label === 'X509 CRL') {
          decodeCrl(b.der);
          store.crls?.push(b.der);
        }
      } catch (err) {
        store.skipped.push(`${file} line ${b.line}: ${(err as Error).message}`);
      }
    }
  }
  if (store.anchors.length === 0) {
    throw new X509Error('X509_FILE', `trust store "${source}" contains no usable certificate${store.skipped.length ? ` (${store.skipped[0]})` : ''}`);
  }
  return store;
}

/** What tells one DER-list file kind from another: its PEM label, its name in messages, its decoder. */
interface DerFileKind {
  limit: FileKind;
  /** "CRL file", "certificate file". */
  file: string;
  /** "CRL", "certificate": one entry, numbered in messages. */
  item: string;
  label: string;
  /** What an empty file is said to lack. */
  missing: string;
  max?: number;
  decode: (der: Buffer) => unknown;
}

/**
 * The PEM blocks of `kind.label` or the concatenated DER of a file, each one decoded so that a
 * malformed entry is refused at load time, with the file and the entry's number named.
 */
function loadDerFile(path: string, kind: DerFileKind): Buffer[] {
  const data = readFile(path, kind.limit);
  const ders = looksLikePem(data)
    ? wrap(path, () => pemBlocks(data.toString('latin1'), path).filter((b) => b.label === kind.label).map((b) => b.der))
    : wrap(path, () => splitDer(data, kind.file));
  if (ders.length === 0) throw new X509Error('X509_FILE', `${kind.file} "${path}" contains no ${kind.missing} block`);
  if (kind.max !== undefined && ders.length > kind.max) {
    throw new X509Error('X509_FILE', `${kind.file} "${path}" holds ${ders.length} ${kind.item}s; at most ${kind.max} are sent`);
  }
  ders.forEach((der, i) => wrap(`${kind.file} "${path}", ${kind.item} #${i + 1}`, () => kind.decode(der)));
  return ders;
}

/** CRLs from a PEM file ("X509 CRL" blocks) or a DER file (one or more CRLs). */
export function loadCrls(path: string): Buffer[] {
  return loadDerFile(path, { limit: 'crl', file: 'CRL file', item: 'CRL', label: 'X509 CRL', missing: '"X509 CRL"', decode: decodeCrl });
}

/** A certificate chain, leaf first: PEM (up to 10 CERTIFICATE blocks) or DER (concatenated). */
export function loadCertChain(path: string): Buffer[] {
  return loadDerFile(path, {
    limit: 'certificate',
    file: 'certificate file',
    item: 'certificate',
    label: 'CERTIFICATE',
    missing: '"BEGIN CERTIFICATE"',
    max: MAX_CHAIN_CERTIFICATES,
    decode: decodeCertificate,
  });
}

const KEY_LABELS = new Set(['PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY']);

/**
 * A private key: PEM PKCS#8 ("PRIVATE KEY"), SEC1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE
 * KEY"), or the same as DER; ML-DSA keys in PKCS#8 (RFC 9881) too. Encrypted keys are refused (the agent runs unattended). Messages
 * name the file and never include key bytes.
 */
export function loadPrivateKey(path: string): AsymmetricKey {
  const data = readFile(path, 'private-key');
  if (looksLikePem(data)) {
    const blocks = wrap(path, () => pemBlocks(data.toString('latin1'), path));
    if (blocks.some((b) => b.label === 'ENCRYPTED PRIVATE KEY') || /Proc-Type:\s*4,ENCRYPTED/.test(data.toString('latin1'))) {
      throw new X509Error('X509_KEY', `private key file "${path}" is encrypted; handshaked needs an unencrypted key (decrypt it with "openssl pkey")`);
    }
    const keys = blocks.filter((b) => KEY_LABELS.has(b.label));
    if (keys.length === 0) {
      const found = blocks.map((b) => b.label).join(', ') || 'nothing';
      throw new X509Error('X509_KEY', `private key file "${path}" holds no private key (found: ${found})`);
    }
    if (keys.length > 1) throw new X509Error('X509_KEY', `private key file "${path}" holds ${keys.length} private keys; expected one`);
    const b = keys[0];
    const type = b.label === 'PRIVATE KEY' ? 'pkcs8' : b.label === 'EC PRIVATE KEY' ? 'sec1' : 'pkcs1';
    try {
      return (type === 'pkcs8' && mlDsaPrivateKey(b.der, `private key file "${path}"`)) || createPrivateKey({ key: b.der, format: 'der', type });
    } catch (err) {
      if (!(err as NodeJS.ErrnoException).code) throw new X509Error('X509_KEY', (err as Error).message);
      throw new X509Error('X509_KEY', `private key file "${path}": the ${b.label} block cannot be loaded (${(err as NodeJS.ErrnoException).code ?? 'invalid key'})`);
    }
  }
  try {
    return privateKeyFromDer(data, `private key file "${path}"`);
  } catch {
    throw new X509Error('X509_KEY', `private key file "${path}" is neither PEM nor a DER PKCS#8, SEC1, PKCS#1 or ML-DSA private key`);
  }
}
