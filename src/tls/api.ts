/**
 * The contract of the TLS 1.3 engine: what the agent, the companion, the benchmarks and the
 * interop tests may rely on. The engine is sans-I/O: whole records in, bytes to send out.
 *
 * Reading discipline (why the engine takes one record at a time): every byte after the peer's
 * last handshake record belongs to the kernel consumer, so the socket reader asks the engine
 * for nothing but whole records and stops as soon as a step says 'done'.
 */
import type { KeyObject } from 'node:crypto';
import type { MlDsaKey } from './crypto/pq';

export const RECORD_HEADER_LEN = 5;
/** RFC 8446 §5.2: TLSCiphertext.length MUST NOT exceed 2^14 + 256. */
export const MAX_RECORD_BODY = 16384 + 256;

export type CipherSuiteName =
  | 'TLS_AES_128_GCM_SHA256'
  | 'TLS_AES_256_GCM_SHA384'
  | 'TLS_CHACHA20_POLY1305_SHA256'
  | 'TLS_AES_128_CCM_SHA256';

/** Key-exchange groups (RFC 8446 §4.2.7); each has one entry in src/tls/crypto/groups.ts. */
export type GroupName =
  | 'x25519'
  | 'secp256r1'
  | 'secp384r1'
  | 'secp521r1'
  | 'x448'
  | 'ffdhe2048'
  | 'ffdhe3072'
  | 'ffdhe4096'
  | 'ffdhe6144'
  | 'ffdhe8192'
  // Hybrid post-quantum groups (draft-ietf-tls-ecdhe-mlkem), by their IANA names.
  | 'X25519MLKEM768'
  | 'SecP256r1MLKEM768'
  | 'SecP384r1MLKEM1024';

export type SignatureSchemeName =
  | 'ecdsa_secp256r1_sha256'
  | 'ecdsa_secp384r1_sha384'
  | 'rsa_pss_rsae_sha256'
  | 'rsa_pss_rsae_sha384'
  | 'rsa_pss_rsae_sha512'
  | 'rsa_pss_pss_sha256'
  | 'rsa_pss_pss_sha384'
  | 'rsa_pss_pss_sha512'
  | 'ed25519'
  // draft-ietf-tls-mldsa: pure ML-DSA (FIPS 204), empty context.
  | 'mldsa44'
  | 'mldsa65'
  | 'mldsa87';

/**
 * A signing or verification key: a node:crypto KeyObject, or an ML-DSA key, which Node 20's
 * KeyObject cannot hold (src/tls/crypto/pq.ts).
 */
export type AsymmetricKey = KeyObject | MlDsaKey;

/** RFC 8446 §6 alert descriptions the engine sends or reports. */
export type AlertName =
  | 'close_notify'
  | 'unexpected_message'
  | 'bad_record_mac'
  | 'record_overflow'
  | 'handshake_failure'
  | 'bad_certificate'
  | 'unsupported_certificate'
  | 'certificate_revoked'
  | 'certificate_expired'
  | 'certificate_unknown'
  | 'illegal_parameter'
  | 'unknown_ca'
  | 'access_denied'
  | 'decode_error'
  | 'decrypt_error'
  | 'protocol_version'
  | 'insufficient_security'
  | 'internal_error'
  | 'inappropriate_fallback'
  | 'user_canceled'
  | 'missing_extension'
  | 'unsupported_extension'
  | 'unrecognized_name'
  | 'bad_certificate_status_response'
  | 'unknown_psk_identity'
  | 'certificate_required'
  | 'no_application_protocol';

/** Trust anchors and revocation lists, already parsed from PEM into DER. */
export interface TrustConfig {
  anchors: Buffer[];
  crls?: Buffer[];
  /**
   * Also enforce the strict profile (RFC 5280 issuer rules and Web PKI requirements that private
   * CAs often break): `x509.strict = yes`. Default false; docs/security.md lists the rules.
   */
  strict?: boolean;
}

/** A certificate chain (leaf first, DER) and its private key. */
export interface CertifiedKey {
  chain: Buffer[];
  key: AsymmetricKey;
}

/** An external PSK (RFC 8446 §4.2.11). */
export interface PskEntry {
  identity: Buffer;
  key: Buffer;
  hash: 'sha256' | 'sha384';
  /** Opaque tag for the caller, e.g. the key serial; reported back in SessionInfo.psk. */
  tag?: number;
}

export interface CommonConfig {
  /** Preference order; default: all four, AES-128-GCM first. */
  cipherSuites?: CipherSuiteName[];
  /**
   * Preference order. Default: the post-quantum hybrids, x25519, secp256r1, secp384r1, then every
   * other implemented group (docs/pq.md). A server picks a hybrid the client supports even at the
   * cost of a HelloRetryRequest.
   */
  groups?: GroupName[];
  signatureSchemes?: SignatureSchemeName[];
  /** ALPN protocol names; off when undefined. */
  alpn?: string[];
  /** Largest handshake message accepted, bytes (default 65536: a 10-certificate chain fits). */
  maxHandshakeMessageSize?: number;
  /** Most certificates on the peer's path besides the trust anchor (default 10; RFC 5280 §6.1 counts so). */
  maxChainLength?: number;
  /** Clock for certificate validity (default: new Date()). */
  now?: () => Date;
  /** Receives NSS key-log lines (SSLKEYLOGFILE format), without a trailing newline. */
  keyLog?: (line: string) => void;
}

export interface ClientConfig extends CommonConfig {
  /** The request's peername: a host name (sent as SNI) or an IP literal (no SNI; IP SAN match). */
  serverName?: string;
  /** Trust anchors for the server's chain. Required unless only PSKs are offered. */
  trust?: TrustConfig;
  /** Presented when the server sends CertificateRequest. */
  certificate?: CertifiedKey;
  /**
   * An ML-DSA certificate (tlshd's x509.pq.*), presented instead of `certificate` when the
   * server's CertificateRequest allows an ML-DSA scheme.
   */
  pqCertificate?: CertifiedKey;
  /** External PSKs, all offered in one ClientHello. */
  psks?: PskEntry[];
  /** Default psk_dhe_ke; psk_ke only when configured. */
  pskModes?: Array<'psk_dhe_ke' | 'psk_ke'>;
  /**
   * Groups the first ClientHello carries key shares for, each one of `groups`. Default: the
   * first group, plus x25519 when the first is a hybrid and x25519 is listed (docs/pq.md has the
   * measurements behind this).
   */
  keyShares?: GroupName[];
}

export interface ServerConfig extends CommonConfig {
  certificate?: CertifiedKey;
  /** An ML-DSA certificate (tlshd's x509.pq.*), presented to clients that offer an ML-DSA scheme. */
  pqCertificate?: CertifiedKey;
  /**
   * Chooses the certificates per ClientHello from its server_name (undefined without SNI); when
   * set, what it returns is presented instead of `certificate` and `pqCertificate`. createServer
   * still requires `certificate` (or a pskLookup) beside it, as the default it checks up front.
   * Called once per ClientHello (twice after a HelloRetryRequest: it must answer both alike).
   */
  certificateFor?: (serverName: string | undefined) => { certificate?: CertifiedKey; pqCertificate?: CertifiedKey };
  clientAuth: 'none' | 'optional' | 'required';
  /** Trust anchors for client certificates (clientAuth optional/required). */
  trust?: TrustConfig;
  /** Resolves a client's PSK identity; undefined → unknown_psk_identity. */
  pskLookup?: (identity: Buffer) => PskEntry | undefined;
  pskModes?: Array<'psk_dhe_ke' | 'psk_ke'>;
}

/** A failure: what went wrong, and which alert was (or should have been) sent. */
export class TlsError extends Error {
  constructor(
    /** The alert we sent, or, when peerAlert is set, the alert the peer sent us. */
    readonly alert: AlertName,
    message: string,
    /** True when the failure is the peer's fatal alert, not our own decision. */
    readonly peerAlert = false,
  ) {
    super(message);
    this.name = 'TlsError';
  }
}

export interface Step {
  /** Bytes to write to the socket now (whole records, possibly several), maybe empty. */
  send: Buffer;
  /** 'continue': read the next record; 'done': stop reading, take secrets(); 'failed': see error. */
  status: 'continue' | 'done' | 'failed';
  /** Set when status is 'failed'; `send` then holds our alert record, if one is owed. */
  error?: TlsError;
}

export interface TrafficKeys {
  key: Buffer;
  iv: Buffer;
  /** Sequence number of the next record in this direction. */
  seq: bigint;
}

export interface ExtractedSecrets {
  suite: CipherSuiteName;
  tx: TrafficKeys;
  rx: TrafficKeys;
}

export interface SessionInfo {
  suite: CipherSuiteName;
  group?: GroupName;
  /** The scheme of the server's CertificateVerify (both roles); undefined with a PSK. */
  signatureScheme?: SignatureSchemeName;
  /** The scheme of the client's CertificateVerify, when the client authenticated with a certificate. */
  clientSignatureScheme?: SignatureSchemeName;
  /** The peer's chain as sent (DER, leaf first); empty when none was sent. */
  peerCertificates: Buffer[];
  /** True when the peer's chain was verified to a trust anchor. */
  peerVerified: boolean;
  /** The PSK both sides agreed on, if any. */
  psk?: PskEntry;
  alpn?: string;
  /** SNI the client sent (server role) or we sent (client role). */
  serverName?: string;
  helloRetry: boolean;
}

export interface Connection {
  /** Client: the ClientHello. Server: nothing to send yet. */
  start(): Step;
  /** Feed exactly one record (5-byte header + body) as read from the socket. */
  receiveRecord(record: Buffer): Step;
  /** Application traffic keys, after a step returned 'done'. */
  secrets(): ExtractedSecrets;
  info(): SessionInfo;
  /** The alert record to send when the agent gives up (timeout, shutdown); encrypted when keys exist. */
  abort(alert: AlertName): Buffer;
}

/** Options for certificate path validation (src/tls/x509). */
export interface ChainVerifyOptions {
  /** The peer's chain, leaf first, DER. */
  chain: Buffer[];
  trust: TrustConfig;
  now: Date;
  purpose: 'serverAuth' | 'clientAuth';
  /** Host name or IP literal to match against the leaf (RFC 9525); undefined = no name check. */
  name?: string;
  /**
   * Most certificates on the path besides the trust anchor (RFC 5280 §6.1 counts a path's length
   * without it). The peer may send one more: the root, which is then ignored.
   */
  maxChainLength: number;
}

export type ChainVerifyResult =
  | { ok: true; leafPublicKey: AsymmetricKey; path: Buffer[] }
  | { ok: false; alert: AlertName; reason: string };
