/**
 * The handshake transcript (RFC 8446 §4.4.1). Until the cipher suite is chosen the hash
 * function is unknown, so messages are buffered raw; HelloRetryRequest replaces ClientHello1
 * by a synthetic message_hash message.
 */
import type { CryptoProvider, HashName, RunningHash } from './crypto/provider';
import { HandshakeType } from './wire/codes';

/** Before ServerHello/HelloRetryRequest: raw bytes, no hash yet. */
export class TranscriptBuffer {
  private readonly msgs: Buffer[] = [];

  add(msg: Buffer): void {
    this.msgs.push(msg);
  }

  start(crypto: CryptoProvider, alg: HashName): Transcript {
    const t = new Transcript(crypto, alg);
    for (const m of this.msgs) t.add(m);
    return t;
  }

  /** All buffered bytes (for PSK binders, computed before the suite is known). */
  bytes(): Buffer {
    return Buffer.concat(this.msgs);
  }
}

export class Transcript {
  private hash: RunningHash;

  constructor(private readonly crypto: CryptoProvider, readonly alg: HashName) {
    this.hash = crypto.hash(alg);
  }

  add(msg: Buffer): void {
    this.hash.update(msg);
  }

  current(): Buffer {
    return this.hash.snapshot();
  }

  /** The hash as if `extra` had been added (PSK binders over a truncated ClientHello). */
  currentWith(extra: Buffer): Buffer {
    return this.hash.snapshot(extra);
  }

  /**
   * RFC 8446 §4.4.1: on HelloRetryRequest, ClientHello1 is replaced by
   * message_hash(Hash(ClientHello1)). Call with only ClientHello1 in the transcript.
   */
  rewriteForHelloRetry(): void {
    const h = this.hash.snapshot();
    this.hash = this.crypto.hash(this.alg);
    this.hash.update(Buffer.from([HandshakeType.message_hash, 0, 0, h.length]));
    this.hash.update(h);
  }
}
