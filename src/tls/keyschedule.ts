/**
 * The TLS 1.3 key schedule (RFC 8446 §7.1), staged: each class offers only the derivations
 * that are legal at that point, so a traffic secret cannot be derived from the wrong stage.
 * HKDF is built on the provider's HMAC, which is cheaper than node:crypto's hkdfSync.
 */
import type { CryptoProvider, HashName } from './crypto/provider';
import type { Suite } from './crypto/suites';

/**
 * Values that depend only on the provider and the hash: HkdfLabel prefixes (RFC 8446 §7.1),
 * Hash(""), zero strings, and the PSK-less early secret with its "derived" salt. A handshake
 * makes ~15 derivations; building each label's bytes and re-deriving the constants every time
 * was a measurable share of the engine's allocations and HMAC calls.
 */
interface Constants {
  zeros: Buffer;
  emptyHash: Buffer;
  /** label → (length << 8 | contextLength) → HkdfLabel up to and including the context length byte. */
  labels: Map<string, Map<number, Buffer>>;
  /** Early secret and its "derived" salt without a PSK (HKDF-Extract(0, 0)). */
  noPsk?: { early: Buffer; derived: Buffer };
}

const constantsByProvider = new WeakMap<CryptoProvider, Map<HashName, Constants>>();

function constantsFor(crypto: CryptoProvider, alg: HashName, hashLen: number): Constants {
  let byAlg = constantsByProvider.get(crypto);
  if (!byAlg) constantsByProvider.set(crypto, (byAlg = new Map()));
  let c = byAlg.get(alg);
  if (!c) {
    c = { zeros: Buffer.alloc(hashLen), emptyHash: crypto.digest(alg, Buffer.alloc(0)), labels: new Map() };
    byAlg.set(alg, c);
  }
  return c;
}

/**
 * HkdfLabel fits in 2 + 1 + 255 + 1 + 255 bytes, plus the block counter; the longest a TLS 1.3
 * label gets is far less (RFC 8446 §7.1: "tls13 " and a label of at most 12 bytes, a hash).
 */
const INFO_SCRATCH = Buffer.allocUnsafeSlow(2 + 1 + 255 + 1 + 255 + 1);

/** HKDF-Expand's block counter for the first block. */
const COUNTER_1 = Buffer.from([1]);

export class Hkdf {
  readonly hashLen: number;
  private readonly constants: Constants;

  constructor(readonly crypto: CryptoProvider, readonly alg: HashName) {
    this.hashLen = crypto.hashLen(alg);
    this.constants = constantsFor(crypto, alg, this.hashLen);
  }

  /** hashLen zero bytes (shared: never modify). */
  get zeros(): Buffer {
    return this.constants.zeros;
  }

  extract(salt: Buffer, ikm: Buffer): Buffer {
    return this.crypto.hmac(this.alg, salt.length > 0 ? salt : this.constants.zeros, ikm);
  }

  expand(prk: Buffer, info: Buffer, length: number): Buffer {
    if (length <= this.hashLen) {
      // Every TLS 1.3 derivation fits in one block: T(1) = HMAC(PRK, info || 0x01).
      return this.crypto.hmac(this.alg, prk, Buffer.concat([info, COUNTER_1])).subarray(0, length);
    }
    const out: Buffer[] = [];
    let t: Buffer = Buffer.alloc(0);
    let got = 0;
    for (let i = 1; got < length; i++) {
      t = this.crypto.hmac(this.alg, prk, Buffer.concat([t, info, Buffer.from([i])]));
      out.push(t);
      got += t.length;
    }
    return Buffer.concat(out).subarray(0, length);
  }

  expandLabel(secret: Buffer, label: string, context: Buffer, length: number): Buffer {
    // Keyed by the label (a literal: its hash is cached) and then a number, so a lookup builds no string.
    let byShape = this.constants.labels.get(label);
    if (!byShape) this.constants.labels.set(label, (byShape = new Map()));
    const shape = length * 256 + context.length;
    let prefix = byShape.get(shape);
    if (!prefix) {
      const full = Buffer.from(`tls13 ${label}`, 'latin1');
      prefix = Buffer.alloc(2 + 1 + full.length + 1);
      prefix.writeUInt16BE(length, 0);
      prefix[2] = full.length;
      full.copy(prefix, 3);
      prefix[3 + full.length] = context.length;
      byShape.set(shape, prefix);
    }
    const infoLen = prefix.length + context.length + 1;
    if (length > this.hashLen || infoLen > INFO_SCRATCH.length) return this.expand(secret, Buffer.concat([prefix, context]), length);
    // HkdfLabel || 0x01 in one buffer: the single HMAC block of HKDF-Expand. The HMAC reads it
    // before returning, so one scratch buffer serves every call.
    prefix.copy(INFO_SCRATCH, 0);
    context.copy(INFO_SCRATCH, prefix.length);
    INFO_SCRATCH[infoLen - 1] = 1;
    const out = this.crypto.hmac(this.alg, secret, INFO_SCRATCH.subarray(0, infoLen));
    return length === out.length ? out : out.subarray(0, length);
  }

  deriveSecret(secret: Buffer, label: string, transcriptHash: Buffer): Buffer {
    return this.expandLabel(secret, label, transcriptHash, this.hashLen);
  }

  emptyHash(): Buffer {
    return this.constants.emptyHash;
  }

  /** The early secret and its "derived" salt without a PSK: constants, computed once per hash. */
  noPskSecrets(): { early: Buffer; derived: Buffer } {
    const c = this.constants;
    if (!c.noPsk) {
      const early = this.extract(Buffer.alloc(0), c.zeros);
      c.noPsk = { early, derived: this.deriveSecret(early, 'derived', c.emptyHash) };
    }
    return c.noPsk;
  }

  /** RFC 8446 §4.4.4 */
  verifyData(baseKey: Buffer, transcriptHash: Buffer): Buffer {
    const finishedKey = this.expandLabel(baseKey, 'finished', EMPTY, this.hashLen);
    return this.crypto.hmac(this.alg, finishedKey, transcriptHash);
  }
}

const EMPTY = Buffer.alloc(0);

export interface RecordKeys {
  key: Buffer;
  iv: Buffer;
}

/** RFC 8446 §7.3 */
export function trafficKeys(hkdf: Hkdf, suite: Suite, secret: Buffer): RecordKeys {
  return {
    key: hkdf.expandLabel(secret, 'key', EMPTY, suite.keyLen),
    iv: hkdf.expandLabel(secret, 'iv', EMPTY, suite.ivLen),
  };
}

interface TrafficSecrets {
  client: Buffer;
  server: Buffer;
}

/** A stage's client and server traffic secrets: Derive-Secret with each label over one transcript hash. */
function trafficSecretPair(hkdf: Hkdf, secret: Buffer, [client, server]: readonly [string, string], transcriptHash: Buffer): TrafficSecrets {
  return { client: hkdf.deriveSecret(secret, client, transcriptHash), server: hkdf.deriveSecret(secret, server, transcriptHash) };
}

/** Early secret: from the PSK, or from zeros without one. */
export class EarlyStage {
  readonly secret: Buffer;
  private readonly hasPsk: boolean;

  constructor(readonly hkdf: Hkdf, psk?: Buffer) {
    this.hasPsk = psk !== undefined;
    this.secret = psk ? hkdf.extract(EMPTY, psk) : hkdf.noPskSecrets().early;
  }

  /** External PSK binder key (RFC 8446 §7.1 "ext binder"). */
  externalBinderKey(): Buffer {
    return this.hkdf.deriveSecret(this.secret, 'ext binder', this.hkdf.emptyHash());
  }

  /** Mixes in the (EC)DHE shared secret; psk_ke mode passes none (zeros). */
  toHandshake(sharedSecret?: Buffer): HandshakeStage {
    const salt = this.hasPsk ? this.hkdf.deriveSecret(this.secret, 'derived', this.hkdf.emptyHash()) : this.hkdf.noPskSecrets().derived;
    return new HandshakeStage(this.hkdf, this.hkdf.extract(salt, sharedSecret ?? this.hkdf.zeros));
  }
}

export class HandshakeStage {
  constructor(readonly hkdf: Hkdf, readonly secret: Buffer) {}

  /** Transcript hash through ServerHello. */
  trafficSecrets(helloHash: Buffer): TrafficSecrets {
    return trafficSecretPair(this.hkdf, this.secret, ['c hs traffic', 's hs traffic'], helloHash);
  }

  toMaster(): MasterStage {
    const salt = this.hkdf.deriveSecret(this.secret, 'derived', this.hkdf.emptyHash());
    return new MasterStage(this.hkdf, this.hkdf.extract(salt, this.hkdf.zeros));
  }
}

export class MasterStage {
  constructor(readonly hkdf: Hkdf, readonly secret: Buffer) {}

  /** Transcript hash through the server Finished. */
  trafficSecrets(serverFinishedHash: Buffer): TrafficSecrets {
    return trafficSecretPair(this.hkdf, this.secret, ['c ap traffic', 's ap traffic'], serverFinishedHash);
  }
}
