/** The four kTLS-capable TLS 1.3 cipher suites. */
import type { CipherSuiteName, GroupName, SignatureSchemeName } from '../api';
import { GROUP_NAMES } from './groups';
import type { AeadName, HashName } from './provider';

export interface Suite {
  readonly name: CipherSuiteName;
  readonly hash: HashName;
  readonly aead: AeadName;
  readonly keyLen: number;
  readonly ivLen: number;
}

export const SUITES: Record<CipherSuiteName, Suite> = {
  TLS_AES_128_GCM_SHA256: { name: 'TLS_AES_128_GCM_SHA256', hash: 'sha256', aead: 'aes-128-gcm', keyLen: 16, ivLen: 12 },
  TLS_AES_256_GCM_SHA384: { name: 'TLS_AES_256_GCM_SHA384', hash: 'sha384', aead: 'aes-256-gcm', keyLen: 32, ivLen: 12 },
  TLS_CHACHA20_POLY1305_SHA256: {
    name: 'TLS_CHACHA20_POLY1305_SHA256',
    hash: 'sha256',
    aead: 'chacha20-poly1305',
    keyLen: 32,
    ivLen: 12,
  },
  TLS_AES_128_CCM_SHA256: { name: 'TLS_AES_128_CCM_SHA256', hash: 'sha256', aead: 'aes-128-ccm', keyLen: 16, ivLen: 12 },
};

export const DEFAULT_SUITES: CipherSuiteName[] = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_CCM_SHA256',
];

/**
 * Every implemented group, in the registry's order: a server answers any client OpenSSL would;
 * a client sends one key share (for the first) and lists the rest in supported_groups.
 */
export const DEFAULT_GROUPS: GroupName[] = [...GROUP_NAMES];

export const DEFAULT_SCHEMES: SignatureSchemeName[] = [
  'ecdsa_secp256r1_sha256',
  'ecdsa_secp384r1_sha384',
  'ed25519',
  'rsa_pss_rsae_sha256',
  'rsa_pss_rsae_sha384',
  'rsa_pss_rsae_sha512',
  'rsa_pss_pss_sha256',
  'rsa_pss_pss_sha384',
  'rsa_pss_pss_sha512',
];
