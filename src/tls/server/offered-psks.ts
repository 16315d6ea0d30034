/**
 * The PSK identities a client offers, read from its first flight before any engine sees it: for
 * a caller that must look the keys up somewhere slow or far (a worker thread asking the main
 * thread, which holds the keyring links) and then hand the engine a lookup that answers at once.
 *
 * Only reads: every check that decides the handshake stays the engine's, which parses the same
 * records again. Whatever the engine would refuse on sight (a record that is not a plaintext
 * TLS handshake record, an empty one, one over 2^14 bytes, a message spread over more records
 * than it allows or longer than it accepts) ends the reading with no identities, so the engine
 * gets the records at once and sends its alert, as it would have without this reader.
 */
import { ContentType, ExtensionType, HandshakeType } from '../wire/codes';
import { decodeClientHello } from '../wire/handshake';
import { offeredPsks } from '../wire/extensions';
import { MAX_PLAINTEXT, MAX_RECORDS_PER_MESSAGE } from '../record/layer';

/**
 * The most PSK identities of one ClientHello the server looks up; the rest are treated as
 * unknown. Each lookup is a search of the kernel's keyrings, and a ClientHello of 64 KiB can
 * offer thousands of identities: a peer must not make one handshake cost thousands of them.
 * A client offers its keys for one host and one subsystem, a handful at most.
 */
export const MAX_PSK_IDENTITIES_LOOKED_UP = 16;

/** Record header: type (1), legacy version (2), length (2). */
const RECORD_HEADER = 5;
/** Handshake message header: type (1), length (3). */
const MESSAGE_HEADER = 4;

export type OfferedPsksResult = { more: true } | { more: false; identities: Buffer[] };
const MORE: OfferedPsksResult = { more: true };
const none = (): OfferedPsksResult => ({ more: false, identities: [] });

/**
 * Reads a client's first flight record by record, each byte once: `push` says `more` while the
 * ClientHello is not yet whole, then the identities it offers, the first
 * MAX_PSK_IDENTITIES_LOOKED_UP of them (none when it offers no PSK, is no ClientHello, or
 * cannot be read). Once it has answered anything but `more` it is done.
 */
export class OfferedPskReader {
  private readonly bodies: Buffer[] = [];
  private got = 0;
  /** Bytes of the whole ClientHello (header included), once its header is in. */
  private need = -1;

  /** `maxMessage` bounds the ClientHello's announced length, as the engine bounds every message. */
  constructor(private readonly maxMessage: number) {}

  push(record: Buffer): OfferedPsksResult {
    if (record.length < RECORD_HEADER || record[0] !== ContentType.handshake || record[1] !== 3) return none();
    const body = record.subarray(RECORD_HEADER);
    if (body.length === 0 || body.length > MAX_PLAINTEXT || this.bodies.length >= MAX_RECORDS_PER_MESSAGE) return none();
    this.bodies.push(body);
    this.got += body.length;
    if (this.need < 0) {
      if (this.got < MESSAGE_HEADER) return MORE;
      // The header may straddle records, but only the first four.
      const head = this.bodies.length === 1 ? body : Buffer.concat(this.bodies, this.got);
      if (head[0] !== HandshakeType.client_hello) return none();
      const len = head.readUIntBE(1, 3);
      if (len > this.maxMessage) return none();
      this.need = MESSAGE_HEADER + len;
    }
    if (this.got < this.need) return MORE;
    const all = this.bodies.length === 1 ? body : Buffer.concat(this.bodies, this.got);
    try {
      const ch = decodeClientHello(all.subarray(MESSAGE_HEADER, this.need));
      const psk = ch.extensions.get(ExtensionType.pre_shared_key);
      return { more: false, identities: psk ? offeredPsks(psk).identities.slice(0, MAX_PSK_IDENTITIES_LOOKED_UP).map((i) => i.identity) : [] };
    } catch {
      return none();
    }
  }
}
