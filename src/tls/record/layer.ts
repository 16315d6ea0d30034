/**
 * The record layer (RFC 8446 §5): whole records in, handshake messages out; handshake
 * messages in, protected records out. It owns the sequence numbers, enforces the size
 * limits, and refuses a key change while part of a handshake message is still buffered.
 */
import { MAX_RECORD_BODY, RECORD_HEADER_LEN, TlsError, type AlertName } from '../api';
import type { Aead, CryptoProvider } from '../crypto/provider';
import type { Suite } from '../crypto/suites';
import { ALERT_CODES, alertName, fail } from '../errors';
import type { RecordKeys } from '../keyschedule';
import { ownCopy } from '../wire/bytes';
import { ContentType, TLS12 } from '../wire/codes';
import type { HandshakeMessage } from '../wire/handshake';

/** RFC 8446 §5.1: TLSPlaintext.length MUST NOT exceed 2^14. */
export const MAX_PLAINTEXT = 16384;
/**
 * Records one handshake message may span. A sender packs a message into as few records as its
 * fragment size allows: 64 KiB (our largest accepted message) in 512-byte fragments, the
 * smallest max_fragment_length (RFC 6066), is 128 records; 256 leaves room for 128 KiB messages.
 * Beyond it a peer is paying the record overhead on purpose (1-byte records) and is cut off.
 */
export const MAX_RECORDS_PER_MESSAGE = 256;
/**
 * Handshake records the peer may send in all before its Finished (the agent hands the socket
 * off at Finished, so that is every handshake record it ever reads): a full handshake is 1–6
 * messages, a HelloRetryRequest adds one, so 4 × 256 bounds any honest sender.
 */
export const MAX_HANDSHAKE_RECORDS = 1024;
const TAG_LEN = 16;
/** The middlebox-compatibility change_cipher_spec record, always the same six bytes. */
const CCS_RECORD = Buffer.from([ContentType.change_cipher_spec, 0x03, 0x03, 0x00, 0x01, 0x01]);
const EMPTY = Buffer.alloc(0);

class Protection {
  /** The sequence number as a Number: exact far beyond the few records a handshake protects. */
  private seqNo: number;

  constructor(private readonly aead: Aead, private readonly iv: Buffer, seq = 0n) {
    this.seqNo = Number(seq);
  }

  get seq(): bigint {
    return BigInt(this.seqNo);
  }

  /** True once a record has been protected or opened under these keys. */
  get used(): boolean {
    return this.seqNo > 0;
  }

  /** RFC 8446 §5.3: the IV XORed with the 64-bit big-endian sequence number. */
  private nonce(): Buffer {
    const n = Buffer.from(this.iv);
    const end = n.length;
    const hi = Math.floor(this.seqNo / 0x1_0000_0000);
    const lo = this.seqNo >>> 0;
    n.writeUInt32BE((n.readUInt32BE(end - 4) ^ lo) >>> 0, end - 4);
    n.writeUInt32BE((n.readUInt32BE(end - 8) ^ hi) >>> 0, end - 8);
    this.seqNo += 1;
    return n;
  }

  seal(header: Buffer, inner: Buffer): Buffer {
    return this.aead.seal(this.nonce(), header, inner);
  }

  /** A record that fails authentication leaves the sequence number alone (trial decryption). */
  open(header: Buffer, body: Buffer): Buffer | undefined {
    const plain = this.aead.open(this.nonce(), header, body);
    if (!plain) this.seqNo -= 1;
    return plain;
  }
}

export type Incoming =
  | { kind: 'handshake' }
  | { kind: 'change_cipher_spec' }
  | { kind: 'application_data' }
  /** A record of rejected 0-RTT data, dropped unread (RFC 8446 §4.2.10). */
  | { kind: 'skipped' };

/**
 * How much rejected 0-RTT data a server skips (RFC 8446 §4.2.10: up to its max_early_data_size).
 * The server never announces one (it issues no tickets), so this is OpenSSL's default, 2^14
 * bytes. Each skipped record counts its body less the tag and the content-type byte, the least
 * overhead a record can have, so a peer cannot stretch the budget with padding.
 */
export const EARLY_DATA_SKIP_LIMIT = 16384;
const EARLY_RECORD_OVERHEAD = TAG_LEN + 1;

export class RecordLayer {
  private reader?: Protection;
  private writer?: Protection;
  /** Bytes of rejected 0-RTT data still to skip; undefined when the client sent none. */
  private earlySkip?: number;
  /**
   * Handshake bytes received but not yet handed out, as the record bodies they came in: joining
   * them per record would copy the whole partial message again for every record (quadratic in
   * the record count); they are joined once, when a message is complete.
   */
  private chunks: Buffer[] = [];
  private pendingLen = 0;
  /** 4 + length of the message at the front of `chunks`, once its header has arrived. */
  private expected?: number;
  /** Records that carried part of the message at the front (0 when nothing is buffered). */
  private spanned = 0;
  private handshakeRecords = 0;
  private readonly out: Buffer[] = [];
  /**
   * RFC 8446 §5.1: legacy_record_version is 0x0303 except on the client's initial ClientHello,
   * where 0x0301 is what middleboxes expect; so a client starts at 0x0301.
   */
  private recordVersion: number;

  constructor(private readonly crypto: CryptoProvider, private readonly maxMessage: number, isClient: boolean) {
    this.recordVersion = isClient ? 0x0301 : TLS12;
  }

  get encryptingReads(): boolean {
    return this.reader !== undefined;
  }

  get encryptingWrites(): boolean {
    return this.writer !== undefined;
  }

  get readSeq(): bigint {
    return this.reader?.seq ?? 0n;
  }

  get writeSeq(): bigint {
    return this.writer?.seq ?? 0n;
  }

  /** Bytes of handshake messages received but not yet handed out. */
  get buffered(): number {
    return this.pendingLen;
  }

  setReadKeys(suite: Suite, keys: RecordKeys): void {
    if (this.pendingLen > 0) {
      fail('unexpected_message', 'handshake data straddles a key change');
    }
    this.reader = new Protection(this.crypto.aead(suite.aead, keys.key), keys.iv);
  }

  setWriteKeys(suite: Suite, keys: RecordKeys, seq = 0n): void {
    this.writer = new Protection(this.crypto.aead(suite.aead, keys.key), keys.iv, seq);
  }

  /**
   * The client offered early data and we did not accept it: until a record deprotects under the
   * next read keys, drop what looks like its 0-RTT records, at most EARLY_DATA_SKIP_LIMIT bytes.
   */
  skipRejectedEarlyData(on: boolean): void {
    this.earlySkip = on ? EARLY_DATA_SKIP_LIMIT : undefined;
  }

  private skipEarly(len: number, why: AlertName, message: string): Incoming {
    if (this.earlySkip === undefined) fail(why, message);
    this.earlySkip -= Math.max(0, len - EARLY_RECORD_OVERHEAD);
    if (this.earlySkip < 0) fail(why, `${message}, and the client has sent more than ${EARLY_DATA_SKIP_LIMIT} bytes of rejected 0-RTT data`);
    return { kind: 'skipped' };
  }

  /** Decodes one record. Handshake content is buffered for nextMessage(). */
  receive(record: Buffer): Incoming {
    if (record.length < RECORD_HEADER_LEN) fail('decode_error', `record of ${record.length} bytes has no header`);
    const type = record[0];
    const version = record.readUInt16BE(1);
    const len = record.readUInt16BE(3);
    if (len !== record.length - RECORD_HEADER_LEN) {
      fail('decode_error', `record header says ${len} bytes, record has ${record.length - RECORD_HEADER_LEN}`);
    }
    // RFC 8446 §5.1 has the minor version ignored; a major version other than 3 is not TLS at
    // all, which OpenSSL and GnuTLS answer with protocol_version.
    if (version >> 8 !== 3) fail('protocol_version', `record version 0x${version.toString(16)} is not TLS`);
    if (len > MAX_RECORD_BODY) fail('record_overflow', `record body of ${len} bytes exceeds 2^14+256`);
    let body = record.subarray(RECORD_HEADER_LEN);
    let content = type;

    if (type === ContentType.change_cipher_spec) {
      if (len !== 1 || body[0] !== 1) fail('unexpected_message', 'change_cipher_spec record is not the single byte 0x01');
      if (this.pendingLen > 0) fail('unexpected_message', 'change_cipher_spec inside a fragmented handshake message');
      return { kind: 'change_cipher_spec' };
    }
    if (this.reader && type === ContentType.alert && !this.reader.used) {
      // A peer that has not yet sent anything encrypted may still write plaintext: OpenSSL clients
      // send their alert about our certificate in the clear before switching to handshake keys.
      if (len > MAX_PLAINTEXT) fail('record_overflow', `plaintext record of ${len} bytes exceeds 2^14`);
    } else if (this.reader) {
      if (type !== ContentType.application_data) {
        fail('unexpected_message', `plaintext record of type ${type} after encryption started`);
      }
      const plain = this.reader.open(record.subarray(0, RECORD_HEADER_LEN), body);
      if (!plain) return this.skipEarly(len, 'bad_record_mac', 'record failed authentication');
      this.earlySkip = undefined;
      if (plain.length > MAX_PLAINTEXT + 1) fail('record_overflow', `decrypted record of ${plain.length} bytes exceeds 2^14`);
      // RFC 8446 §5.4: the content type is the last non-zero byte; zeros after it are padding.
      let i = plain.length - 1;
      while (i >= 0 && plain[i] === 0) i--;
      if (i < 0) fail('unexpected_message', 'encrypted record has no content type');
      content = plain[i];
      body = plain.subarray(0, i);
    } else if (len > MAX_PLAINTEXT) {
      fail('record_overflow', `plaintext record of ${len} bytes exceeds 2^14`);
    }

    switch (content) {
      case ContentType.handshake:
        if (body.length === 0) fail('unexpected_message', 'empty handshake record');
        this.bufferHandshake(body);
        return { kind: 'handshake' };
      case ContentType.alert:
        return this.peerAlert(body);
      case ContentType.application_data:
        // After a HelloRetryRequest the 0-RTT records come before any read keys exist.
        if (!this.reader) return this.skipEarly(len, 'unexpected_message', 'application data before encryption');
        return { kind: 'application_data' };
      default:
        return fail('unexpected_message', `record of unknown content type ${content}`);
    }
  }

  /**
   * The record-count bounds use unexpected_message: each record is well-formed, what is wrong is
   * the sequence (RFC 8446 §6.2: "an inappropriate message ... was received"); decode_error and
   * record_overflow speak of one malformed or oversized record, which these are not.
   */
  private bufferHandshake(body: Buffer): void {
    if (++this.handshakeRecords > MAX_HANDSHAKE_RECORDS) {
      fail('unexpected_message', `more than ${MAX_HANDSHAKE_RECORDS} handshake records before the peer's Finished`);
    }
    if (++this.spanned > MAX_RECORDS_PER_MESSAGE) {
      fail('unexpected_message', `a handshake message spans more than ${MAX_RECORDS_PER_MESSAGE} records`);
    }
    // A copy: the caller may reuse the record's buffer once receive() returns.
    this.chunks.push(ownCopy(body));
    this.pendingLen += body.length;
  }

  private peerAlert(body: Buffer): never {
    if (this.pendingLen > 0) fail('unexpected_message', 'alert inside a fragmented handshake message');
    // RFC 8446 §5.4: an alert record with no content is unexpected_message; any other length
    // cannot be parsed as the one alert a record must hold (§5.1, §6: decode_error).
    if (body.length === 0) fail('unexpected_message', 'empty alert record');
    if (body.length !== 2) fail('decode_error', `alert record of ${body.length} bytes`);
    const name: AlertName = alertName(body[1]) ?? 'internal_error';
    if (body[1] === 0 || body[1] === 90) {
      // close_notify or user_canceled mid-handshake: the peer gave up.
      throw new TlsError(name, `peer closed the handshake with ${name}`, true);
    }
    throw new TlsError(name, `peer sent fatal alert ${name} (${body[1]})`, true);
  }

  /** The next complete handshake message, or undefined when more records are needed. */
  nextMessage(): HandshakeMessage | undefined {
    if (this.expected === undefined) {
      if (this.pendingLen < 4) return undefined;
      const len = this.joined().readUIntBE(1, 3);
      if (len > this.maxMessage) {
        fail('illegal_parameter', `handshake message of ${len} bytes exceeds the ${this.maxMessage}-byte limit`);
      }
      this.expected = 4 + len;
    }
    if (this.pendingLen < this.expected) return undefined;
    const all = this.joined();
    const raw = all.subarray(0, this.expected);
    const rest = all.subarray(this.expected);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.pendingLen = rest.length;
    this.expected = undefined;
    // What is left began in the last record received: it has spanned one record so far.
    this.spanned = rest.length > 0 ? 1 : 0;
    return { type: raw[0], body: raw.subarray(4), raw };
  }

  /** The buffered bytes as one Buffer (joined at most once per message). */
  private joined(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.pendingLen)];
    return this.chunks[0];
  }

  private writeRecord(type: number, payload: Buffer): void {
    const legacyVersion = this.recordVersion;
    this.recordVersion = TLS12;
    // Every byte of the header is written below: no zero-filled buffer of its own needed.
    const header = Buffer.allocUnsafe(RECORD_HEADER_LEN);
    if (this.writer) {
      header[0] = ContentType.application_data;
      header.writeUInt16BE(TLS12, 1);
      header.writeUInt16BE(payload.length + 1 + TAG_LEN, 3);
      const inner = Buffer.allocUnsafe(payload.length + 1);
      payload.copy(inner, 0);
      inner[payload.length] = type;
      this.out.push(header, this.writer.seal(header, inner));
    } else {
      header[0] = type;
      header.writeUInt16BE(legacyVersion, 1);
      header.writeUInt16BE(payload.length, 3);
      this.out.push(header, payload);
    }
  }

  sendHandshake(msgs: HandshakeMessage[]): void {
    const all = msgs.length === 1 ? msgs[0].raw : Buffer.concat(msgs.map((m) => m.raw));
    for (let off = 0; off < all.length; off += MAX_PLAINTEXT) {
      this.writeRecord(ContentType.handshake, all.subarray(off, off + MAX_PLAINTEXT));
    }
  }

  /** The middlebox-compatibility change_cipher_spec (always plaintext). */
  sendChangeCipherSpec(): void {
    this.recordVersion = TLS12;
    this.out.push(CCS_RECORD); // takeOutput copies it out
  }

  sendAlert(alert: AlertName): void {
    this.writeRecord(ContentType.alert, alertBody(alert));
  }

  takeOutput(): Buffer {
    if (this.out.length === 0) return EMPTY;
    const b = Buffer.concat(this.out);
    this.out.length = 0;
    return b;
  }
}

/** An alert's two bytes: its level (warning only for close_notify and user_canceled) and code. */
function alertBody(alert: AlertName): Buffer {
  const level = alert === 'close_notify' || alert === 'user_canceled' ? 1 : 2;
  return Buffer.from([level, ALERT_CODES[alert]]);
}

/**
 * An alert in a plaintext record, for a failure before any engine exists (the agent refusing a
 * request it cannot serve): legacy_record_version 0x0303, as every TLS 1.3 record but the first
 * ClientHello carries.
 */
export function plaintextAlertRecord(alert: AlertName): Buffer {
  const body = alertBody(alert);
  const rec = Buffer.allocUnsafe(5 + body.length);
  rec[0] = ContentType.alert;
  rec.writeUInt16BE(TLS12, 1);
  rec.writeUInt16BE(body.length, 3);
  body.copy(rec, 5);
  return rec;
}
