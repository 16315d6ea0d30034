/**
 * Kernel keys for handshakes on worker threads, read by the main thread on their behalf.
 *
 * The kernel decides whether a key may be read from the calling thread's credentials, and a
 * thread's keyrings (session, process, thread) live in those credentials. Every keyring link
 * and every keyctl read of the agent is therefore made on the main thread, the one thread whose
 * credentials the links are made with, whatever thread runs the handshake: a worker never
 * calls keyctl. A worker running a handshake whose keyrings it did not link, under the packaged
 * systemd unit, had its NVMe PSK read refused with EACCES; this module is why PSK and
 * key-serial handshakes can run on the workers at all.
 *
 * What the main thread does for a worker's handshake:
 * - before handing it over, links the keyrings it may search (as runHandshake does on the main
 *   thread) and reads every key the request names by serial (the client's PSKs, a certificate
 *   and its private key): `prefetchKeys`;
 * - for a server PSK handshake, when the worker has read the client's ClientHello, looks up the
 *   identities it offers (`lookupPsks`), at most once per handshake;
 * - unlinks the keyrings when the handshake ends, however it ends.
 * The worker answers the engine's key reads from those results (`workerKeys`); a read the main
 * thread failed fails in the worker with the same text, so the status and reason are the same
 * as on the main thread.
 */
import type { PskEntry } from '../../tls';
import { DEFAULT_MAX_HANDSHAKE_MESSAGE, MAX_PSK_IDENTITIES_LOOKED_UP, OfferedPskReader } from '../../tls';
import type { HandshakeEnv, RecordChannel } from '../handshake';
import { errText, readsCertificateKeys } from '../handshake';
import type { HandshakeRequest } from '../request';

/** One key read made for a worker: its value, or the text of the error the read failed with. */
export type KeyResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** The keys a request names by serial, read on the main thread before the handshake starts. */
export interface PrefetchedKeys {
  /** Raw payloads (the consumer's certificate and private key). */
  read: Array<[serial: number, result: KeyResult<Uint8Array>]>;
  /** The client's PSKs. */
  psk: Array<[serial: number, result: KeyResult<PskEntry>]>;
}

type Keys = HandshakeEnv['keys'];

function attempt<T>(read: () => T): KeyResult<T> {
  try {
    return { ok: true, value: read() };
  } catch (e) {
    return { ok: false, error: errText(e) };
  }
}

/**
 * Every key `req` names by serial that runHandshake would read (see buildConnection): PSKs of a
 * client PSK request, the certificate and private key of a request that uses them. None when
 * the consumer may not name keys: the handshake then fails as on the main thread, before a read.
 */
export function prefetchKeys(req: HandshakeRequest, keys: Keys): PrefetchedKeys {
  const out: PrefetchedKeys = { read: [], psk: [] };
  if (!req.keySerialsAllowed) return out;
  if (req.role === 'client' && req.auth === 'psk') {
    for (const serial of req.peerIdentities) if (serial !== 0) out.psk.push([serial, attempt(() => keys.psk(serial))]);
  }
  if (readsCertificateKeys(req)) {
    const { cert, privkey } = req.certificate!;
    for (const serial of [cert, privkey]) out.read.push([serial, attempt(() => keys.read(serial))]);
  }
  return out;
}

/**
 * Whether a handshake looks up the PSK identities its client offers (a server PSK handshake):
 * the worker asks for that lookup exactly when the main thread allows it.
 */
export function looksUpOfferedPsks(req: HandshakeRequest): boolean {
  return req.role === 'server' && req.auth === 'psk';
}

/**
 * The PSKs of the identities a client offered, in order; null where none is found or the lookup
 * failed (as the engine's lookup treats a failure). Only the first MAX_PSK_IDENTITIES_LOOKED_UP
 * are looked up, whatever the asker sent.
 */
export function lookupPsks(identities: readonly Uint8Array[], keys: Keys): Array<PskEntry | null> {
  return identities.slice(0, MAX_PSK_IDENTITIES_LOOKED_UP).map((id) => {
    try {
      return keys.findPsk(asBuffer(id)) ?? null;
    } catch {
      return null;
    }
  });
}

/** A Buffer over what structured clone delivers (a Uint8Array), without copying. */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function cloned(e: PskEntry): PskEntry {
  return { ...e, identity: asBuffer(e.identity), key: asBuffer(e.key) };
}

/**
 * A worker handshake's `keys`: reads answered from what the main thread read for it, PSK
 * identities from `found` (filled by pskLookahead before the engine sees the ClientHello).
 */
export function workerKeys(prefetched: PrefetchedKeys | undefined, found: Map<string, PskEntry | undefined>): Keys {
  const read = new Map(prefetched?.read ?? []);
  const psk = new Map(prefetched?.psk ?? []);
  const take = <T>(m: Map<number, KeyResult<T>>, serial: number): T => {
    const r = m.get(serial);
    if (!r) throw new Error(`key ${serial} was not read for this handshake`);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };
  return {
    linkKeyrings: () => () => undefined,
    read: (serial) => asBuffer(take(read, serial)),
    psk: (serial) => cloned(take(psk, serial)),
    findPsk: (identity) => found.get(identity.toString('hex')),
  };
}

/**
 * A server PSK handshake's channel: its first read collects the client's first flight up to a
 * whole ClientHello (OfferedPskReader: each byte parsed once, bounded as the engine bounds it),
 * has `lookup` fetch the keys of the identities offered, records them in `found`, and then
 * hands the records out one by one as they came. A first flight that is no ClientHello, or
 * offers no PSK, goes to the engine without a lookup. Give it the peer-gated channel: each read
 * from the peer is then a peer wait of its own, and the lookup is not.
 */
export function pskLookahead(channel: RecordChannel, found: Map<string, PskEntry | undefined>, lookup: (identities: Buffer[]) => Promise<Array<PskEntry | null>>): RecordChannel {
  let ahead: Promise<Buffer[]> | undefined;
  const collect = async (): Promise<Buffer[]> => {
    const reader = new OfferedPskReader(DEFAULT_MAX_HANDSHAKE_MESSAGE);
    const records: Buffer[] = [];
    for (;;) {
      const record = await channel.readRecord();
      records.push(record);
      const offer = reader.push(record);
      if (offer.more) continue;
      if (offer.identities.length > 0) {
        const entries = await lookup(offer.identities);
        offer.identities.forEach((id, i) => {
          const e = entries[i];
          found.set(id.toString('hex'), e ? cloned(e) : undefined);
        });
      }
      return records;
    }
  };
  return {
    readRecord: () => {
      // Reads are sequential (the engine's loop), but even overlapping ones share one collection.
      ahead ??= collect();
      return ahead.then((records) => records.shift() ?? channel.readRecord());
    },
    write: (data) => channel.write(data),
    close: () => channel.close(),
  };
}
