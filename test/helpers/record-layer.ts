/**
 * An independent TLS 1.3 record protection layer (RFC 8446 §5.2–5.3) written with node:crypto
 * for the tests only. It deliberately shares no code with src/tls: when the engine's exported
 * keys protect a record that OpenSSL or GnuTLS accepts (and vice versa) through THIS code, the
 * exported key/iv/seq are proven to be what the kernel would need for kTLS, independently of
 * whatever the engine's own record layer believes.
 */
import crypto from 'node:crypto';
import type { CipherSuiteName, TrafficKeys } from '../../src/tls/api';

export const CONTENT_ALERT = 21;
export const CONTENT_HANDSHAKE = 22;
export const CONTENT_APPLICATION_DATA = 23;

interface SuiteParams {
  cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305' | 'aes-128-ccm';
  keyLen: number;
  hash: 'sha256' | 'sha384';
}

export const SUITE_PARAMS: Record<CipherSuiteName, SuiteParams> = {
  TLS_AES_128_GCM_SHA256: { cipher: 'aes-128-gcm', keyLen: 16, hash: 'sha256' },
  TLS_AES_256_GCM_SHA384: { cipher: 'aes-256-gcm', keyLen: 32, hash: 'sha384' },
  TLS_CHACHA20_POLY1305_SHA256: { cipher: 'chacha20-poly1305', keyLen: 32, hash: 'sha256' },
  TLS_AES_128_CCM_SHA256: { cipher: 'aes-128-ccm', keyLen: 16, hash: 'sha256' },
};

const TAG_LEN = 16;
const IV_LEN = 12;

/** HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, written out from RFC 5869. */
export function hkdfExpandLabel(hash: 'sha256' | 'sha384', secret: Buffer, label: string, length: number): Buffer {
  const fullLabel = Buffer.from(`tls13 ${label}`, 'ascii');
  const info = Buffer.concat([
    Buffer.from([length >> 8, length & 0xff, fullLabel.length]),
    fullLabel,
    Buffer.from([0]),
  ]);
  const out: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(out).length < length; i++) {
    prev = crypto.createHmac(hash, secret).update(Buffer.concat([prev, info, Buffer.from([i])])).digest();
    out.push(prev);
  }
  return Buffer.concat(out).subarray(0, length);
}

/** Traffic key and IV from a traffic secret (e.g. one logged by Node's 'keylog' event). */
export function trafficKeysFromSecret(suite: CipherSuiteName, secret: Buffer, seq = 0n): TrafficKeys {
  const p = SUITE_PARAMS[suite];
  return {
    key: hkdfExpandLabel(p.hash, secret, 'key', p.keyLen),
    iv: hkdfExpandLabel(p.hash, secret, 'iv', IV_LEN),
    seq,
  };
}

export interface OpenedRecord {
  /** The inner content type (TLSInnerPlaintext.type). */
  type: number;
  data: Buffer;
}

/** One direction of protected records; the sequence number advances with every record. */
export class RecordProtector {
  private seq: bigint;
  private readonly key: Buffer;
  private readonly iv: Buffer;
  private readonly params: SuiteParams;

  constructor(suite: CipherSuiteName, keys: TrafficKeys) {
    this.params = SUITE_PARAMS[suite];
    if (keys.key.length !== this.params.keyLen) {
      throw new Error(`${suite} needs a ${this.params.keyLen}-byte key, got ${keys.key.length}`);
    }
    if (keys.iv.length !== IV_LEN) throw new Error(`traffic IV must be ${IV_LEN} bytes, got ${keys.iv.length}`);
    this.key = Buffer.from(keys.key);
    this.iv = Buffer.from(keys.iv);
    this.seq = keys.seq;
  }

  get sequence(): bigint {
    return this.seq;
  }

  /** RFC 8446 §5.3: the 64-bit sequence number, left-padded to the IV length, XORed into the IV. */
  private nextNonce(): Buffer {
    const nonce = Buffer.from(this.iv);
    const seqBytes = Buffer.alloc(8);
    seqBytes.writeBigUInt64BE(this.seq);
    for (let i = 0; i < 8; i++) nonce[IV_LEN - 8 + i] ^= seqBytes[i];
    this.seq += 1n;
    return nonce;
  }

  /** Protect one record: TLSInnerPlaintext = content || type || zeros, sealed with the header as AAD. */
  seal(type: number, content: Buffer, padding = 0): Buffer {
    const inner = Buffer.concat([content, Buffer.from([type]), Buffer.alloc(padding)]);
    const header = Buffer.from([CONTENT_APPLICATION_DATA, 0x03, 0x03, 0, 0]);
    header.writeUInt16BE(inner.length + TAG_LEN, 3);
    const nonce = this.nextNonce();
    // CCM needs the plaintext length with the AAD; GCM and ChaCha20 accept (and ignore) it, so one shape fits all four.
    const cipher = crypto.createCipheriv(this.params.cipher as crypto.CipherCCMTypes, this.key, nonce, {
      authTagLength: TAG_LEN,
    });
    cipher.setAAD(header, { plaintextLength: inner.length });
    const body = Buffer.concat([cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
    return Buffer.concat([header, body]);
  }

  /** Unprotect one whole record (header + body). Throws when authentication fails. */
  open(record: Buffer): OpenedRecord {
    if (record.length < 5 + TAG_LEN + 1) throw new Error(`record of ${record.length} bytes is too short to be protected`);
    if (record[0] !== CONTENT_APPLICATION_DATA) {
      throw new Error(`expected a protected record (outer type 23), got type ${record[0]}`);
    }
    const header = record.subarray(0, 5);
    const body = record.subarray(5);
    const ciphertext = body.subarray(0, body.length - TAG_LEN);
    const tag = body.subarray(body.length - TAG_LEN);
    const nonce = this.nextNonce();
    const decipher = crypto.createDecipheriv(this.params.cipher as crypto.CipherCCMTypes, this.key, nonce, {
      authTagLength: TAG_LEN,
    });
    decipher.setAuthTag(tag);
    decipher.setAAD(header, { plaintextLength: ciphertext.length });
    const inner = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    let end = inner.length;
    while (end > 0 && inner[end - 1] === 0) end--;
    if (end === 0) throw new Error('protected record has no content type (all padding)');
    return { type: inner[end - 1], data: inner.subarray(0, end - 1) };
  }
}
