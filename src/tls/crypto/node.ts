/** CryptoProvider on node:crypto, all synchronous (docs/platform.md says why). */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  randomFillSync,
  sign as cryptoSign,
  timingSafeEqual,
  verify as cryptoVerify,
  KeyObject,
  type CipherCCMTypes,
  type CipherGCMTypes,
  type CipherChaCha20Poly1305Types,
} from 'node:crypto';
import type { AsymmetricKey, GroupName, SignatureSchemeName } from '../api';
import { groupByName, type KeyExchangeGroup } from './groups';
import { MlDsaKey } from './pq';
import type { Aead, AeadName, CryptoProvider, HashName, RunningHash } from './provider';

const TAG_LEN = 16;

class NodeHash implements RunningHash {
  private readonly h;
  constructor(alg: HashName) {
    this.h = createHash(alg);
  }
  update(data: Buffer): void {
    this.h.update(data);
  }
  snapshot(extra?: Buffer): Buffer {
    const c = this.h.copy();
    if (extra) c.update(extra);
    return c.digest();
  }
}

type AnyCipherName = CipherGCMTypes | CipherCCMTypes | CipherChaCha20Poly1305Types;

class NodeAead implements Aead {
  constructor(private readonly alg: AeadName, private readonly key: Buffer) {}

  get keyLen(): number {
    return this.key.length;
  }

  seal(nonce: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
    const c = createCipheriv(this.alg as AnyCipherName as CipherGCMTypes, this.key, nonce, { authTagLength: TAG_LEN });
    // CCM must know the plaintext length before the AAD; harmless for the others.
    if (this.alg === 'aes-128-ccm') c.setAAD(aad, { plaintextLength: plaintext.length });
    else c.setAAD(aad);
    const body = c.update(plaintext);
    const fin = c.final();
    const tag = c.getAuthTag();
    // The stream ciphers here leave nothing for final(): body and tag are joined in one copy.
    return Buffer.concat(fin.length > 0 ? [body, fin, tag] : [body, tag], body.length + fin.length + tag.length);
  }

  open(nonce: Buffer, aad: Buffer, ciphertext: Buffer): Buffer | undefined {
    if (ciphertext.length < TAG_LEN) return undefined;
    const body = ciphertext.subarray(0, ciphertext.length - TAG_LEN);
    const tag = ciphertext.subarray(ciphertext.length - TAG_LEN);
    try {
      const d = createDecipheriv(this.alg as AnyCipherName as CipherGCMTypes, this.key, nonce, { authTagLength: TAG_LEN });
      d.setAuthTag(tag);
      if (this.alg === 'aes-128-ccm') d.setAAD(aad, { plaintextLength: body.length });
      else d.setAAD(aad);
      const out = d.update(body);
      const fin = d.final();
      return fin.length > 0 ? Buffer.concat([out, fin]) : out;
    } catch {
      return undefined;
    }
  }
}

interface SchemeParams {
  hash: HashName | 'sha512' | null;
  keyType: string;
  curve?: string;
  pss?: boolean;
}

const SCHEME_PARAMS: Record<SignatureSchemeName, SchemeParams> = {
  ecdsa_secp256r1_sha256: { hash: 'sha256', keyType: 'ec', curve: 'prime256v1' },
  ecdsa_secp384r1_sha384: { hash: 'sha384', keyType: 'ec', curve: 'secp384r1' },
  rsa_pss_rsae_sha256: { hash: 'sha256', keyType: 'rsa', pss: true },
  rsa_pss_rsae_sha384: { hash: 'sha384', keyType: 'rsa', pss: true },
  rsa_pss_rsae_sha512: { hash: 'sha512', keyType: 'rsa', pss: true },
  rsa_pss_pss_sha256: { hash: 'sha256', keyType: 'rsa-pss', pss: true },
  rsa_pss_pss_sha384: { hash: 'sha384', keyType: 'rsa-pss', pss: true },
  rsa_pss_pss_sha512: { hash: 'sha512', keyType: 'rsa-pss', pss: true },
  ed25519: { hash: null, keyType: 'ed25519' },
  mldsa44: { hash: null, keyType: 'ml-dsa-44' },
  mldsa65: { hash: null, keyType: 'ml-dsa-65' },
  mldsa87: { hash: null, keyType: 'ml-dsa-87' },
};

const HASH_LEN: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** True when `key` can make or check signatures of `scheme`. */
export function schemeFitsKey(scheme: SignatureSchemeName, key: AsymmetricKey): boolean {
  const p = SCHEME_PARAMS[scheme];
  if (key.asymmetricKeyType !== p.keyType) return false;
  if (p.curve && (!(key instanceof KeyObject) || key.asymmetricKeyDetails?.namedCurve !== p.curve)) return false;
  return true;
}

function signOptions(scheme: SignatureSchemeName, key: KeyObject) {
  const p = SCHEME_PARAMS[scheme];
  if (p.pss) {
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[p.hash as string] };
  }
  if (p.keyType === 'ec') return { key, dsaEncoding: 'der' as const };
  return { key };
}

/**
 * Small random values (hello randoms, session ids: public, 32 bytes) are cut from a pool filled
 * by one randomFillSync call, as node:crypto does for randomUUID: each randomBytes call costs a
 * native job of its own (≈ 2.7 µs against ≈ 0.3 µs here). Bytes handed out are erased from the
 * pool; each value gets a buffer of its own, kept as long as the handshake (see ownCopy).
 */
const RANDOM_POOL_SIZE = 2048;
const randomPool = Buffer.allocUnsafeSlow(RANDOM_POOL_SIZE);
let randomPoolUsed = RANDOM_POOL_SIZE;

function pooledRandom(n: number): Buffer {
  if (randomPoolUsed + n > RANDOM_POOL_SIZE) {
    randomFillSync(randomPool);
    randomPoolUsed = 0;
  }
  const out = Buffer.allocUnsafeSlow(n);
  randomPool.copy(out, 0, randomPoolUsed, randomPoolUsed + n);
  randomPool.fill(0, randomPoolUsed, randomPoolUsed + n);
  randomPoolUsed += n;
  return out;
}

export class NodeCryptoProvider implements CryptoProvider {
  hashLen(alg: HashName): number {
    return HASH_LEN[alg];
  }

  hash(alg: HashName): RunningHash {
    return new NodeHash(alg);
  }

  digest(alg: HashName, data: Buffer): Buffer {
    return createHash(alg).update(data).digest();
  }

  hmac(alg: HashName, key: Buffer, data: Buffer): Buffer {
    return createHmac(alg, key).update(data).digest();
  }

  random(n: number): Buffer {
    return n <= RANDOM_POOL_SIZE >> 2 ? pooledRandom(n) : randomBytes(n);
  }

  aead(alg: AeadName, key: Buffer): Aead {
    return new NodeAead(alg, key);
  }

  keyExchange(group: GroupName): KeyExchangeGroup | undefined {
    return groupByName(group);
  }

  sign(scheme: SignatureSchemeName, key: AsymmetricKey, data: Buffer): Buffer {
    if (!schemeFitsKey(scheme, key)) throw new Error(`key of type ${key.asymmetricKeyType} cannot sign ${scheme}`);
    if (key instanceof MlDsaKey) return key.sign(data);
    return cryptoSign(SCHEME_PARAMS[scheme].hash, data, signOptions(scheme, key));
  }

  verify(scheme: SignatureSchemeName, key: AsymmetricKey, data: Buffer, signature: Buffer): boolean {
    if (!schemeFitsKey(scheme, key)) return false;
    if (key instanceof MlDsaKey) return key.verify(data, signature);
    try {
      return cryptoVerify(SCHEME_PARAMS[scheme].hash, data, signOptions(scheme, key), signature);
    } catch {
      return false;
    }
  }

  equal(a: Buffer, b: Buffer): boolean {
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

export const nodeCrypto: CryptoProvider = new NodeCryptoProvider();
