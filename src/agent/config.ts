/**
 * The agent's configuration: tlshd's configuration file (same paths, sections and keys, so a host
 * switches agents without rewriting it) plus a `[handshaked]` section of our own.
 *
 * Unlike tlshd, which reads a bad integer as 0, a bad value stops start-up (or a reload) with
 * `file:line` and the reason: a typo in a security setting should not silently become a default.
 * Keys we do not know only warn, so a file written for a newer tlshd still loads.
 * The result is deeply frozen: a reload builds a new object and in-flight handshakes keep theirs.
 */
import fs from 'node:fs';
import os from 'node:os';
import { FileRefusedError, readRegularFile } from '../sys/files';
import type { CipherSuiteName, GroupName } from '../tls/api';
import { GROUP_NAMES } from '../tls/crypto/groups';
import { KeyFileSyntaxError, parseKeyFile, splitList, stringValue, type KeyFile, type KeyFileEntry } from './keyfile';
import { parseNamespacesSetting, type NamespacesSetting } from './netns';
import { NAMESPACE_SECTION, namespaceKeys, parseNamespaceSection, type NamespaceOverride } from './ns-config';
import { parsePatternList, parsePeerPattern, parsePskPattern } from './peer-policy';

export const CONFIG_PATH = '/etc/tlshd/config';
export const LEGACY_CONFIG_PATH = '/etc/tlshd.conf';

export type LogFormat = 'text' | 'json';

/** A value from the file with the line it came from, so later checks can point at it. */
export interface Located<T> {
  readonly value: T;
  readonly file: string;
  readonly line: number;
  /**
   * The section and key that set it, for messages about it, when that is not the
   * `[authenticate.ROLE]` key its field stands for: `[namespace.NAME] server.x509.certificate`.
   */
  readonly setting?: string;
}

/** `[authenticate.client]` / `[authenticate.server]`: PEM file paths, and how peers are verified. */
export interface X509Settings {
  readonly truststore?: Located<string>;
  readonly crl?: Located<string>;
  readonly certificate?: Located<string>;
  readonly privateKey?: Located<string>;
  /** `x509.strict`: also enforce the strict certificate profile on the peer's chain (docs/security.md). */
  readonly strict?: boolean;
  /**
   * `[authenticate.server] x509.client_certificate`: whether the server sends CertificateRequest
   * (`request`, the default, as tlshd always does), demands a certificate (`require`: a client
   * without one gets certificate_required and the consumer EACCES) or sends none (`none`).
   */
  readonly clientCertificate?: ClientCertificatePolicy;
  /** `x509.pq.certificate` / `x509.pq.private_key`: the ML-DSA identity presented to peers that accept it. */
  readonly pqCertificate?: Located<string>;
  readonly pqPrivateKey?: Located<string>;
  /** handshaked's own `[authenticate.ROLE.certificate.NAME]` sections, in file order (docs/serve.md "Per-peer certificates and access"). */
  readonly alternates?: readonly AlternateCertificate[];
  /** handshaked's own `[authenticate.server] x509.allowed_peers`: who may connect with a certificate. */
  readonly allowedPeers?: Located<readonly string[]>;
  /** handshaked's own `[authenticate.server] psk.allowed_identities`: which PSK identities may connect. */
  readonly allowedPskIdentities?: Located<readonly string[]>;
}

/** One `[authenticate.ROLE.certificate.NAME]` section: another certificate/key pair and (client) the peers it is for. */
export interface AlternateCertificate {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly certificate?: Located<string>;
  readonly privateKey?: Located<string>;
  readonly pqCertificate?: Located<string>;
  readonly pqPrivateKey?: Located<string>;
  /** Client role: `peers`, the peer names this pair is presented to. */
  readonly peers?: Located<readonly string[]>;
}

export type ClientCertificatePolicy = 'request' | 'require' | 'none';
export const CLIENT_CERTIFICATE_POLICIES: readonly ClientCertificatePolicy[] = ['request', 'require', 'none'];

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface AgentConfig {
  /** The file this came from; undefined when no file exists and built-in defaults are used. */
  readonly file?: string;
  readonly debug: {
    /** > 0 turns on debug logging (tlshd: LOG_DEBUG and per-handshake lines). */
    readonly loglevel: number;
    readonly tls: number;
    readonly nl: number;
    /** tlshd's undocumented `delay_done` (seconds in the file): wait before DONE, to test kernel timeouts. */
    readonly delayDoneMs: number;
  };
  /** `[authenticate] keyrings`: names linked for every handshake, besides .nvme, .nfs, .nfsd. */
  readonly keyrings: readonly string[];
  readonly client: X509Settings;
  readonly server: X509Settings;
  /** `[handshaked]` */
  /** Handshakes doing work at once (docs/serve.md "Bounds"). */
  readonly maxInflight: number;
  /** Handshakes held at once, working or waiting on their peer. */
  readonly maxHandshakes: number;
  /** Give up on a peer silent this long while a handshake waits for it; 0: never. */
  readonly peerIdleTimeoutMs: number;
  /** Worker threads running handshakes; 0: all on the main thread. */
  readonly workers: number;
  readonly defaultTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly unixSocket?: string;
  readonly allowUids: readonly number[];
  readonly allowGids: readonly number[];
  readonly metrics?: HostPort;
  readonly logFormat: LogFormat;
  readonly logLevel?: LogLevel;
  readonly cipherSuites?: readonly CipherSuiteName[];
  readonly groups?: readonly GroupName[];
  /** `psk_modes`: external PSK key exchange modes offered (client) and accepted (server); default psk_dhe_ke. */
  readonly pskModes?: readonly PskModeName[];
  /** What to do about a private key file that group/other can access or another user owns. */
  readonly keyFileModeCheck: KeyFileModeCheck;
  /** `[handshaked] namespaces`: which network namespaces the kernel transport serves (ns-config.ts, netns.ts). */
  readonly namespaces: NamespacesSetting;
  /** `[namespace.NAME]` sections, in file order. */
  readonly namespaceOverrides: readonly NamespaceOverride[];
}

export type KeyFileModeCheck = 'warn' | 'refuse' | 'off';

export type PskModeName = 'psk_dhe_ke' | 'psk_ke';
export const PSK_MODES: readonly PskModeName[] = ['psk_dhe_ke', 'psk_ke'];

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export const CIPHER_SUITES: readonly CipherSuiteName[] = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_CCM_SHA256',
];
export const GROUPS: readonly GroupName[] = GROUP_NAMES;

export const DEFAULTS = {
  maxInflight: 64,
  /** The ceiling of the default max_handshakes, which is lower when the fd limit is. */
  maxHandshakes: 4096,
  /** Three times the default deadline: a peer this silent is gone, an overloaded one rarely is. */
  peerIdleTimeoutMs: 30000,
  /** The ceiling of the default number of workers (one per CPU the process may use, less one). */
  maxDefaultWorkers: 32,
  defaultTimeoutMs: 10000,
  shutdownGraceMs: 5000,
  allowUids: [0],
} as const;

/**
 * The largest timeout any key takes (one hour). Well below 2^31 ms, where Node's timers wrap and
 * fire at once; a consumer's own timeout is clamped to that instead (dispatcher MAX_TIMER_MS).
 */
export const MAX_TIMEOUT_MS = 3_600_000;
/** More workers than this only add memory: the main thread's share of each handshake caps it. */
export const MAX_WORKERS = 256;
/** fds the agent keeps for itself (netlink, unix listener, logs, metrics, Node's own). */
const RESERVED_FDS = 256;

/**
 * Default max_handshakes: 4096, lower when the fd limit is (a held handshake costs two fds,
 * the one it arrived on and the dup it is read through), never below max_inflight's default.
 */
export function defaultMaxHandshakes(nofile = openFilesLimit()): number {
  if (nofile === undefined) return DEFAULTS.maxHandshakes;
  return Math.max(DEFAULTS.maxInflight, Math.min(DEFAULTS.maxHandshakes, Math.floor((nofile - RESERVED_FDS) / 2)));
}

/** The soft RLIMIT_NOFILE, from /proc/self/limits; undefined when it cannot be read or is unlimited. */
function openFilesLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Default workers for a process that may run on `cpus` CPUs: none on one or two (the main thread
 * runs every handshake), else one per CPU but the main thread's, at most
 * DEFAULTS.maxDefaultWorkers. The main thread keeps the transports, the dispatcher, the log line
 * and every worker's messages busy; on two CPUs a worker can only take CPU from it (and from the
 * kernel's side of the sockets), and measured it made each certificate handshake cost more CPU
 * and the agent 35-60 MiB larger for at best the same handshakes/s (docs/bench.md, "The shipped
 * workers default").
 */
export function defaultWorkers(cpus = os.availableParallelism()): number {
  if (!Number.isFinite(cpus) || cpus <= 2) return 0;
  return Math.min(DEFAULTS.maxDefaultWorkers, Math.floor(cpus) - 1);
}

export interface ConfigWarning {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

/** A configuration the agent must not start with. `file:line: why` in the message. */
export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    reason: string,
  ) {
    super(line === undefined ? `${file}: ${reason}` : `${file}:${line}: ${reason}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  readonly config: AgentConfig;
  readonly warnings: readonly ConfigWarning[];
  /** Things an operator may want to know (legacy path in use, no file found). */
  readonly notices: readonly string[];
}

export interface LoadOptions {
  /** `-c FILE`: must exist. */
  path?: string;
  /** Where to look without `-c` (tests point this elsewhere). */
  searchPaths?: readonly string[];
}

/** Find and parse the configuration file: `-c`, else /etc/tlshd/config, else /etc/tlshd.conf. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  if (opts.path !== undefined) return parseConfigFile(opts.path);
  const search = opts.searchPaths ?? [CONFIG_PATH, LEGACY_CONFIG_PATH];
  for (const p of search) {
    if (!fs.existsSync(p)) continue;
    const loaded = parseConfigFile(p);
    if (p === LEGACY_CONFIG_PATH) {
      return { ...loaded, notices: [...loaded.notices, `using the legacy ${LEGACY_CONFIG_PATH}; consider moving it to ${CONFIG_PATH}`] };
    }
    return loaded;
  }
  return {
    config: deepFreeze(defaultConfig()),
    warnings: [],
    notices: [`no configuration file (looked for ${search.join(', ')}); using built-in defaults`],
  };
}

export function parseConfigFile(path: string): LoadedConfig {
  let text: string;
  try {
    text = readRegularFile(path, 'config').toString('utf8');
  } catch (e) {
    const why = e instanceof FileRefusedError ? e.detail : ((e as NodeJS.ErrnoException).code ?? String(e));
    throw new ConfigError(path, undefined, `cannot read the configuration file: ${why}`);
  }
  return parseConfigText(text, path);
}

export function defaultConfig(): AgentConfig {
  return {
    debug: { loglevel: 0, tls: 0, nl: 0, delayDoneMs: 0 },
    keyrings: [],
    client: {},
    server: {},
    maxInflight: DEFAULTS.maxInflight,
    maxHandshakes: defaultMaxHandshakes(),
    peerIdleTimeoutMs: DEFAULTS.peerIdleTimeoutMs,
    workers: defaultWorkers(),
    defaultTimeoutMs: DEFAULTS.defaultTimeoutMs,
    shutdownGraceMs: DEFAULTS.shutdownGraceMs,
    allowUids: DEFAULTS.allowUids,
    allowGids: [],
    logFormat: 'text',
    // tlshd does not check; warning keeps existing hosts starting while telling the operator.
    keyFileModeCheck: 'warn',
    namespaces: { mode: 'self' },
    namespaceOverrides: [],
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** Known keys of each section: value parser writing into the config under construction. */
type KeyHandler = (cfg: Mutable<AgentConfig>, e: KeyFileEntry, file: string) => void;

const X509_KEYS: Record<string, keyof X509Settings> = {
  'x509.truststore': 'truststore',
  'x509.crl': 'crl',
  'x509.certificate': 'certificate',
  'x509.private_key': 'privateKey',
  'x509.pq.certificate': 'pqCertificate',
  'x509.pq.private_key': 'pqPrivateKey',
};

/** tlshd keys we read past on purpose: a warning says what is not supported. None at present. */
const UNSUPPORTED: Record<string, string> = {};

/** Where a file-path key of a role section or a per-peer section writes. */
type PathTarget = (cfg: Mutable<AgentConfig>) => Record<string, Located<string>>;

function pathKeys(keys: readonly string[], target: PathTarget): Record<string, KeyHandler> {
  return Object.fromEntries(keys.map((key) => [key, (cfg: Mutable<AgentConfig>, e: KeyFileEntry, file: string) => (target(cfg)[X509_KEYS[key]] = pathEntry(e, file, key, 'use the default'))]));
}

/** A file path from the file, located; an empty one is an error saying what removing the line (`instead`) does. */
function pathEntry(e: KeyFileEntry, file: string, key: string, instead: string): Located<string> {
  const value = stringValue(e.value);
  if (value === '') throw new ConfigError(file, e.line, `${key} is empty; remove the line to ${instead}`);
  return { value, file, line: e.line };
}

/**
 * A pattern-list key, kept as written (the configuration stays plain data a worker thread can
 * receive); every item is parsed now, so a bad one stops the load with its line.
 */
function patterns(e: KeyFileEntry, file: string, key: string, parse: (item: string) => unknown): Located<readonly string[]> {
  const items = splitList(e.value);
  try {
    parsePatternList(items, parse);
    return { value: items, file, line: e.line };
  } catch (err) {
    throw new ConfigError(file, e.line, `${key}: ${(err as Error).message}`);
  }
}

const ALTERNATE_SECTION = /^authenticate\.(client|server)\.certificate\.(.+)$/;

/** Handlers for `[authenticate.ROLE.certificate.NAME]`; the section is recorded (in file order) when first seen. */
function alternateSection(group: string, line: number, file: string, cfg: Mutable<AgentConfig>): Record<string, KeyHandler> | undefined {
  const m = ALTERNATE_SECTION.exec(group);
  if (!m) return undefined;
  const role = m[1] as 'client' | 'server';
  const entry: Mutable<AlternateCertificate> = { name: m[2], file, line };
  cfg[role].alternates = [...(cfg[role].alternates ?? []), entry];
  const handlers = pathKeys(Object.keys(X509_KEYS).filter((k) => /certificate|private_key/.test(k)), () => entry as unknown as Record<string, Located<string>>);
  if (role === 'client') handlers.peers = (_c, e, f) => (entry.peers = patterns(e, f, 'peers', (item) => parsePeerPattern(item, false)));
  return handlers;
}

function sections(): Record<string, Record<string, KeyHandler>> {
  const x509 = (role: 'client' | 'server'): Record<string, KeyHandler> => ({
    ...pathKeys(Object.keys(X509_KEYS), (cfg) => cfg[role] as Record<string, Located<string>>),
    'x509.strict': (cfg, e, file) => (cfg[role].strict = bool(e, file, 'x509.strict')),
  });
  return {
    debug: {
      loglevel: (c, e, f) => (c.debug.loglevel = int(e, f, 'loglevel', 0, 1_000_000)),
      tls: (c, e, f) => (c.debug.tls = int(e, f, 'tls', 0, 1_000_000)),
      nl: (c, e, f) => (c.debug.nl = int(e, f, 'nl', 0, 1_000_000)),
      delay_done: (c, e, f) => (c.debug.delayDoneMs = int(e, f, 'delay_done', 0, 3600) * 1000),
    },
    authenticate: {
      keyrings: (c, e) => (c.keyrings = splitList(e.value)),
    },
    'authenticate.client': x509('client'),
    'authenticate.server': {
      ...x509('server'),
      'x509.client_certificate': (c, e, f) => (c.server.clientCertificate = oneOf(e, f, 'x509.client_certificate', CLIENT_CERTIFICATE_POLICIES)),
      'x509.allowed_peers': (c, e, f) => (c.server.allowedPeers = patterns(e, f, 'x509.allowed_peers', (item) => parsePeerPattern(item, true))),
      'psk.allowed_identities': (c, e, f) => (c.server.allowedPskIdentities = patterns(e, f, 'psk.allowed_identities', parsePskPattern)),
    },
    handshaked: {
      max_inflight: (c, e, f) => (c.maxInflight = int(e, f, 'max_inflight', 1, 100_000)),
      max_handshakes: (c, e, f) => (c.maxHandshakes = int(e, f, 'max_handshakes', 1, 1_000_000)),
      peer_idle_timeout_ms: (c, e, f) => (c.peerIdleTimeoutMs = int(e, f, 'peer_idle_timeout_ms', 0, MAX_TIMEOUT_MS)),
      workers: (c, e, f) => (c.workers = int(e, f, 'workers', 0, MAX_WORKERS)),
      default_timeout_ms: (c, e, f) => (c.defaultTimeoutMs = int(e, f, 'default_timeout_ms', 1, MAX_TIMEOUT_MS)),
      shutdown_grace_ms: (c, e, f) => (c.shutdownGraceMs = int(e, f, 'shutdown_grace_ms', 0, MAX_TIMEOUT_MS)),
      unix_socket: (c, e, f) => {
        const v = stringValue(e.value);
        if (v === '' || v === '@') throw new ConfigError(f, e.line, 'unix_socket needs a path (or @name for the abstract namespace)');
        c.unixSocket = v;
      },
      allow_uids: (c, e, f) => (c.allowUids = idList(e, f, 'allow_uids')),
      allow_gids: (c, e, f) => (c.allowGids = idList(e, f, 'allow_gids')),
      metrics: (c, e, f) => {
        try {
          c.metrics = parseHostPort(stringValue(e.value));
        } catch (err) {
          throw new ConfigError(f, e.line, (err as Error).message);
        }
      },
      log_format: (c, e, f) => (c.logFormat = oneOf(e, f, 'log_format', ['text', 'json'] as const)),
      log_level: (c, e, f) => (c.logLevel = oneOf(e, f, 'log_level', LOG_LEVELS)),
      cipher_suites: (c, e, f) => (c.cipherSuites = nameList(e, f, 'cipher_suites', CIPHER_SUITES)),
      groups: (c, e, f) => (c.groups = nameList(e, f, 'groups', GROUPS)),
      psk_modes: (c, e, f) => (c.pskModes = nameList(e, f, 'psk_modes', PSK_MODES)),
      key_file_mode_check: (c, e, f) => (c.keyFileModeCheck = oneOf(e, f, 'key_file_mode_check', ['warn', 'refuse', 'off'] as const)),
      namespaces: (c, e, f) => {
        try {
          c.namespaces = parseNamespacesSetting(splitList(e.value)) as Mutable<NamespacesSetting>;
        } catch (err) {
          throw new ConfigError(f, e.line, (err as Error).message);
        }
      },
    },
  };
}

/**
 * Every key the file may set, by section: the table parseConfigText reads by. `serve --help` and
 * docs/serve.md describe exactly these (test/cli/config-help.test.ts holds them to it).
 */
export function configKeys(): Record<string, readonly string[]> {
  return Object.fromEntries(Object.entries(sections()).map(([name, keys]) => [name, Object.keys(keys)]));
}

/**
 * The keys of the sections named by a pattern, as their parsers read them:
 * `[authenticate.ROLE.certificate.NAME]` and `[namespace.NAME]`. docs/serve.md names each of
 * them (test/cli/config-help.test.ts holds it to that).
 */
export function patternSectionKeys(): Record<string, readonly string[]> {
  const alternate = (role: 'client' | 'server') =>
    Object.keys(alternateSection(`authenticate.${role}.certificate.NAME`, 0, '', defaultConfig() as Mutable<AgentConfig>) ?? {});
  return {
    'authenticate.server.certificate.NAME': alternate('server'),
    'authenticate.client.certificate.NAME': alternate('client'),
    'namespace.NAME': namespaceKeys(X509_KEYS),
  };
}

export function parseConfigText(text: string, file: string): LoadedConfig {
  let kf: KeyFile;
  try {
    kf = parseKeyFile(text, file);
  } catch (e) {
    if (e instanceof KeyFileSyntaxError) throw new ConfigError(e.file, e.line, e.message.slice(`${e.file}:${e.line}: `.length));
    throw e;
  }
  const cfg = defaultConfig() as Mutable<AgentConfig>;
  cfg.file = file;
  const warnings: ConfigWarning[] = [];
  const known = sections();
  const overrides: NamespaceOverride[] = [];
  for (const group of kf.groups.values()) {
    if (group.name.startsWith(NAMESPACE_SECTION)) {
      const o = parseNamespaceSection(group, { file, warnings, x509Keys: X509_KEYS, path: (e, key, instead) => pathEntry(e, file, key, instead), error: (line, why) => new ConfigError(file, line, why) });
      for (const role of ['client', 'server'] as const) checkPairs(o[role], `[${group.name}]`, file, undefined, `${role}.`);
      overrides.push(o);
      continue;
    }
    // Own properties only: a section or key named "__proto__" or "constructor" must not reach Object.prototype.
    const handlers = Object.hasOwn(known, group.name) ? known[group.name] : alternateSection(group.name, group.line, file, cfg);
    if (!handlers) {
      warnings.push({ file, line: group.line, message: `unknown section [${group.name}] ignored` });
      continue;
    }
    for (const [key, entry] of group.entries) {
      const handler = Object.hasOwn(handlers, key) ? handlers[key] : undefined;
      if (handler) handler(cfg, entry, file);
      else if (Object.hasOwn(UNSUPPORTED, key)) warnings.push({ file, line: entry.line, message: `[${group.name}] ${key}: ${UNSUPPORTED[key]}` });
      else warnings.push({ file, line: entry.line, message: `unknown key "${key}" in [${group.name}] ignored` });
    }
  }
  for (const role of ['client', 'server'] as const) {
    checkPairs(cfg[role], `[authenticate.${role}]`, file);
    for (const alt of cfg[role].alternates ?? []) {
      const section = `[authenticate.${role}.certificate.${alt.name}]`;
      checkPairs(alt, section, file, alt.line);
      if (role === 'client' && !alt.peers) throw new ConfigError(file, alt.line, `${section} has no peers = ...; say which servers this certificate is for`);
    }
  }
  cfg.namespaceOverrides = overrides as Mutable<NamespaceOverride>[];
  return { config: deepFreeze(cfg as AgentConfig), warnings, notices: [] };
}

/**
 * Certificate and key come in pairs; a per-peer section (its line given) needs at least one pair.
 * `keyPrefix` is what the section writes before `x509.` (a [namespace.NAME] section's `client.`).
 */
function checkPairs(
  s: Pick<X509Settings, 'certificate' | 'privateKey' | 'pqCertificate' | 'pqPrivateKey'>,
  section: string,
  file: string,
  sectionLine?: number,
  keyPrefix = '',
): void {
  for (const [cert, key, x509] of [[s.certificate, s.privateKey, 'x509.'], [s.pqCertificate, s.pqPrivateKey, 'x509.pq.']] as const) {
    if ((cert === undefined) === (key === undefined)) continue;
    const prefix = keyPrefix + x509;
    throw new ConfigError(
      file,
      (cert ?? key)?.line,
      `${section} sets ${prefix}${cert ? 'certificate' : 'private_key'} without ${prefix}${cert ? 'private_key' : 'certificate'}; set both or neither`,
    );
  }
  if (sectionLine !== undefined && !s.certificate && !s.pqCertificate) {
    throw new ConfigError(file, sectionLine, `${section} names no certificate: set x509.certificate and x509.private_key (or x509.pq.*)`);
  }
}

function int(e: KeyFileEntry, file: string, key: string, min: number, max: number): number {
  const v = e.value.trim();
  if (!/^[+-]?\d+$/.test(v)) throw new ConfigError(file, e.line, `${key} = ${JSON.stringify(e.value)} is not an integer`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(file, e.line, `${key} = ${n} is out of range (${min}..${max})`);
  return n;
}

/** GLib's true/false/1/0, plus yes/no as people write them. */
function bool(e: KeyFileEntry, file: string, key: string): boolean {
  const v = stringValue(e.value).trim().toLowerCase();
  if (['yes', 'true', '1'].includes(v)) return true;
  if (['no', 'false', '0'].includes(v)) return false;
  throw new ConfigError(file, e.line, `${key} = ${JSON.stringify(e.value)}: expected yes or no (true/false, 1/0)`);
}

function idList(e: KeyFileEntry, file: string, key: string): number[] {
  return splitList(e.value).map((item) => {
    if (!/^\d+$/.test(item) || Number(item) > 0xfffffffe) {
      throw new ConfigError(file, e.line, `${key}: ${JSON.stringify(item)} is not a numeric id (0..4294967294)`);
    }
    return Number(item);
  });
}

function oneOf<T extends string>(e: KeyFileEntry, file: string, key: string, allowed: readonly T[]): T {
  const v = stringValue(e.value).trim();
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(file, e.line, `${key} = ${JSON.stringify(v)}: expected one of ${allowed.join(', ')}`);
  }
  return v as T;
}

function nameList<T extends string>(e: KeyFileEntry, file: string, key: string, allowed: readonly T[]): T[] {
  const items = splitList(e.value);
  if (items.length === 0) throw new ConfigError(file, e.line, `${key} is empty; remove the line to use the default`);
  const seen = new Set<string>();
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new ConfigError(file, e.line, `${key}: unknown name ${JSON.stringify(item)}; supported: ${allowed.join(', ')}`);
    }
    if (seen.has(item)) throw new ConfigError(file, e.line, `${key}: ${item} is listed twice`);
    seen.add(item);
  }
  return items as T[];
}

/** `HOST:PORT` or `[v6]:PORT`. Port 0 asks the OS for a free port (tests). */
export function parseHostPort(s: string): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s);
  if (!m) throw new Error(`metrics address ${JSON.stringify(s)} is not HOST:PORT (IPv6 as [ADDR]:PORT)`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`metrics port ${port} is out of range (0..65535)`);
  return { host: m[1], port };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}
