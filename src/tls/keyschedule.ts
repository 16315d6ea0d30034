/**
 * The TLS 1.3 key schedule (RFC 8446 §7.1), staged: each class offers only the derivations
 * that are legal at that point, so a traffic secret cannot be derived from the wrong stage.
 * HKDF is built on createHmac, which is cheaper than hkdfSync (platform-notes §6).
 */
import type { CryptoProvider, HashName } from './crypto/provider';
import type { Suite } from './crypto/suites';

export class Hkdf {
  readonly hashLen: number;

  constructor(readonly crypto: CryptoProvider, readonly alg: HashName) {
    this.hashLen = crypto.hashLen(alg);
  }

  extract(salt: Buffer, ikm: Buffer): Buffer {
    return this.crypto.hmac(this.alg, salt.length > 0 ? salt : Buffer.alloc(this.hashLen), ikm);
  }

  expand(prk: Buffer, info: Buffer, length: number): Buffer {
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
    const full = Buffer.from(`tls13 ${label}`, 'latin1');
    const info = Buffer.alloc(2 + 1 + full.length + 1 + context.length);
    info.writeUInt16BE(length, 0);
    info[2] = full.length;
    full.copy(info, 3);
    info[3 + full.length] = context.length;
    context.copy(info, 4 + full.length);
    return this.expand(secret, info, length);
  }

  deriveSecret(secret: Buffer, label: string, transcriptHash: Buffer): Buffer {
    return this.expandLabel(secret, label, transcriptHash, this.hashLen);
  }

  emptyHash(): Buffer {
    return this.crypto.digest(this.alg, Buffer.alloc(0));
  }

  /** RFC 8446 §4.4.4 */
  verifyData(baseKey: Buffer, transcriptHash: Buffer): Buffer {
    const finishedKey = this.expandLabel(baseKey, 'finished', Buffer.alloc(0), this.hashLen);
    return this.crypto.hmac(this.alg, finishedKey, transcriptHash);
  }
}

export interface RecordKeys {
  key: Buffer;
  iv: Buffer;
}

/** RFC 8446 §7.3 */
export function trafficKeys(hkdf: Hkdf, suite: Suite, secret: Buffer): RecordKeys {
  return {
    key: hkdf.expandLabel(secret, 'key', Buffer.alloc(0), suite.keyLen),
    iv: hkdf.expandLabel(secret, 'iv', Buffer.alloc(0), suite.ivLen),
  };
}

/** Early secret: from the PSK, or from zeros without one. */
export class EarlyStage {
  readonly secret: Buffer;

  constructor(readonly hkdf: Hkdf, psk?: Buffer) {
    this.secret = hkdf.extract(Buffer.alloc(0), psk ?? Buffer.alloc(hkdf.hashLen));
  }

  /** External PSK binder key (RFC 8446 §7.1 "ext binder"). */
  externalBinderKey(): Buffer {
    return this.hkdf.deriveSecret(this.secret, 'ext binder', this.hkdf.emptyHash());
  }

  /** Mixes in the (EC)DHE shared secret; psk_ke mode passes none (zeros). */
  toHandshake(sharedSecret?: Buffer): HandshakeStage {
    const salt = this.hkdf.deriveSecret(this.secret, 'derived', this.hkdf.emptyHash());
    return new HandshakeStage(this.hkdf, this.hkdf.extract(salt, sharedSecret ?? Buffer.alloc(this.hkdf.hashLen)));
  }
}

export class HandshakeStage {
  constructor(readonly hkdf: Hkdf, readonly secret: Buffer) {}

  /** Transcript hash through ServerHello. */
  trafficSecrets(helloHash: Buffer): { client: Buffer; server: Buffer } {
    return {
      client: this.hkdf.deriveSecret(this.secret, 'c hs traffic', helloHash),
      server: this.hkdf.deriveSecret(this.secret, 's hs traffic', helloHash),
    };
  }

  toMaster(): MasterStage {
    const salt = this.hkdf.deriveSecret(this.secret, 'derived', this.hkdf.emptyHash());
    return new MasterStage(this.hkdf, this.hkdf.extract(salt, Buffer.alloc(this.hkdf.hashLen)));
  }
}

export class MasterStage {
  constructor(readonly hkdf: Hkdf, readonly secret: Buffer) {}

  /** Transcript hash through the server Finished. */
  trafficSecrets(serverFinishedHash: Buffer): { client: Buffer; server: Buffer } {
    return {
      client: this.hkdf.deriveSecret(this.secret, 'c ap traffic', serverFinishedHash),
      server: this.hkdf.deriveSecret(this.secret, 's ap traffic', serverFinishedHash),
    };
  }
}
