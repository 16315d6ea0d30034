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
 * Post-quantum hybrids first (docs/pq.md has the costs behind that order), then the classical
 * groups most peers use, then every other implemented group, so a server answers any client
 * OpenSSL would. A client sends key shares as `ClientConfig.keyShares` says.
 */
const PREFERRED_GROUPS: GroupName[] = ['X25519MLKEM768', 'SecP256r1MLKEM768', 'SecP384r1MLKEM1024', 'x25519', 'secp256r1', 'secp384r1'];
export const DEFAULT_GROUPS: GroupName[] = [...PREFERRED_GROUPS, ...GROUP_NAMES.filter((g) => !PREFERRED_GROUPS.includes(g))];

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
  'mldsa65',
  'mldsa87',
  'mldsa44',
];
