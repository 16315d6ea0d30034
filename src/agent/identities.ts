/**
 * The certificates, keys and trust anchors named in the configuration, read and parsed once per
 * (re)load: parsing costs 0.1–0.3 ms per object, too much to repeat per handshake, and reading
 * them at load time turns a bad path into a start-up error with the config line instead of a
 * failed mount later.
 *
 * Trust store: the system store only when `x509.truststore` is unset. tlshd also falls back to
 * the system store when the configured path cannot be read, which quietly trusts every public
 * CA; here that is an error.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import type { CertifiedKey, TrustConfig } from '../tls/api';
import { ConfigError, type AgentConfig, type Located, type X509Settings } from './config';

/** Where Debian/Ubuntu (ca-certificates) keep the system bundle; GnuTLS uses the same file. */
export const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

/** Longest chain tlshd loads from x509.certificate (TLSHD_MAX_CERTS). */
const MAX_CHAIN = 10;

export interface RoleIdentity {
  /** undefined: use the system store. */
  readonly trust?: TrustConfig;
  readonly crls?: Buffer[];
  readonly certificate?: CertifiedKey;
}

export interface Identities {
  readonly client: RoleIdentity;
  readonly server: RoleIdentity;
}

export function loadIdentities(config: AgentConfig): Identities {
  return Object.freeze({ client: loadRole(config.client), server: loadRole(config.server) });
}

function loadRole(s: X509Settings): RoleIdentity {
  const crls = s.crl ? readPem(s.crl, 'X509 CRL', 'x509.crl') : undefined;
  const anchors = s.truststore ? readPem(s.truststore, 'CERTIFICATE', 'x509.truststore') : undefined;
  let certificate: CertifiedKey | undefined;
  if (s.certificate && s.privateKey) {
    const chain = readPem(s.certificate, 'CERTIFICATE', 'x509.certificate');
    if (chain.length > MAX_CHAIN) fail(s.certificate, `x509.certificate holds ${chain.length} certificates; at most ${MAX_CHAIN} are sent`);
    const key = readPrivateKey(s.privateKey);
    checkKeyMatches(chain[0], key, s.privateKey);
    certificate = { chain, key };
  }
  return Object.freeze({
    trust: anchors ? { anchors, ...(crls ? { crls } : {}) } : undefined,
    crls,
    certificate,
  });
}

let systemAnchors: Buffer[] | undefined;

/** The system trust store, parsed on first use and kept. */
export function systemTrust(crls?: Buffer[]): TrustConfig {
  if (!systemAnchors) {
    const file = SYSTEM_BUNDLES.find((p) => fs.existsSync(p));
    const text = file ? fs.readFileSync(file, 'utf8') : tls.rootCertificates.join('\n');
    systemAnchors = pemBlocks(text, 'CERTIFICATE');
  }
  return { anchors: systemAnchors, ...(crls ? { crls } : {}) };
}

/** The trust to verify a peer with, for a role. */
export function trustFor(role: RoleIdentity): TrustConfig {
  return role.trust ?? systemTrust(role.crls);
}

function readFile(loc: Located<string>, what: string): string {
  try {
    return fs.readFileSync(loc.value, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    return fail(loc, `${what} ${loc.value} cannot be read (${code})`);
  }
}

function readPem(loc: Located<string>, label: string, what: string): Buffer[] {
  const blocks = pemBlocks(readFile(loc, what), label);
  if (blocks.length === 0) fail(loc, `${what} ${loc.value} holds no "-----BEGIN ${label}-----" block`);
  if (label === 'CERTIFICATE') {
    blocks.forEach((der, i) => {
      try {
        new X509Certificate(der);
      } catch (e) {
        fail(loc, `${what} ${loc.value}: certificate #${i + 1} does not parse (${(e as Error).message})`);
      }
    });
  }
  return blocks;
}

function readPrivateKey(loc: Located<string>): KeyObject {
  const text = readFile(loc, 'x509.private_key');
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch (e) {
    return fail(loc, `x509.private_key ${loc.value} is not a usable unencrypted PEM private key (${(e as Error).message})`);
  }
}

function checkKeyMatches(leaf: Buffer, key: KeyObject, loc: Located<string>): void {
  const cert = new X509Certificate(leaf);
  if (!cert.checkPrivateKey(key)) fail(loc, `x509.private_key ${loc.value} does not belong to the first certificate of x509.certificate`);
}

/** DER bodies of every `-----BEGIN <label>-----` block, in order. */
export function pemBlocks(text: string, label: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  const out: Buffer[] = [];
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(Buffer.from(m[1].replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'));
  return out;
}

function fail(loc: Located<string>, reason: string): never {
  throw new ConfigError(loc.file, loc.line, reason);
}
