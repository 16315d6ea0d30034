/**
 * The one seam between the engine and cryptography. Everything the handshake needs is here,
 * synchronous; the node:crypto implementation lives in ./node.ts. Keeping it this small
 * lets a test or a future provider (a FIPS module, a hardware key) replace it whole.
 */
import type { KeyObject } from 'node:crypto';
import type { GroupName, SignatureSchemeName } from '../api';
import type { KeyExchangeGroup } from './groups';

export type HashName = 'sha256' | 'sha384';
export type AeadName = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305' | 'aes-128-ccm';

/** A running hash that can report its current digest without being finalised. */
export interface RunningHash {
  update(data: Buffer): void;
  /** Digest of everything so far, plus `extra` if given; the hash itself is unchanged. */
  snapshot(extra?: Buffer): Buffer;
}

export interface Aead {
  readonly keyLen: number;
  seal(nonce: Buffer, aad: Buffer, plaintext: Buffer): Buffer;
  /** undefined when authentication fails. */
  open(nonce: Buffer, aad: Buffer, ciphertext: Buffer): Buffer | undefined;
}

/** The client's half of one key exchange. */
export interface KeyShare {
  readonly group: GroupName;
  /** The key_exchange bytes we send. */
  readonly publicKey: Buffer;
  /** The shared secret; throws TlsError(illegal_parameter) for an invalid peer share. */
  agree(peerPublic: Buffer): Buffer;
}

export interface CryptoProvider {
  hashLen(alg: HashName): number;
  hash(alg: HashName): RunningHash;
  digest(alg: HashName, data: Buffer): Buffer;
  hmac(alg: HashName, key: Buffer, data: Buffer): Buffer;
  random(n: number): Buffer;
  aead(alg: AeadName, key: Buffer): Aead;
  /** The registry entry of a key-exchange group (./groups.ts), undefined when not implemented. */
  keyExchange(group: GroupName): KeyExchangeGroup | undefined;
  sign(scheme: SignatureSchemeName, key: KeyObject, data: Buffer): Buffer;
  verify(scheme: SignatureSchemeName, key: KeyObject, data: Buffer, signature: Buffer): boolean;
  /** Constant-time comparison for MACs and binders. */
  equal(a: Buffer, b: Buffer): boolean;
}
