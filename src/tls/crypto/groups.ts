/**
 * Key-exchange groups as a registry (RFC 8446 §4.2.7, §4.2.8). One table entry per named group
 * holds everything the engine needs to know about it: its code point and name, how to make our
 * key share, how to check the peer's, and how to derive the shared secret. The handshake states
 * never look at a group's internals, so adding a group is adding an entry here (and its name to
 * `GroupName`); a hybrid entry is two entries side by side (`hybridGroup`).
 *
 * The two roles differ in shape so that a KEM fits without special cases: the client makes a key
 * pair and later combines it with the server's answer (`generate` → `agree`); the server answers
 * the client's share in one step (`respond`): a Diffie-Hellman group answers with a key share of
 * its own, a KEM with a ciphertext.
 */
import {
  createDiffieHellman,
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import type { GroupName } from '../api';
import { fail } from '../errors';
import { mlKemComponent } from './pq';
import type { KeyShare } from './provider';

/** The server's answer to one client key share. */
export interface KeyShareResponse {
  /** The key_exchange bytes of the ServerHello key share. */
  readonly publicKey: Buffer;
  readonly secret: Buffer;
}

export interface KeyExchangeGroup {
  readonly name: GroupName;
  /** NamedGroup code point (IANA TLS Supported Groups). */
  readonly code: number;
  /** Exact length of the client's key_exchange (what a hybrid splits on). */
  readonly clientShareLen: number;
  /** Exact length of the server's key_exchange. */
  readonly serverShareLen: number;
  /** Client role: a fresh key pair; `privateKey` (raw) only from test hooks. */
  generate(privateKey?: Buffer): KeyShare;
  /**
   * Server role: validates the client's share and answers it. Throws TlsError(illegal_parameter)
   * for a share no honest peer sends.
   */
  respond(clientShare: Buffer, privateKey?: Buffer): KeyShareResponse;
}

/** One Diffie-Hellman key pair: our public value and the derivation against a checked peer value. */
interface DhKeyPair {
  readonly publicKey: Buffer;
  derive(peer: Buffer): Buffer;
}

/** What a Diffie-Hellman group has to say; `dhGroup` builds the registry entry from it. */
interface DhSpec {
  readonly name: GroupName;
  readonly code: number;
  /** Both sides' public values have exactly this length (RFC 8446 §4.2.8.1, §4.2.8.2). */
  readonly shareLen: number;
  keyPair(privateKey?: Buffer): DhKeyPair;
  /** Rejects a peer value of the right length that no honest peer sends. */
  validate(peer: Buffer): void;
}

function dhGroup(spec: DhSpec): KeyExchangeGroup {
  const generate = (privateKey?: Buffer): KeyShare => {
    const kp = spec.keyPair(privateKey);
    return {
      group: spec.name,
      publicKey: kp.publicKey,
      agree(peer: Buffer): Buffer {
        if (peer.length !== spec.shareLen) {
          fail('illegal_parameter', `${spec.name} key share is ${peer.length} bytes, want ${spec.shareLen}`);
        }
        spec.validate(peer);
        return kp.derive(peer);
      },
    };
  };
  return {
    name: spec.name,
    code: spec.code,
    clientShareLen: spec.shareLen,
    serverShareLen: spec.shareLen,
    generate,
    respond(clientShare: Buffer, privateKey?: Buffer): KeyShareResponse {
      const ours = generate(privateKey);
      return { publicKey: ours.publicKey, secret: ours.agree(clientShare) };
    },
  };
}

/**
 * A hybrid of two groups (e.g. a KEM next to an elliptic curve): shares are the two parts
 * concatenated in order, the shared secret is the two secrets concatenated in the same order.
 */
export function hybridGroup(name: GroupName, code: number, first: KeyExchangeGroup, second: KeyExchangeGroup): KeyExchangeGroup {
  const split = (share: Buffer, firstLen: number, total: number, who: string): [Buffer, Buffer] => {
    if (share.length !== total) fail('illegal_parameter', `${name} ${who} key share is ${share.length} bytes, want ${total}`);
    return [share.subarray(0, firstLen), share.subarray(firstLen)];
  };
  const clientShareLen = first.clientShareLen + second.clientShareLen;
  const serverShareLen = first.serverShareLen + second.serverShareLen;
  return {
    name,
    code,
    clientShareLen,
    serverShareLen,
    generate(): KeyShare {
      const a = first.generate();
      const b = second.generate();
      return {
        group: name,
        publicKey: Buffer.concat([a.publicKey, b.publicKey]),
        agree(peer: Buffer): Buffer {
          const [pa, pb] = split(peer, first.serverShareLen, serverShareLen, 'server');
          return Buffer.concat([a.agree(pa), b.agree(pb)]);
        },
      };
    },
    respond(clientShare: Buffer): KeyShareResponse {
      const [ca, cb] = split(clientShare, first.clientShareLen, clientShareLen, 'client');
      const a = first.respond(ca);
      const b = second.respond(cb);
      return { publicKey: Buffer.concat([a.publicKey, b.publicKey]), secret: Buffer.concat([a.secret, b.secret]) };
    },
  };
}

// --- X25519 and X448 (RFC 7748; RFC 8446 §7.4.2) -------------------------------------------------

/** PKCS#8 wrapping of a raw private scalar, so node:crypto accepts it (test hooks only). */
const MONTGOMERY: Record<'x25519' | 'x448', { crv: 'X25519' | 'X448'; len: number; pkcs8Prefix: string }> = {
  x25519: { crv: 'X25519', len: 32, pkcs8Prefix: '302e020100300506032b656e04220420' },
  x448: { crv: 'X448', len: 56, pkcs8Prefix: '3046020100300506032b656f043a0438' },
};

function montgomery(name: 'x25519' | 'x448', code: number): KeyExchangeGroup {
  const m = MONTGOMERY[name];
  return dhGroup({
    name,
    code,
    shareLen: m.len,
    keyPair(privateKey?: Buffer): DhKeyPair {
      let priv: KeyObject;
      let publicKey: Buffer;
      if (privateKey) {
        priv = createPrivateKey({ key: Buffer.concat([Buffer.from(m.pkcs8Prefix, 'hex'), privateKey]), format: 'der', type: 'pkcs8' });
        publicKey = Buffer.from(createPublicKey(priv).export({ format: 'jwk' }).x as string, 'base64url');
      } else {
        // Encoding at generation time: exporting a KeyObject in a tight loop hung Node on this
        // platform. @types/node lacks the 'jwk' overload; the runtime returns a JWK object.
        const gen = generateKeyPairSync as unknown as (
          type: 'x25519' | 'x448',
          opts: { publicKeyEncoding: { format: 'jwk' } },
        ) => { publicKey: { x: string }; privateKey: KeyObject };
        const pair = gen(name, { publicKeyEncoding: { format: 'jwk' } });
        priv = pair.privateKey;
        publicKey = Buffer.from(pair.publicKey.x, 'base64url');
      }
      return {
        publicKey,
        derive(peer: Buffer): Buffer {
          let secret: Buffer;
          try {
            const pub = createPublicKey({ key: { kty: 'OKP', crv: m.crv, x: peer.toString('base64url') }, format: 'jwk' });
            secret = diffieHellman({ privateKey: priv, publicKey: pub });
          } catch {
            // OpenSSL refuses a low-order point itself (it would give an all-zero secret).
            return fail('illegal_parameter', `${name} key share is a low-order point (all-zero shared secret)`);
          }
          // RFC 8446 §7.4.2: an all-zero shared secret MUST be refused.
          if (secret.every((b) => b === 0)) fail('illegal_parameter', `${name} shared secret is all zero`);
          return secret;
        },
      };
    },
    validate(): void {
      // Every 32/56-byte string is a valid u-coordinate (RFC 7748 §5); low order shows in derive.
    },
  });
}

// --- NIST curves (RFC 8446 §4.2.8.2) --------------------------------------------------------------

function nistCurve(name: GroupName, code: number, curve: string, fieldLen: number): KeyExchangeGroup {
  return dhGroup({
    name,
    code,
    shareLen: 1 + 2 * fieldLen,
    keyPair(privateKey?: Buffer): DhKeyPair {
      const ecdh = createECDH(curve);
      if (privateKey) ecdh.setPrivateKey(privateKey);
      else ecdh.generateKeys();
      return {
        publicKey: ecdh.getPublicKey(),
        derive(peer: Buffer): Buffer {
          try {
            // computeSecret decodes the point, which checks that it lies on the curve.
            return ecdh.computeSecret(peer);
          } catch {
            return fail('illegal_parameter', `${name} key share is not a point on the curve`);
          }
        },
      };
    },
    validate(peer: Buffer): void {
      // Only the uncompressed form is allowed in TLS 1.3.
      if (peer[0] !== 4) fail('illegal_parameter', `${name} key share is not an uncompressed point (first byte 0x${peer[0].toString(16)})`);
    },
  });
}

// --- RFC 7919 finite-field groups (RFC 8446 §4.2.8.1) ---------------------------------------------

/**
 * RFC 7919 §A defines each prime as p = 2^b - 2^(b-64) + (floor(2^(b-130) * e) + X) * 2^64 - 1;
 * computing them (once, on first use) keeps 6 KB of hex out of the source, and a test checks
 * them against OpenSSL's built-in copies.
 */
const FFDHE_X: Record<number, bigint> = { 2048: 560316n, 3072: 2625351n, 4096: 5736041n, 6144: 15705020n, 8192: 10965728n };

let eBits: { bits: number; value: bigint } | undefined;
/** floor(e * 2^bits), by the series sum 1/k! in fixed point with 64 guard bits. */
function eFixed(bits: number): bigint {
  if (!eBits || eBits.bits < bits) {
    const one = 1n << BigInt(bits + 64);
    let term = one;
    let sum = 0n;
    for (let k = 1n; term > 0n; k++) {
      sum += term;
      term /= k;
    }
    eBits = { bits, value: sum >> 64n };
  }
  return eBits.value >> BigInt(eBits.bits - bits);
}

export function ffdhePrime(bits: number): Buffer {
  const x = FFDHE_X[bits];
  if (x === undefined) throw new Error(`no RFC 7919 group of ${bits} bits`);
  const b = BigInt(bits);
  const p = (1n << b) - (1n << (b - 64n)) + ((eFixed(bits - 130) + x) << 64n) - 1n;
  return Buffer.from(p.toString(16).padStart(bits / 4, '0'), 'hex');
}

function leftPad(b: Buffer, len: number): Buffer {
  if (b.length === len) return b;
  const out = Buffer.alloc(len);
  b.copy(out, len - b.length);
  return out;
}

function ffdhe(name: GroupName, code: number, bits: number): KeyExchangeGroup {
  const len = bits / 8;
  let prime: Buffer | undefined;
  const p = (): Buffer => (prime ??= ffdhePrime(bits));
  return dhGroup({
    name,
    code,
    shareLen: len,
    keyPair(privateKey?: Buffer): DhKeyPair {
      // OpenSSL recognises the RFC 7919 prime and uses its short exponent (e.g. 225 bits for 2048).
      const dh = createDiffieHellman(p(), 2);
      if (privateKey) dh.setPrivateKey(privateKey);
      dh.generateKeys();
      return {
        // Y and Z are big-endian, left-padded with zeros to the size of p (RFC 8446 §4.2.8.1; §7.4.1).
        publicKey: leftPad(dh.getPublicKey(), len),
        derive(peer: Buffer): Buffer {
          try {
            return leftPad(dh.computeSecret(peer), len);
          } catch {
            return fail('illegal_parameter', `${name} key share is not a valid public value`);
          }
        },
      };
    },
    validate(peer: Buffer): void {
      // RFC 8446 §4.2.8.1: 1 < Y < p-1 (0, 1 and p-1 give a secret an attacker knows).
      const y = BigInt(`0x${peer.toString('hex')}`);
      const pm1 = BigInt(`0x${p().toString('hex')}`) - 1n;
      if (y <= 1n || y >= pm1) fail('illegal_parameter', `${name} key share is outside 1 < Y < p-1`);
    },
  });
}

const X25519 = montgomery('x25519', 0x001d);
const P256 = nistCurve('secp256r1', 0x0017, 'prime256v1', 32);
const P384 = nistCurve('secp384r1', 0x0018, 'secp384r1', 48);

/**
 * Every group the engine implements; the order is the default server preference. The hybrids
 * (draft-ietf-tls-ecdhe-mlkem §4) concatenate in the order the draft gives each: X25519MLKEM768
 * puts ML-KEM first, the two NIST-curve hybrids put the ECDH part first.
 */
export const KEY_EXCHANGE_GROUPS: readonly KeyExchangeGroup[] = [
  hybridGroup('X25519MLKEM768', 0x11ec, mlKemComponent('ML-KEM-768', 'X25519MLKEM768', 0x11ec), X25519),
  hybridGroup('SecP256r1MLKEM768', 0x11eb, P256, mlKemComponent('ML-KEM-768', 'SecP256r1MLKEM768', 0x11eb)),
  hybridGroup('SecP384r1MLKEM1024', 0x11ed, P384, mlKemComponent('ML-KEM-1024', 'SecP384r1MLKEM1024', 0x11ed)),
  X25519,
  P256,
  P384,
  nistCurve('secp521r1', 0x0019, 'secp521r1', 66),
  montgomery('x448', 0x001e),
  ffdhe('ffdhe2048', 0x0100, 2048),
  ffdhe('ffdhe3072', 0x0101, 3072),
  ffdhe('ffdhe4096', 0x0102, 4096),
  ffdhe('ffdhe6144', 0x0103, 6144),
  ffdhe('ffdhe8192', 0x0104, 8192),
];

const BY_NAME = new Map<string, KeyExchangeGroup>(KEY_EXCHANGE_GROUPS.map((g) => [g.name, g]));
const BY_CODE = new Map<number, KeyExchangeGroup>(KEY_EXCHANGE_GROUPS.map((g) => [g.code, g]));

export const GROUP_NAMES: readonly GroupName[] = KEY_EXCHANGE_GROUPS.map((g) => g.name);

export function groupByName(name: GroupName): KeyExchangeGroup | undefined {
  return BY_NAME.get(name);
}

export function groupByCode(code: number): KeyExchangeGroup | undefined {
  return BY_CODE.get(code);
}

