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
import fs from 'node:fs';
import type { AsymmetricKey, CertifiedKey, TrustConfig } from '../tls/api';
import { MlDsaKey } from '../tls/crypto/pq';
import { keyMatchesCertificate, loadCertChain, loadCrls, loadPrivateKey, loadTrustStore } from '../tls/x509';
import { ConfigError, type AgentConfig, type AlternateCertificate, type ConfigWarning, type KeyFileModeCheck, type Located, type X509Settings } from './config';
import { parsePeerPattern, parsePskPattern, type AccessPolicy, type PeerCertificate } from './peer-policy';

export interface RoleIdentity {
  /** undefined: use the system store. */
  readonly trust?: TrustConfig;
  readonly crls?: Buffer[];
  readonly certificate?: CertifiedKey;
  /** `x509.strict`: verify peers with the strict certificate profile. */
  readonly strict?: boolean;
  /** x509.pq.*: an ML-DSA certificate, presented when the peer accepts ML-DSA. */
  readonly pqCertificate?: CertifiedKey;
  /**
   * Every configured pair, in file order: the role's own (`[authenticate.ROLE]`, when set) first,
   * then each `[authenticate.ROLE.certificate.NAME]`. Server: chosen by SNI, the first by default.
   * Client: the named ones by `peers`, the role's own by default.
   */
  readonly certificates: readonly PeerCertificate[];
  /** Server: `x509.allowed_peers` and `psk.allowed_identities`, parsed. */
  readonly access?: AccessPolicy;
}

export interface Identities {
  readonly client: RoleIdentity;
  readonly server: RoleIdentity;
}

/**
 * `onWarning` receives what [handshaked] key_file_mode_check = warn reports. `checked`: the key
 * files already checked in this load (buildProfiles shares one set across its profiles, so a
 * file several profiles use is checked, and reported, once); each file checked here is added.
 */
export function loadIdentities(config: AgentConfig, onWarning: (w: ConfigWarning) => void = () => undefined, checked = new Set<string>()): Identities {
  const check = (loc: Located<string>) => {
    if (checked.has(loc.value)) return;
    checked.add(loc.value);
    checkKeyFile(loc, config.keyFileModeCheck ?? 'warn', onWarning);
  };
  return Object.freeze({ client: loadRole(config.client, 'client', check), server: loadRole(config.server, 'server', check) });
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

function loadRole(s: X509Settings, role: 'client' | 'server', checkKey: (loc: Located<string>) => void): RoleIdentity {
  const section = `[authenticate.${role}]`;
  const crls = s.crl ? at(s.crl, settingOf(s.crl, section, 'x509.crl'), () => loadCrls(s.crl!.value)) : undefined;
  let trust: TrustConfig | undefined;
  if (s.truststore) {
    const store = at(s.truststore, settingOf(s.truststore, section, 'x509.truststore'), () => loadTrustStore(s.truststore!.value));
    // CRLs found in the trust store directory count too, as with a CA path in OpenSSL.
    const all = [...(store.crls ?? []), ...(crls ?? [])];
    trust = { anchors: store.anchors, ...(all.length ? { crls: all } : {}), ...(s.strict ? { strict: true } : {}) };
  }
  const { certificate, pqCertificate } = loadPairs(s, section, checkKey);
  const own: PeerCertificate[] = certificate || pqCertificate ? [{ section, file: (s.certificate ?? s.pqCertificate)!.file, line: (s.certificate ?? s.pqCertificate)!.line, certificate, pqCertificate, peers: [] }] : [];
  const certificates = [...own, ...(s.alternates ?? []).map((alt) => loadAlternate(alt, role, checkKey))];
  const access: AccessPolicy | undefined =
    s.allowedPeers || s.allowedPskIdentities
      ? {
          ...(s.allowedPeers ? { allowedPeers: { ...s.allowedPeers, value: s.allowedPeers.value.map((p) => parsePeerPattern(p, true)) } } : {}),
          ...(s.allowedPskIdentities ? { allowedPskIdentities: { ...s.allowedPskIdentities, value: s.allowedPskIdentities.value.map(parsePskPattern) } } : {}),
        }
      : undefined;
  return Object.freeze({ trust, crls, certificate, pqCertificate, strict: s.strict, certificates, access });
}

/** One `[authenticate.ROLE.certificate.NAME]` pair, loaded and checked as the role's own pair is. */
function loadAlternate(alt: AlternateCertificate, role: 'client' | 'server', checkKey: (loc: Located<string>) => void): PeerCertificate {
  const section = `[authenticate.${role}.certificate.${alt.name}]`;
  return { section, file: alt.file, line: alt.line, ...loadPairs(alt, section, checkKey), peers: (alt.peers?.value ?? []).map((p) => parsePeerPattern(p, false)) };
}

/**
 * A section's pairs, for the role's own section and each per-peer one alike: x509.certificate
 * with x509.private_key, then x509.pq.* (which must be ML-DSA), each loaded and checked; a pair
 * not set is undefined. Errors name the section and the key.
 */
function loadPairs(
  s: Pick<X509Settings, 'certificate' | 'privateKey' | 'pqCertificate' | 'pqPrivateKey'>,
  section: string,
  checkKey: (loc: Located<string>) => void,
): { certificate?: CertifiedKey; pqCertificate?: CertifiedKey } {
  const certificate = s.certificate && s.privateKey ? loadCertified(s.certificate, s.privateKey, checkKey, section, 'x509.') : undefined;
  const pqCertificate = s.pqCertificate && s.pqPrivateKey ? checkPq(loadCertified(s.pqCertificate, s.pqPrivateKey, checkKey, section, 'x509.pq.'), s.pqPrivateKey) : undefined;
  return { certificate, pqCertificate };
}

function checkPq(pq: CertifiedKey, loc: Located<string>): CertifiedKey {
  // tlshd uses the pq identity only for ML-DSA; anything else there is a mistake worth stopping on.
  if (!(pq.key instanceof MlDsaKey)) {
    fail(loc, `x509.pq.private_key ${loc.value} is a ${pq.key.asymmetricKeyType} key; x509.pq.* must name an ML-DSA-44/65/87 certificate and key`);
  }
  return pq;
}

function loadCertified(
  cert: Located<string>,
  keyLoc: Located<string>,
  checkKey: (loc: Located<string>) => void,
  section: string,
  prefix: string,
): CertifiedKey {
  const chain = at(cert, settingOf(cert, section, `${prefix}certificate`), () => loadCertChain(cert.value));
  checkKey(keyLoc);
  const key = at(keyLoc, settingOf(keyLoc, section, `${prefix}private_key`), () => loadPrivateKey(keyLoc.value));
  checkKeyMatches(chain[0], key, keyLoc, prefix);
  return { chain, key };
}

/**
 * What the identity files look like on disk (inode, size, mtime of each path: identityFilePaths
 * of every profile), so a certificate, key, CRL or trust store replaced in place is noticed
 * without a SIGHUP: tlshd re-reads them for every handshake, and hosts rotate certificates
 * relying on that. Comparing a stamp costs a stat() per file; re-parsing everything per handshake
 * would cost milliseconds. A trust-store directory is stamped by the directory itself (files
 * added or removed).
 */
export function identityFilesStamp(files: readonly string[]): string {
  const parts: string[] = [];
  for (const file of files) {
    try {
      const st = fs.statSync(file);
      parts.push(`${file}:${st.ino}:${st.size}:${st.mtimeMs}`);
    } catch {
      parts.push(`${file}:-`);
    }
  }
  return parts.join('|');
}

/** Every configured certificate, key, CRL and trust-store path of both roles (what identityFilesStamp looks at). */
export function identityFilePaths(config: AgentConfig): string[] {
  const files: string[] = [];
  for (const role of [config.client, config.server]) {
    const pairs = [role, ...(role.alternates ?? [])].flatMap((p) => [p.certificate, p.privateKey, p.pqCertificate, p.pqPrivateKey]);
    for (const loc of [role.truststore, role.crl, ...pairs]) if (loc) files.push(loc.value);
  }
  return files;
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

/** Runs a loader; its error (which names the file) becomes a ConfigError pointing at the config line and setting. */
/** How messages name the setting `loc` came from: `SECTION KEY`, or the [namespace.NAME] key that set it. */
function settingOf(loc: Located<string>, section: string, key: string): string {
  return loc.setting ?? `${section} ${key}`;
}

function at<T>(loc: Located<string>, setting: string, load: () => T): T {
  try {
    return load();
  } catch (e) {
    return fail(loc, `${setting}: ${(e as Error).message}`);
  }
}

function checkKeyMatches(leaf: Buffer, key: AsymmetricKey, loc: Located<string>, prefix: string): void {
  if (!keyMatchesCertificate(leaf, key)) {
    fail(loc, `${prefix}private_key ${loc.value} does not belong to the first certificate of ${prefix}certificate`);
  }
}

function fail(loc: Located<string>, reason: string): never {
  throw new ConfigError(loc.file, loc.line, reason);
}
