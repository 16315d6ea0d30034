/**
 * The interop matrix, CI-sized: instead of the full cross product (4 suites × 3 groups × 5 key
 * types × client auth × HRR × 3 peers × 2 roles), every peer in every role meets each suite,
 * each group, each server key type, both client key types and a forced HelloRetryRequest at
 * least once. Rows are shared by the client-role and server-role test files.
 */
import type { CipherSuiteName, GroupName, SignatureSchemeName } from '../../src/tls/api';
import type { ServerKeyName, ClientKeyName } from '../helpers/pki';

export interface MatrixRow {
  suite: CipherSuiteName;
  /** The group the handshake must end up using. */
  group: GroupName;
  serverKey: ServerKeyName;
  clientKey?: ClientKeyName;
  /** Force a HelloRetryRequest: the client's first key share is not one the server accepts. */
  hrr?: boolean;
}

export const MATRIX: MatrixRow[] = [
  { suite: 'TLS_AES_128_GCM_SHA256', group: 'x25519', serverKey: 'server-p256' },
  { suite: 'TLS_AES_256_GCM_SHA384', group: 'secp384r1', serverKey: 'server-p384', clientKey: 'client-p256' },
  { suite: 'TLS_CHACHA20_POLY1305_SHA256', group: 'secp256r1', serverKey: 'server-rsa2048', clientKey: 'client-rsa2048' },
  { suite: 'TLS_AES_128_CCM_SHA256', group: 'x25519', serverKey: 'server-rsapss2048' },
  { suite: 'TLS_AES_128_GCM_SHA256', group: 'secp256r1', serverKey: 'server-ed25519', clientKey: 'client-p256' },
  { suite: 'TLS_AES_256_GCM_SHA384', group: 'secp384r1', serverKey: 'server-p256', hrr: true },
  { suite: 'TLS_CHACHA20_POLY1305_SHA256', group: 'secp256r1', serverKey: 'server-p384', clientKey: 'client-rsa2048', hrr: true },
  // The groups beyond the common three (RFC 8446 §4.2.7; RFC 7919 finite-field groups).
  { suite: 'TLS_AES_256_GCM_SHA384', group: 'secp521r1', serverKey: 'server-p256' },
  { suite: 'TLS_AES_128_GCM_SHA256', group: 'x448', serverKey: 'server-ed25519', clientKey: 'client-p256' },
  { suite: 'TLS_AES_128_GCM_SHA256', group: 'ffdhe2048', serverKey: 'server-p256' },
  { suite: 'TLS_CHACHA20_POLY1305_SHA256', group: 'ffdhe4096', serverKey: 'server-rsa2048' },
];

/** Signature schemes a server with this key may pick in TLS 1.3 (RFC 8446 §4.2.3). */
export const SCHEMES_FOR_KEY: Record<ServerKeyName | ClientKeyName, SignatureSchemeName[]> = {
  'server-p256': ['ecdsa_secp256r1_sha256'],
  'server-p384': ['ecdsa_secp384r1_sha384'],
  'server-rsa2048': ['rsa_pss_rsae_sha256', 'rsa_pss_rsae_sha384', 'rsa_pss_rsae_sha512'],
  'server-rsapss2048': ['rsa_pss_pss_sha256', 'rsa_pss_pss_sha384', 'rsa_pss_pss_sha512'],
  'server-ed25519': ['ed25519'],
  'client-p256': ['ecdsa_secp256r1_sha256'],
  'client-rsa2048': ['rsa_pss_rsae_sha256', 'rsa_pss_rsae_sha384', 'rsa_pss_rsae_sha512'],
};

/**
 * The group whose key share goes first in an HRR row. NIST curves pair with each other because
 * GnuTLS sends one share per key type (one NIST, one X25519), which would satisfy the server.
 */
export function otherGroup(g: GroupName): GroupName {
  return g === 'secp256r1' ? 'secp384r1' : 'secp256r1';
}

/** Every group we offer, `first` first: its key share goes in the first ClientHello. */
export function groupsWithFirst(first: GroupName): GroupName[] {
  const all: GroupName[] = ['x25519', 'secp256r1', 'secp384r1'];
  return [first, ...all.filter((g) => g !== first)];
}

export function rowName(r: MatrixRow): string {
  return `${r.suite} ${r.group} ${r.serverKey}${r.clientKey ? ` +${r.clientKey}` : ''}${r.hrr ? ' HRR' : ''}`;
}
