/**
 * Kernel keys for handshakes on worker threads (src/agent/pool/keys.ts): the identities a
 * ClientHello offers, read before the engine sees it; the keys a request names, read on the
 * main thread and answered in the worker with the same values and the same failures.
 */
import { randomBytes } from 'node:crypto';
import { MAX_PSK_IDENTITIES_LOOKED_UP, OfferedPskReader, createClient, type PskEntry } from '../../src/tls';
import type { HandshakeEnv, RecordChannel } from '../../src/agent/handshake';
import { errText } from '../../src/agent/handshake';
import { lookupPsks, prefetchKeys, pskLookahead, workerKeys } from '../../src/agent/pool/keys';
import type { HandshakeRequest } from '../../src/agent/request';
import { SysError } from '../../src/sys/libc';
import { splitRecords } from '../tls/helpers';
import { Errno } from '../../src/sys/errno';

const psk = (identity: string, key = randomBytes(32)): PskEntry => ({ identity: Buffer.from(identity), key, hash: 'sha256' });

/** The records of a client's first flight offering these PSKs (our own engine's ClientHello). */
function firstFlight(psks: PskEntry[]): Buffer[] {
  const step = createClient({ serverName: 'target', psks }).start();
  return splitRecords(step.send);
}


/** The same handshake bytes as two records, split inside the ClientHello. */
function split(rec: Buffer, at: number): Buffer[] {
  const body = rec.subarray(5);
  const mk = (b: Buffer) => Buffer.concat([Buffer.from([rec[0], rec[1], rec[2], b.length >> 8, b.length & 0xff]), b]);
  return [mk(body.subarray(0, at)), mk(body.subarray(at))];
}

type Offer = ReturnType<OfferedPskReader['push']>;

/** A fresh OfferedPskReader fed `records` in order: its answer after the last, or the first that was not `more`. */
function offerOf(records: readonly Buffer[], maxMessage: number): Offer {
  const reader = new OfferedPskReader(maxMessage);
  let r: Offer = { more: true };
  for (const rec of records) {
    r = reader.push(rec);
    if (!r.more) return r;
  }
  return r;
}

const ids = (r: Offer) => (r.more ? 'more' : r.identities.map((b) => b.toString()));

describe('OfferedPskReader', () => {
  const flight = firstFlight([psk('host-a'), psk('host-b')]);

  it('reads the identities of a ClientHello in one record, in order', () => {
    expect(flight).toHaveLength(1);
    expect(ids(offerOf(flight, 65536))).toEqual(['host-a', 'host-b']);
  });

  it('asks for more records until the ClientHello is whole, split anywhere (even inside its header)', () => {
    for (const at of [2, 40, flight[0].length - 6]) {
      const [a, b] = split(flight[0], at);
      expect(offerOf([a], 65536)).toEqual({ more: true });
      expect(ids(offerOf([a, b], 65536))).toEqual(['host-a', 'host-b']);
    }
  });

  it('gives none for a ClientHello without a PSK, a first record that is not a handshake, another message, or an unreadable one', () => {
    const x509 = splitRecords(createClient({ serverName: 'target', trust: { anchors: [] } as never }).start().send);
    expect(ids(offerOf(x509, 65536))).toEqual([]);
    const alert = Buffer.from([21, 3, 3, 0, 2, 2, 40]);
    expect(ids(offerOf([alert], 65536))).toEqual([]);
    const finished = Buffer.from([22, 3, 3, 0, 8, 20, 0, 0, 4, 1, 2, 3, 4]);
    expect(ids(offerOf([finished], 65536))).toEqual([]);
    // A whole ClientHello by its headers whose body is not one.
    const garbled = Buffer.concat([flight[0].subarray(0, 9), Buffer.alloc(flight[0].length - 9, 0xee)]);
    expect(ids(offerOf([garbled], 65536))).toEqual([]);
  });

  it('gives only the first MAX_PSK_IDENTITIES_LOOKED_UP identities of a long offer', () => {
    const many = firstFlight(Array.from({ length: 20 }, (_, i) => psk(`h${i}`)));
    expect(ids(offerOf(many, 65536))).toEqual(Array.from({ length: MAX_PSK_IDENTITIES_LOOKED_UP }, (_, i) => `h${i}`));
  });

  it('hands over at once what the engine refuses on sight: an empty record, another version, over 2^14 bytes, more than 256 records', () => {
    const [a] = split(flight[0], 40);
    const empty = Buffer.from([22, 3, 3, 0, 0]);
    expect(offerOf([a, empty], 65536)).toEqual({ more: false, identities: [] });
    const v2 = Buffer.from(a);
    v2[1] = 2;
    expect(offerOf([v2], 65536)).toEqual({ more: false, identities: [] });
    const huge = Buffer.concat([Buffer.from([22, 3, 3, 0x40, 0x01]), Buffer.alloc(16385, 1)]);
    expect(offerOf([huge], 65536)).toEqual({ more: false, identities: [] });
    // A ClientHello announced at 64 KiB, sent one byte per record: 256 records, then no more waiting.
    const header = [1, 0, 0xff, 0xf0];
    const oneByte = (b: number) => Buffer.from([22, 3, 3, 0, 1, b]);
    const reader = new OfferedPskReader(65536);
    let n = 0;
    let r: Offer = { more: true };
    while (r.more) r = reader.push(oneByte(header[n++] ?? 0));
    expect(n).toBe(257);
    expect(r).toEqual({ more: false, identities: [] });
  });

  it('does not wait for a ClientHello announced longer than the engine accepts', () => {
    const [a] = split(flight[0], 40);
    const announced = a.subarray(5).readUIntBE(1, 3);
    expect(offerOf([a], announced - 1)).toEqual({ more: false, identities: [] });
    expect(offerOf([a], announced)).toEqual({ more: true });
  });
});

/** A keys object whose reads are scripted, counting calls. */
function scriptedKeys(script: { psk?: Record<number, PskEntry | Error>; read?: Record<number, Buffer | Error>; find?: Record<string, PskEntry | Error> }) {
  const calls: string[] = [];
  const pick = <T>(v: T | Error | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} unscripted`);
    if (v instanceof Error) throw v;
    return v;
  };
  const keys: HandshakeEnv['keys'] = {
    linkKeyrings: () => () => undefined,
    psk: (s) => (calls.push(`psk ${s}`), pick(script.psk?.[s], `psk ${s}`)),
    read: (s) => (calls.push(`read ${s}`), pick(script.read?.[s], `read ${s}`)),
    findPsk: (id) => {
      calls.push(`find ${id.toString()}`);
      const v = script.find?.[id.toString()];
      if (v instanceof Error) throw v;
      return v;
    },
  };
  return { keys, calls };
}

const request = (r: Partial<HandshakeRequest>): HandshakeRequest =>
  ({ role: 'client', auth: 'psk', peerIdentities: [], keySerialsAllowed: true, fd: 3, timeoutMs: 1000, remoteAuth: [], ...r }) as HandshakeRequest;

describe('keys read on the main thread, answered in the worker', () => {
  it("a client's PSKs by serial: the same entries, and a failed read fails with the same text", () => {
    const good = psk('NVMe0R01 host');
    const revoked = new SysError('keyctl(READ)', Errno.EKEYREVOKED, 'key 12');
    const { keys, calls } = scriptedKeys({ psk: { 11: good, 12: revoked } });
    const pre = prefetchKeys(request({ peerIdentities: [11, 0, 12] }), keys);
    expect(calls).toEqual(['psk 11', 'psk 12']);
    // What crosses to the worker is plain data (structured clone turns Buffers into Uint8Arrays).
    const crossed = structuredClone(pre);
    const w = workerKeys(crossed, new Map());
    const got = w.psk(11);
    expect(Buffer.isBuffer(got.key) && Buffer.isBuffer(got.identity)).toBe(true);
    expect(got).toEqual(good);
    let thrown: unknown;
    try {
      w.psk(12);
    } catch (e) {
      thrown = e;
    }
    expect(errText(thrown)).toBe(errText(revoked));
    expect(errText(thrown)).toMatch(/^EKEYREVOKED: /);
    expect(() => w.psk(13)).toThrow('key 13 was not read for this handshake');
  });

  it("a consumer's certificate and key by serial are read; a consumer that may not name keys gets nothing read", () => {
    const { keys, calls } = scriptedKeys({ read: { 21: Buffer.from('cert'), 22: Buffer.from('key') } });
    const w = workerKeys(structuredClone(prefetchKeys(request({ role: 'server', auth: 'x509', certificate: { cert: 21, privkey: 22 } }), keys)), new Map());
    expect(w.read(21).toString()).toBe('cert');
    expect(w.read(22).toString()).toBe('key');
    expect(calls).toEqual(['read 21', 'read 22']);
    calls.length = 0;
    expect(prefetchKeys(request({ peerIdentities: [11], keySerialsAllowed: false, certificate: { cert: 21, privkey: 22 } }), keys)).toEqual({ read: [], psk: [] });
    expect(calls).toEqual([]);
  });

  it('identities a client offers: looked up in order, a failed lookup is no key, at most 16 whatever the asker sends', () => {
    const a = psk('a');
    const { keys, calls } = scriptedKeys({ find: { a, c: new Error('EACCES') } });
    expect(lookupPsks([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')], keys)).toEqual([a, null, null]);
    calls.length = 0;
    expect(lookupPsks(Array.from({ length: 40 }, (_, i) => Buffer.from(`x${i}`)), keys)).toHaveLength(MAX_PSK_IDENTITIES_LOOKED_UP);
    expect(calls).toHaveLength(MAX_PSK_IDENTITIES_LOOKED_UP);
  });

  it('certificate serials are read only for a handshake that presents a certificate', () => {
    const { keys, calls } = scriptedKeys({ read: { 21: Buffer.from('cert'), 22: Buffer.from('key') } });
    const presentsNone: Array<Partial<HandshakeRequest>> = [
      { role: 'server', auth: 'psk' },
      { role: 'client', auth: 'psk', peerIdentities: [] },
      { role: 'client', auth: 'unauth' },
    ];
    for (const r of presentsNone) {
      prefetchKeys(request({ ...r, certificate: { cert: 21, privkey: 22 } }), keys);
    }
    expect(calls).toEqual([]);
    prefetchKeys(request({ role: 'client', auth: 'x509', certificate: { cert: 21, privkey: 22 } }), keys);
    expect(calls).toEqual(['read 21', 'read 22']);
  });
});

/** A channel that hands out `recs` in order, then fails. */
function channelOf(recs: Buffer[]): RecordChannel & { reads: number } {
  const queue = [...recs];
  const ch = {
    reads: 0,
    readRecord: () => {
      ch.reads++;
      const r = queue.shift();
      return r ? Promise.resolve(r) : Promise.reject(new Error('EOF'));
    },
    write: () => Promise.resolve(),
    close: () => undefined,
  };
  return ch;
}

describe('pskLookahead', () => {
  it('reads the whole ClientHello, asks once for its identities, then hands every record out as it came', async () => {
    const a = psk('host-a');
    const [r1, r2] = split(firstFlight([a, psk('host-b')])[0], 100);
    const later = Buffer.from([20, 3, 3, 0, 1, 1]);
    const raw = channelOf([r1, r2, later]);
    const found = new Map<string, PskEntry | undefined>();
    const asked: string[][] = [];
    const ch = pskLookahead(raw, found, async (identities) => {
      asked.push(identities.map((b) => b.toString()));
      return [a, null];
    });
    expect(await ch.readRecord()).toBe(r1);
    expect(asked).toEqual([['host-a', 'host-b']]);
    expect(raw.reads).toBe(2);
    expect(await ch.readRecord()).toBe(r2);
    expect(await ch.readRecord()).toBe(later);
    expect(asked).toHaveLength(1);
    const keys = workerKeys(undefined, found);
    expect(keys.findPsk(Buffer.from('host-a'))).toEqual(a);
    expect(keys.findPsk(Buffer.from('host-b'))).toBeUndefined();
    expect(keys.findPsk(Buffer.from('never-offered'))).toBeUndefined();
  });

  it('a first flight that offers no PSK goes to the engine without a lookup', async () => {
    const alert = Buffer.from([21, 3, 3, 0, 2, 2, 40]);
    const ch = pskLookahead(channelOf([alert]), new Map(), () => Promise.reject(new Error('no lookup expected')));
    expect(await ch.readRecord()).toBe(alert);
  });
});
