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
import { X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import type { CertifiedKey, TrustConfig } from '../tls/api';
import { loadCertChain, loadCrls, loadPrivateKey, loadTrustStore } from '../tls/x509';
import { ConfigError, type AgentConfig, type ConfigWarning, type KeyFileModeCheck, type Located, type X509Settings } from './config';

export interface RoleIdentity {
  /** undefined: use the system store. */
  readonly trust?: TrustConfig;
  readonly crls?: Buffer[];
  readonly certificate?: CertifiedKey;
  /** `x509.strict`: verify peers with the strict certificate profile. */
  readonly strict?: boolean;
}

export interface Identities {
  readonly client: RoleIdentity;
  readonly server: RoleIdentity;
}

/** `onWarning` receives what [handshaked] key_file_mode_check = warn reports. */
export function loadIdentities(config: AgentConfig, onWarning: (w: ConfigWarning) => void = () => undefined): Identities {
  const check = (loc: Located<string>) => checkKeyFile(loc, config.keyFileModeCheck ?? 'warn', onWarning);
  return Object.freeze({ client: loadRole(config.client, check), server: loadRole(config.server, check) });
}

/**
 * A private key readable or writable by group or other, or owned by someone other than root or
 * the agent's user, can be read or replaced by that someone: refused or warned about, as configured.
 */
function checkKeyFile(loc: Located<string>, mode: KeyFileModeCheck, onWarning: (w: ConfigWarning) => void): void {
  if (mode === 'off') return;
  let st: fs.Stats;
  try {
    st = fs.statSync(loc.value);
  } catch {
    return; // the loader reports an unreadable path with its own error
  }
  const problems: string[] = [];
  if ((st.mode & 0o077) !== 0) problems.push(`mode ${(st.mode & 0o777).toString(8).padStart(4, '0')} lets group/other access it (use chmod 600)`);
  const uid = process.getuid?.();
  if (st.uid !== 0 && st.uid !== uid) problems.push(`it is owned by uid ${st.uid}, not root or the agent's user (use chown root)`);
  if (problems.length === 0) return;
  const message = `x509.private_key ${loc.value}: ${problems.join('; ')}`;
  if (mode === 'refuse') fail(loc, `${message} ([handshaked] key_file_mode_check = refuse)`);
  onWarning({ file: loc.file, line: loc.line, message });
}

function loadRole(s: X509Settings, checkKey: (loc: Located<string>) => void): RoleIdentity {
  const crls = s.crl ? at(s.crl, () => loadCrls(s.crl!.value)) : undefined;
  let trust: TrustConfig | undefined;
  if (s.truststore) {
    const store = at(s.truststore, () => loadTrustStore(s.truststore!.value));
    // CRLs found in the trust store directory count too, as with a CA path in OpenSSL.
    const all = [...(store.crls ?? []), ...(crls ?? [])];
    trust = { anchors: store.anchors, ...(all.length ? { crls: all } : {}), ...(s.strict ? { strict: true } : {}) };
  }
  let certificate: CertifiedKey | undefined;
  if (s.certificate && s.privateKey) {
    const chain = at(s.certificate, () => loadCertChain(s.certificate!.value));
    checkKey(s.privateKey);
    const key = at(s.privateKey, () => loadPrivateKey(s.privateKey!.value));
    checkKeyMatches(chain[0], key, s.privateKey);
    certificate = { chain, key };
  }
  return Object.freeze({ trust, crls, certificate, strict: s.strict });
}

/**
 * What the identity files look like on disk (inode, size, mtime of each configured path), so a
 * certificate, key, CRL or trust store replaced in place is noticed without a SIGHUP: tlshd
 * re-reads them for every handshake, and hosts rotate certificates relying on that. Comparing a
 * stamp costs a few stat() calls; re-parsing everything per handshake would cost milliseconds.
 * A trust-store directory is stamped by the directory itself (files added or removed).
 */
export function identityFilesStamp(config: AgentConfig): string {
  const parts: string[] = [];
  for (const role of [config.client, config.server]) {
    for (const loc of [role.truststore, role.crl, role.certificate, role.privateKey]) {
      if (!loc) continue;
      try {
        const st = fs.statSync(loc.value);
        parts.push(`${loc.value}:${st.ino}:${st.size}:${st.mtimeMs}`);
      } catch {
        parts.push(`${loc.value}:-`);
      }
    }
  }
  return parts.join('|');
}

const systemStores = new Map<Buffer[] | undefined, TrustConfig>();

/** The system trust store, parsed on first use and kept (with the role's CRLs, if any). */
export function systemTrust(crls?: Buffer[]): TrustConfig {
  let t = systemStores.get(crls);
  if (!t) {
    const base = systemStores.get(undefined) ?? { anchors: loadTrustStore().anchors };
    systemStores.set(undefined, base);
    t = crls ? { anchors: base.anchors, crls } : base;
    systemStores.set(crls, t);
  }
  return t;
}

const strictSystemStores = new WeakMap<TrustConfig, TrustConfig>();

/** The trust to verify a peer with, for a role. */
export function trustFor(role: RoleIdentity): TrustConfig {
  if (role.trust) return role.trust;
  const system = systemTrust(role.crls);
  if (!role.strict) return system;
  let strict = strictSystemStores.get(system);
  if (!strict) {
    strict = { ...system, strict: true };
    strictSystemStores.set(system, strict);
  }
  return strict;
}

/** Runs a loader; its error (which names the file) becomes a ConfigError pointing at the config line. */
function at<T>(loc: Located<string>, load: () => T): T {
  try {
    return load();
  } catch (e) {
    return fail(loc, (e as Error).message);
  }
}

function checkKeyMatches(leaf: Buffer, key: KeyObject, loc: Located<string>): void {
  if (!new X509Certificate(leaf).checkPrivateKey(key)) {
    fail(loc, `x509.private_key ${loc.value} does not belong to the first certificate of x509.certificate`);
  }
}

function fail(loc: Located<string>, reason: string): never {
  throw new ConfigError(loc.file, loc.line, reason);
}
