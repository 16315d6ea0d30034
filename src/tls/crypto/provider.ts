/**
 * The one seam between the engine and cryptography. Everything the handshake needs is here,
 * synchronous; the node:crypto implementation lives in ./node.ts. Keeping it this small
 * lets a test or a future provider (a FIPS module, a hardware key) replace it whole.
 */
import type { AsymmetricKey, GroupName, SignatureSchemeName } from '../api';

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

/** Our half of one key exchange. */
export interface KeyShare {
  readonly group: GroupName;
  /** The key_exchange bytes we send. */
  readonly publicKey: Buffer;
  /** The shared secret; throws TlsError(illegal_parameter) for an invalid peer share. */
  agree(peerPublic: Buffer): Buffer;
}

/** The server's answer to a client key share: the bytes for ServerHello, and the shared secret. */
export interface KeyShareReply {
  readonly publicKey: Buffer;
  readonly secret: Buffer;
}

export interface CryptoProvider {
  hashLen(alg: HashName): number;
  hash(alg: HashName): RunningHash;
  digest(alg: HashName, data: Buffer): Buffer;
  hmac(alg: HashName, key: Buffer, data: Buffer): Buffer;
  random(n: number): Buffer;
  aead(alg: AeadName, key: Buffer): Aead;
  supportsGroup(group: GroupName): boolean;
  /** A fresh key share; `privateKey` (raw scalar) only from test hooks. */
  keyShare(group: GroupName, privateKey?: Buffer): KeyShare;
  /**
   * Server side: answers the client's share. (EC)DH: a fresh share of our own and the agreed
   * secret. KEM hybrids: an encapsulation to the client's key, so the reply is a ciphertext.
   * Throws TlsError(illegal_parameter) for an invalid client share. `privateKey` only from tests.
   */
  answerShare(group: GroupName, clientShare: Buffer, privateKey?: Buffer): KeyShareReply;
  sign(scheme: SignatureSchemeName, key: AsymmetricKey, data: Buffer): Buffer;
  verify(scheme: SignatureSchemeName, key: AsymmetricKey, data: Buffer, signature: Buffer): boolean;
  /** Constant-time comparison for MACs and binders. */
  equal(a: Buffer, b: Buffer): boolean;
}
