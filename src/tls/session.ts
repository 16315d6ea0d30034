/**
 * What every handshake state shares: the resolved configuration, the crypto provider, the
 * record layer, and the facts gathered for SessionInfo. States own the rest.
 */
import type {
  CipherSuiteName,
  CommonConfig,
  ExtractedSecrets,
  GroupName,
  PskEntry,
  SignatureSchemeName,
} from './api';
import type { KeyExchangeGroup } from './crypto/groups';
import type { CryptoProvider } from './crypto/provider';
import { DEFAULT_GROUPS, DEFAULT_SCHEMES, DEFAULT_SUITES, SUITES, type Suite } from './crypto/suites';
import type { TestHooks } from './hooks';
import { RecordLayer } from './record/layer';
import { nodeCrypto } from './crypto/node';
import { defaultChainVerifier, type ChainVerifier } from './verify';

/** The longest handshake message accepted when the config does not say (ClientConfig/ServerConfig.maxHandshakeMessageSize). */
export const DEFAULT_MAX_HANDSHAKE_MESSAGE = 65536;

export interface Resolved {
  suites: Suite[];
  groups: GroupName[];
  schemes: SignatureSchemeName[];
  alpn?: string[];
  maxMessage: number;
  maxChain: number;
  now: () => Date;
  keyLog?: (line: string) => void;
}

function unique<T>(xs: T[], what: string): T[] {
  if (new Set(xs).size !== xs.length) throw new Error(`${what} lists an entry twice`);
  return xs;
}

export function resolveCommon(cfg: CommonConfig, crypto: CryptoProvider): Resolved {
  const suiteNames: CipherSuiteName[] = unique(cfg.cipherSuites ?? DEFAULT_SUITES, 'cipherSuites');
  if (suiteNames.length === 0) throw new Error('cipherSuites is empty');
  for (const s of suiteNames) if (!SUITES[s]) throw new Error(`unknown cipher suite ${String(s)}`);
  const groups = unique(cfg.groups ?? DEFAULT_GROUPS, 'groups');
  if (groups.length === 0) throw new Error('groups is empty');
  for (const g of groups) if (!crypto.keyExchange(g)) throw new Error(`key exchange group ${g} is not supported`);
  const schemes = unique(cfg.signatureSchemes ?? DEFAULT_SCHEMES, 'signatureSchemes');
  if (schemes.length === 0) throw new Error('signatureSchemes is empty');
  if (cfg.alpn) {
    if (cfg.alpn.length === 0) throw new Error('alpn is an empty list (leave it undefined to turn ALPN off)');
    for (const p of cfg.alpn) {
      if (p.length === 0 || Buffer.byteLength(p, 'latin1') > 255) throw new Error(`ALPN name "${p}" must be 1..255 bytes`);
    }
  }
  return {
    suites: suiteNames.map((s) => SUITES[s]),
    groups,
    schemes,
    alpn: cfg.alpn,
    maxMessage: cfg.maxHandshakeMessageSize ?? DEFAULT_MAX_HANDSHAKE_MESSAGE,
    maxChain: cfg.maxChainLength ?? 10,
    now: cfg.now ?? (() => new Date()),
    keyLog: cfg.keyLog,
  };
}

export class Session {
  readonly crypto: CryptoProvider;
  readonly records: RecordLayer;
  readonly verifier: ChainVerifier;

  // Facts for SessionInfo, filled in as the handshake learns them.
  suite?: Suite;
  group?: GroupName;
  signatureScheme?: SignatureSchemeName;
  clientSignatureScheme?: SignatureSchemeName;
  peerCertificates: Buffer[] = [];
  peerVerified = false;
  psk?: PskEntry;
  alpn?: string;
  serverName?: string;
  helloRetry = false;
  clientRandom?: Buffer;

  /** Set by the final state. */
  secrets?: ExtractedSecrets;

  constructor(readonly cfg: Resolved, readonly hooks: TestHooks, readonly isClient: boolean) {
    this.crypto = hooks.crypto ?? nodeCrypto;
    this.records = new RecordLayer(this.crypto, cfg.maxMessage, isClient);
    this.verifier = hooks.verifyChain ?? defaultChainVerifier;
  }

  /** The registry entry of a configured group (resolveCommon checked that each exists). */
  kx(group: GroupName): KeyExchangeGroup {
    const g = this.crypto.keyExchange(group);
    if (!g) throw new Error(`key exchange group ${group} is not implemented`);
    return g;
  }

  /** The configured group with this code point, if any. */
  kxByCode(code: number): KeyExchangeGroup | undefined {
    for (const name of this.cfg.groups) {
      const g = this.kx(name);
      if (g.code === code) return g;
    }
    return undefined;
  }

  random(): Buffer {
    return this.hooks.random ? Buffer.from(this.hooks.random) : this.crypto.random(32);
  }

  /** NSS key log line; the secret never goes anywhere else. */
  logKey(label: string, secret: Buffer): void {
    if (this.cfg.keyLog && this.clientRandom) {
      this.cfg.keyLog(`${label} ${this.clientRandom.toString('hex')} ${secret.toString('hex')}`);
    }
  }
}
