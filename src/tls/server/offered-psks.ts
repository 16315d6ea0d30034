/**
 * The PSK identities a client offers, read from its first flight before any engine sees it: for
 * a caller that must look the keys up somewhere slow or far (a worker thread asking the main
 * thread, which holds the keyring links) and then hand the engine a lookup that answers at once.
 *
 * Only reads: every check that decides the handshake stays the engine's, which parses the same
 * records again. Whatever cannot be read here (records that are not a ClientHello, a malformed
 * one) gives no identities; the engine then fails it with the right alert.
 */
import { ContentType, ExtensionType, HandshakeType } from '../wire/codes';
import { decodeClientHello } from '../wire/handshake';
import { offeredPsks } from '../wire/extensions';

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

/**
 * What the plaintext records read so far say about the client's first message:
 * `more` while it is a ClientHello not yet complete (read another record), else the identities
 * it offers, the first MAX_PSK_IDENTITIES_LOOKED_UP of them (none when it offers no PSK, or is
 * no ClientHello, or cannot be read).
 * `maxMessage` bounds the ClientHello's announced length, as the engine bounds every message.
 */
export function offeredPskIdentities(records: readonly Buffer[], maxMessage: number): { more: true } | { more: false; identities: Buffer[] } {
  const none = { more: false as const, identities: [] };
  const bodies: Buffer[] = [];
  let got = 0;
  for (const rec of records) {
    if (rec.length < RECORD_HEADER || rec[0] !== ContentType.handshake) return none;
    const body = rec.subarray(RECORD_HEADER);
    bodies.push(body);
    got += body.length;
  }
  if (got < MESSAGE_HEADER) return records.length > 0 && got > 0 ? { more: true } : none;
  const head = Buffer.concat(bodies, got);
  if (head[0] !== HandshakeType.client_hello) return none;
  const len = head.readUIntBE(1, 3);
  if (len > maxMessage) return none;
  if (got < MESSAGE_HEADER + len) return { more: true };
  try {
    const ch = decodeClientHello(head.subarray(MESSAGE_HEADER, MESSAGE_HEADER + len));
    const psk = ch.extensions.get(ExtensionType.pre_shared_key);
    return { more: false, identities: psk ? offeredPsks(psk).identities.slice(0, MAX_PSK_IDENTITIES_LOOKED_UP).map((i) => i.identity) : [] };
  } catch {
    return none;
  }
}
