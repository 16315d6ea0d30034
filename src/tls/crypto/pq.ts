/**
 * Post-quantum primitives: ML-KEM (FIPS 203) for the hybrid key-exchange groups of
 * draft-ietf-tls-ecdhe-mlkem, and ML-DSA (FIPS 204) for certificates and CertificateVerify
 * (draft-ietf-tls-mldsa). Node 20's node:crypto has neither, so both come from
 * @noble/post-quantum (pure JavaScript, ACVP/Wycheproof-tested; see docs/pq.md for the choice
 * and its cost). Everything here is synchronous, like the rest of the provider.
 *
 * The classical half of each hybrid stays on node:crypto (./groups.ts puts the two together).
 */
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import type { GroupName } from '../api';
import { fail } from '../errors';
import type { KeyExchangeGroup, KeyShareResponse } from './groups';
import type { KeyShare } from './provider';

function buf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

// ---------------------------------------------------------------------------------------------
// ML-KEM, as the post-quantum half of the hybrid groups (./groups.ts composes the hybrids)

export type MlKemName = 'ML-KEM-768' | 'ML-KEM-1024';

interface MlKem {
  /** Encapsulation key (client share part) and ciphertext (server share part) lengths. */
  readonly ekLen: number;
  readonly ctLen: number;
  readonly impl: typeof ml_kem768;
}

const ML_KEM: Record<MlKemName, MlKem> = {
  'ML-KEM-768': { ekLen: 1184, ctLen: 1088, impl: ml_kem768 },
  'ML-KEM-1024': { ekLen: 1568, ctLen: 1568, impl: ml_kem1024 },
};

/** The hybrid groups (draft-ietf-tls-ecdhe-mlkem); their entries live in ./groups.ts. */
const HYBRID_NAMES: ReadonlySet<GroupName> = new Set<GroupName>(['X25519MLKEM768', 'SecP256r1MLKEM768', 'SecP384r1MLKEM1024']);

/** True for the post-quantum hybrid groups. */
export function isHybrid(group: GroupName): boolean {
  return HYBRID_NAMES.has(group);
}

/**
 * ML-KEM as one half of the hybrid `hybrid` (named after it in errors; not a group on its own).
 * Client: a key pair (`generate`), then decapsulation of the server's ciphertext (`agree`).
 * Server: encapsulation to the client's key (`respond`), whose bytes are the ciphertext.
 * draft-ietf-tls-mlkem §4.2 and ecdhe-mlkem: a failed encapsulation-key check (FIPS 203 §7.2)
 * or a ciphertext of the wrong length is illegal_parameter; any other decapsulation failure is
 * internal_error. A wrong ciphertext of the right length is not detectable (implicit rejection):
 * it yields a different secret and the handshake fails at the first protected record.
 */
export function mlKemComponent(kemName: MlKemName, hybrid: GroupName, code: number): KeyExchangeGroup {
  const kem = ML_KEM[kemName];
  const checkLen = (b: Buffer, want: number, what: string) => {
    if (b.length !== want) fail('illegal_parameter', `${hybrid}: ${kemName} ${what} is ${b.length} bytes, want ${want}`);
  };
  return {
    name: hybrid,
    code,
    clientShareLen: kem.ekLen,
    serverShareLen: kem.ctLen,
    /** `seed` (tests only): d || z of ML-KEM.KeyGen, 64 bytes. */
    generate(seed?: Buffer): KeyShare {
      const pair = kem.impl.keygen(seed);
      return {
        group: hybrid,
        publicKey: buf(pair.publicKey),
        agree(cipherText: Buffer): Buffer {
          checkLen(cipherText, kem.ctLen, 'ciphertext');
          try {
            return buf(kem.impl.decapsulate(cipherText, pair.secretKey));
          } catch (err) {
            return fail('internal_error', `${hybrid}: ${kemName} decapsulation failed: ${(err as Error).message}`);
          }
        },
      };
    },
    /** `m` (tests only): the 32-byte message of ML-KEM.Encaps. */
    respond(encapsulationKey: Buffer, m?: Buffer): KeyShareResponse {
      checkLen(encapsulationKey, kem.ekLen, 'encapsulation key');
      try {
        // noble checks the length and the modulus (every coefficient below q) of the key: FIPS 203 §7.2.
        const enc = kem.impl.encapsulate(encapsulationKey, m);
        return { publicKey: buf(enc.cipherText), secret: buf(enc.sharedSecret) };
      } catch (err) {
        return fail('illegal_parameter', `${hybrid}: the ${kemName} encapsulation key fails the FIPS 203 check (${(err as Error).message})`);
      }
    },
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

const ML_DSA_SEED_LEN = 32;

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
