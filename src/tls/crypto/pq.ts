/**
 * Post-quantum primitives: ML-KEM (FIPS 203) for the hybrid key-exchange groups of
 * draft-ietf-tls-ecdhe-mlkem, and ML-DSA (FIPS 204) for certificates and CertificateVerify
 * (draft-ietf-tls-mldsa). Node 20's node:crypto has neither, so both come from
 * @noble/post-quantum (pure JavaScript, ACVP/Wycheproof-tested; see docs/pq.md for the choice
 * and its cost). Everything here is synchronous, like the rest of the provider.
 *
 * The classical half of each hybrid stays on node:crypto: this module only combines it.
 */
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import type { GroupName } from '../api';
import { fail } from '../errors';
import type { KeyShare, KeyShareReply } from './provider';

function buf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

// ---------------------------------------------------------------------------------------------
// ML-KEM and the hybrid groups

export type MlKemName = 'ML-KEM-768' | 'ML-KEM-1024';

interface MlKem {
  readonly name: MlKemName;
  /** Encapsulation key (client share part) and ciphertext (server share part) lengths. */
  readonly ekLen: number;
  readonly ctLen: number;
  readonly impl: typeof ml_kem768;
}

const ML_KEM: Record<MlKemName, MlKem> = {
  'ML-KEM-768': { name: 'ML-KEM-768', ekLen: 1184, ctLen: 1088, impl: ml_kem768 },
  'ML-KEM-1024': { name: 'ML-KEM-1024', ekLen: 1568, ctLen: 1568, impl: ml_kem1024 },
};

/** The hybrid groups: which KEM, which classical group, and in which order they concatenate. */
export interface HybridSpec {
  readonly group: GroupName;
  readonly kem: MlKem;
  readonly classic: GroupName;
  /** Length of the classical share (x25519: 32; uncompressed P-256/P-384 points: 65/97). */
  readonly classicLen: number;
  /**
   * draft-ietf-tls-ecdhe-mlkem §4: X25519MLKEM768 puts the ML-KEM part first (in shares and in
   * the shared secret); the two NIST-curve hybrids put the ECDH part first.
   */
  readonly kemFirst: boolean;
}

export const HYBRIDS: Partial<Record<GroupName, HybridSpec>> = {
  X25519MLKEM768: { group: 'X25519MLKEM768', kem: ML_KEM['ML-KEM-768'], classic: 'x25519', classicLen: 32, kemFirst: true },
  SecP256r1MLKEM768: { group: 'SecP256r1MLKEM768', kem: ML_KEM['ML-KEM-768'], classic: 'secp256r1', classicLen: 65, kemFirst: false },
  SecP384r1MLKEM1024: { group: 'SecP384r1MLKEM1024', kem: ML_KEM['ML-KEM-1024'], classic: 'secp384r1', classicLen: 97, kemFirst: false },
};

/** True for the post-quantum hybrid groups. */
export function isHybrid(group: GroupName): boolean {
  return HYBRIDS[group] !== undefined;
}

/** Splits a hybrid share into its KEM and classical parts after checking its exact length. */
function split(spec: HybridSpec, share: Buffer, kemLen: number, what: string): { kem: Buffer; classic: Buffer } {
  const want = kemLen + spec.classicLen;
  if (share.length !== want) fail('illegal_parameter', `${spec.group} ${what} is ${share.length} bytes, want ${want}`);
  return spec.kemFirst
    ? { kem: share.subarray(0, kemLen), classic: share.subarray(kemLen) }
    : { classic: share.subarray(0, spec.classicLen), kem: share.subarray(spec.classicLen) };
}

function join(spec: HybridSpec, kem: Buffer, classic: Buffer): Buffer {
  return spec.kemFirst ? Buffer.concat([kem, classic]) : Buffer.concat([classic, kem]);
}

export type ClassicShareFactory = (group: GroupName, privateKey?: Buffer) => KeyShare;

/** ML-KEM keygen seed (d || z, FIPS 203 §7.1) length, for deterministic test shares. */
export const ML_KEM_SEED_LEN = 64;

/** The client's half of a hybrid exchange: an ML-KEM key pair plus a classical share. */
export class HybridClientShare implements KeyShare {
  readonly group: GroupName;
  readonly publicKey: Buffer;
  readonly #secretKey: Uint8Array;
  readonly #classic: KeyShare;

  /** `privateKey` (tests only): the 64-byte ML-KEM seed followed by the classical private key. */
  constructor(private readonly spec: HybridSpec, classic: ClassicShareFactory, privateKey?: Buffer) {
    this.group = spec.group;
    const seed = privateKey?.subarray(0, ML_KEM_SEED_LEN);
    const pair = spec.kem.impl.keygen(seed);
    this.#secretKey = pair.secretKey;
    this.#classic = classic(spec.classic, privateKey?.subarray(ML_KEM_SEED_LEN));
    this.publicKey = join(spec, buf(pair.publicKey), this.#classic.publicKey);
  }

  agree(serverShare: Buffer): Buffer {
    // draft-ietf-tls-mlkem §4.2 / ecdhe-mlkem: a ciphertext of the wrong length is illegal_parameter.
    const parts = split(this.spec, serverShare, this.spec.kem.ctLen, 'server key share');
    const classicSecret = this.#classic.agree(parts.classic);
    let kemSecret: Buffer;
    try {
      kemSecret = buf(this.spec.kem.impl.decapsulate(parts.kem, this.#secretKey));
    } catch (err) {
      // Lengths were checked above; any other decapsulation failure is ours (internal_error).
      return fail('internal_error', `${this.spec.kem.name} decapsulation failed: ${(err as Error).message}`);
    }
    return join(this.spec, kemSecret, classicSecret);
  }
}

/**
 * The server's answer to a hybrid share: encapsulate to the client's ML-KEM key (after the
 * FIPS 203 §7.2 encapsulation-key checks) and answer the classical part with a fresh share.
 * `encapsulationRandom` (tests only) is the 32-byte message m of ML-KEM.Encaps.
 */
export function answerHybrid(
  spec: HybridSpec,
  clientShare: Buffer,
  classic: ClassicShareFactory,
  classicPrivate?: Buffer,
  encapsulationRandom?: Buffer,
): KeyShareReply {
  const parts = split(spec, clientShare, spec.kem.ekLen, 'client key share');
  const ours = classic(spec.classic, classicPrivate);
  const classicSecret = ours.agree(parts.classic);
  let enc: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    // noble checks the length and the modulus (every coefficient < q) of the key: FIPS 203 §7.2.
    enc = spec.kem.impl.encapsulate(parts.kem, encapsulationRandom);
  } catch (err) {
    return fail('illegal_parameter', `${spec.group} client share: the ${spec.kem.name} encapsulation key fails the FIPS 203 check (${(err as Error).message})`);
  }
  return {
    publicKey: join(spec, buf(enc.cipherText), ours.publicKey),
    secret: join(spec, buf(enc.sharedSecret), classicSecret),
  };
}

// ---------------------------------------------------------------------------------------------
// ML-DSA

export type MlDsaKeyType = 'ml-dsa-44' | 'ml-dsa-65' | 'ml-dsa-87';

interface MlDsa {
  readonly publicKeyLen: number;
  readonly secretKeyLen: number;
  readonly signatureLen: number;
  readonly impl: typeof ml_dsa65;
}

export const ML_DSA: Record<MlDsaKeyType, MlDsa> = {
  'ml-dsa-44': { publicKeyLen: 1312, secretKeyLen: 2560, signatureLen: 2420, impl: ml_dsa44 },
  'ml-dsa-65': { publicKeyLen: 1952, secretKeyLen: 4032, signatureLen: 3309, impl: ml_dsa65 },
  'ml-dsa-87': { publicKeyLen: 2592, secretKeyLen: 4896, signatureLen: 4627, impl: ml_dsa87 },
};

export const ML_DSA_SEED_LEN = 32;

/**
 * An ML-DSA public or private key. Node 20's KeyObject cannot hold one, so this stands beside
 * it with the same `type` and `asymmetricKeyType` names a newer Node's KeyObject uses. The
 * secret key lives in a private field and never appears in JSON or inspection output.
 */
export class MlDsaKey {
  readonly #secretKey?: Uint8Array;

  private constructor(
    readonly asymmetricKeyType: MlDsaKeyType,
    readonly type: 'public' | 'private',
    /** The raw public key (FIPS 204 pkEncode), as in the certificate's subjectPublicKey. */
    readonly publicKey: Buffer,
    secretKey?: Uint8Array,
  ) {
    this.#secretKey = secretKey;
  }

  static publicFromRaw(kind: MlDsaKeyType, raw: Buffer): MlDsaKey {
    const p = ML_DSA[kind];
    if (raw.length !== p.publicKeyLen) throw new Error(`${kind} public key is ${raw.length} bytes, want ${p.publicKeyLen}`);
    return new MlDsaKey(kind, 'public', Buffer.from(raw));
  }

  /** From the 32-byte seed ξ (FIPS 204 §6.1) and/or the expanded private key; both must agree. */
  static privateFrom(kind: MlDsaKeyType, seed: Buffer | undefined, expanded: Buffer | undefined): MlDsaKey {
    const p = ML_DSA[kind];
    if (seed && seed.length !== ML_DSA_SEED_LEN) throw new Error(`${kind} private key seed is ${seed.length} bytes, want ${ML_DSA_SEED_LEN}`);
    if (expanded && expanded.length !== p.secretKeyLen) throw new Error(`${kind} expanded private key is ${expanded.length} bytes, want ${p.secretKeyLen}`);
    if (seed) {
      const pair = p.impl.keygen(seed);
      if (expanded && !Buffer.from(pair.secretKey).equals(expanded)) {
        throw new Error(`${kind} private key: the expanded key does not match the seed`);
      }
      return new MlDsaKey(kind, 'private', buf(pair.publicKey), pair.secretKey);
    }
    if (!expanded) throw new Error(`${kind} private key has neither a seed nor an expanded key`);
    return new MlDsaKey(kind, 'private', buf(p.impl.getPublicKey(expanded)), Uint8Array.from(expanded));
  }

  /** The public half (what a certificate for this key carries). */
  toPublic(): MlDsaKey {
    return this.type === 'public' ? this : new MlDsaKey(this.asymmetricKeyType, 'public', this.publicKey);
  }

  /** Pure ML-DSA with an empty context string, as draft-ietf-tls-mldsa and RFC 9881 use it. */
  sign(data: Buffer): Buffer {
    if (!this.#secretKey) throw new Error(`${this.asymmetricKeyType} public key cannot sign`);
    return buf(ML_DSA[this.asymmetricKeyType].impl.sign(data, this.#secretKey));
  }

  verify(data: Buffer, signature: Buffer): boolean {
    if (signature.length !== ML_DSA[this.asymmetricKeyType].signatureLen) return false;
    try {
      return ML_DSA[this.asymmetricKeyType].impl.verify(signature, data, this.publicKey);
    } catch {
      return false;
    }
  }

  toJSON(): string {
    return `[${this.asymmetricKeyType} ${this.type} key]`;
  }
}
