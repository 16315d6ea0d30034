/** Wire code points (RFC 8446 §4, §5, appendix B) the engine uses. */
import type { CipherSuiteName, SignatureSchemeName } from '../api';

export const ContentType = {
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
} as const;

export const HandshakeType = {
  client_hello: 1,
  server_hello: 2,
  new_session_ticket: 4,
  end_of_early_data: 5,
  encrypted_extensions: 8,
  certificate: 11,
  certificate_request: 13,
  certificate_verify: 15,
  finished: 20,
  key_update: 24,
  message_hash: 254,
} as const;

export const ExtensionType = {
  server_name: 0,
  supported_groups: 10,
  signature_algorithms: 13,
  alpn: 16,
  pre_shared_key: 41,
  early_data: 42,
  supported_versions: 43,
  cookie: 44,
  psk_key_exchange_modes: 45,
  certificate_authorities: 47,
  signature_algorithms_cert: 50,
  key_share: 51,
} as const;

export const TLS13 = 0x0304;
/** TLS 1.2's version number: what TLS 1.3 writes in every legacy_version field (RFC 8446 §4.1.2, §5.1). */
export const TLS12 = 0x0303;

export const SUITE_CODES: Record<CipherSuiteName, number> = {
  TLS_AES_128_GCM_SHA256: 0x1301,
  TLS_AES_256_GCM_SHA384: 0x1302,
  TLS_CHACHA20_POLY1305_SHA256: 0x1303,
  TLS_AES_128_CCM_SHA256: 0x1304,
};

export const SCHEME_CODES: Record<SignatureSchemeName, number> = {
  ecdsa_secp256r1_sha256: 0x0403,
  ecdsa_secp384r1_sha384: 0x0503,
  rsa_pss_rsae_sha256: 0x0804,
  rsa_pss_rsae_sha384: 0x0805,
  rsa_pss_rsae_sha512: 0x0806,
  ed25519: 0x0807,
  rsa_pss_pss_sha256: 0x0809,
  rsa_pss_pss_sha384: 0x080a,
  rsa_pss_pss_sha512: 0x080b,
  mldsa44: 0x0904,
  mldsa65: 0x0905,
  mldsa87: 0x0906,
};

function invert<K extends string>(m: Record<K, number>): Map<number, K> {
  return new Map(Object.entries(m).map(([k, v]) => [v as number, k as K]));
}

export const SUITE_BY_CODE = invert(SUITE_CODES);
export const SCHEME_BY_CODE = invert(SCHEME_CODES);

/**
 * RFC 8446 §4.1.3: the special ServerHello.random that marks a HelloRetryRequest
 * (SHA-256 of "HelloRetryRequest").
 */
export const HRR_RANDOM = Buffer.from(
  'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c',
  'hex',
);
