/** CryptoProvider on node:crypto, all synchronous (see platform-notes §4, §6 for why). */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  timingSafeEqual,
  verify as cryptoVerify,
  KeyObject,
  type CipherCCMTypes,
  type CipherGCMTypes,
  type CipherChaCha20Poly1305Types,
} from 'node:crypto';
import type { AsymmetricKey, GroupName, SignatureSchemeName } from '../api';
import { fail } from '../errors';
import { answerHybrid, HybridClientShare, HYBRIDS, ML_KEM_SEED_LEN, MlDsaKey } from './pq';
import type { Aead, AeadName, CryptoProvider, HashName, KeyShare, KeyShareReply, RunningHash } from './provider';

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
    return Buffer.concat([body, fin, c.getAuthTag()]);
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

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const ECDH_CURVES: Partial<Record<GroupName, { curve: string; pointLen: number }>> = {
  secp256r1: { curve: 'prime256v1', pointLen: 65 },
  secp384r1: { curve: 'secp384r1', pointLen: 97 },
  secp521r1: { curve: 'secp521r1', pointLen: 133 },
};

class X25519Share implements KeyShare {
  readonly group = 'x25519' as const;
  readonly publicKey: Buffer;
  private readonly priv: KeyObject;

  constructor(privateKey?: Buffer) {
    if (privateKey) {
      this.priv = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
      const jwk = createPublicKey(this.priv).export({ format: 'jwk' });
      this.publicKey = Buffer.from(jwk.x as string, 'base64url');
    } else {
      // Encoding at generation time: exporting a KeyObject in a loop hung (platform-notes §6).
      // @types/node lacks the 'jwk' overload; the runtime returns the public key as a JWK object.
      const gen = generateKeyPairSync as unknown as (
        type: 'x25519',
        opts: { publicKeyEncoding: { format: 'jwk' } },
      ) => { publicKey: { x: string }; privateKey: KeyObject };
      const pair = gen('x25519', { publicKeyEncoding: { format: 'jwk' } });
      this.priv = pair.privateKey;
      this.publicKey = Buffer.from(pair.publicKey.x, 'base64url');
    }
  }

  agree(peerPublic: Buffer): Buffer {
    if (peerPublic.length !== 32) fail('illegal_parameter', `x25519 key share is ${peerPublic.length} bytes, want 32`);
    let secret: Buffer;
    try {
      const pub = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: peerPublic.toString('base64url') }, format: 'jwk' });
      secret = diffieHellman({ privateKey: this.priv, publicKey: pub });
    } catch {
      // OpenSSL refuses low-order points itself (all-zero result).
      return fail('illegal_parameter', 'x25519 key share is a low-order point (all-zero shared secret)');
    }
    if (secret.every((b) => b === 0)) fail('illegal_parameter', 'x25519 shared secret is all zero');
    return secret;
  }
}

class EcdhShare implements KeyShare {
  readonly publicKey: Buffer;
  private readonly ecdh;
  private readonly pointLen: number;

  constructor(readonly group: GroupName, privateKey?: Buffer) {
    const c = ECDH_CURVES[group];
    if (!c) throw new Error(`no ECDH curve for ${group}`);
    this.pointLen = c.pointLen;
    this.ecdh = createECDH(c.curve);
    if (privateKey) this.ecdh.setPrivateKey(privateKey);
    else this.ecdh.generateKeys();
    this.publicKey = this.ecdh.getPublicKey();
  }

  agree(peerPublic: Buffer): Buffer {
    // RFC 8446 §4.2.8.2: only the uncompressed form.
    if (peerPublic.length !== this.pointLen || peerPublic[0] !== 4) {
      fail('illegal_parameter', `${this.group} key share is not an uncompressed point of ${this.pointLen} bytes`);
    }
    try {
      // computeSecret checks that the point is on the curve.
      return this.ecdh.computeSecret(peerPublic);
    } catch {
      return fail('illegal_parameter', `${this.group} key share is not a point on the curve`);
    }
  }
}

interface SchemeParams {
  hash: HashName | 'sha512' | null;
  keyType: string;
  curve?: string;
  pss?: boolean;
}

export const SCHEME_PARAMS: Record<SignatureSchemeName, SchemeParams> = {
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

/** A classical share, for the hybrids' classical half. */
function classicShare(group: GroupName, privateKey?: Buffer): KeyShare {
  if (group === 'x25519') return new X25519Share(privateKey);
  if (group in ECDH_CURVES) return new EcdhShare(group, privateKey);
  throw new Error(`key exchange group ${group} is not implemented`);
}

function signOptions(scheme: SignatureSchemeName, key: KeyObject) {
  const p = SCHEME_PARAMS[scheme];
  if (p.pss) {
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[p.hash as string] };
  }
  if (p.keyType === 'ec') return { key, dsaEncoding: 'der' as const };
  return { key };
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
    return randomBytes(n);
  }

  aead(alg: AeadName, key: Buffer): Aead {
    return new NodeAead(alg, key);
  }

  supportsGroup(group: GroupName): boolean {
    return group === 'x25519' || group in ECDH_CURVES || group in HYBRIDS;
  }

  keyShare(group: GroupName, privateKey?: Buffer): KeyShare {
    const hybrid = HYBRIDS[group];
    if (hybrid) return new HybridClientShare(hybrid, classicShare, privateKey);
    return classicShare(group, privateKey);
  }

  answerShare(group: GroupName, clientShare: Buffer, privateKey?: Buffer): KeyShareReply {
    const hybrid = HYBRIDS[group];
    // For a hybrid, a test's private key is the classical part only: there is no ML-KEM key pair on this side.
    if (hybrid) return answerHybrid(hybrid, clientShare, classicShare, privateKey?.subarray(ML_KEM_SEED_LEN));
    const ours = classicShare(group, privateKey);
    return { secret: ours.agree(clientShare), publicKey: ours.publicKey };
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
