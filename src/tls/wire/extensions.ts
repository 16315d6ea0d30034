/** Extension lists and the bodies of the extensions the engine understands (RFC 8446 §4.2). */
import { fail } from '../errors';
import { Reader, Writer } from './bytes';

export interface Extension {
  type: number;
  body: Buffer;
}

/** Parsed extensions: by type, plus the order they came in. */
export class Extensions {
  private readonly byType = new Map<number, Buffer>();

  constructor(readonly list: Extension[]) {
    for (const e of list) this.byType.set(e.type, e.body);
  }

  has(type: number): boolean {
    return this.byType.has(type);
  }

  get(type: number): Buffer | undefined {
    return this.byType.get(type);
  }

  types(): number[] {
    return this.list.map((e) => e.type);
  }
}

/**
 * Reads `extensions<0..2^16-1>`; duplicates are illegal_parameter (RFC 8446 §4.2). There is no
 * limit on their number: any count is valid, and the work is linear in the bytes, which the
 * record layer's handshake-message limit already bounds (at most one extension per 4 bytes).
 */
export function readExtensions(r: Reader, what: string): Extensions {
  const list: Extension[] = [];
  const seen = new Set<number>();
  r.scope(2, `${what} extensions`, () => {
    while (r.remaining() > 0) {
      const type = r.u16('extension type');
      const body = r.vector(2, `extension ${type}`);
      if (seen.has(type)) fail('illegal_parameter', `${what}: duplicate extension ${type}`);
      seen.add(type);
      list.push({ type, body });
    }
  });
  return new Extensions(list);
}

export function writeExtensions(w: Writer, list: Extension[]): void {
  w.scope(2, (x) => {
    for (const e of list) x.u16(e.type).vector(2, e.body);
  });
}

function parse<T>(body: Buffer, what: string, f: (r: Reader) => T): T {
  const r = new Reader(body, what);
  const v = f(r);
  r.end();
  return v;
}

export function u16List(body: Buffer, what: string, lenWidth: 1 | 2 = 2): number[] {
  return parse(body, what, (r) => {
    const out: number[] = [];
    r.scope(lenWidth, what, () => {
      while (r.remaining() > 0) out.push(r.u16(what));
    }, 2);
    return out;
  });
}

export function encodeU16List(values: number[], lenWidth: 1 | 2 = 2): Buffer {
  const w = new Writer();
  w.scope(lenWidth, (x) => values.forEach((v) => x.u16(v)));
  return w.finish();
}

export function u8List(body: Buffer, what: string): number[] {
  return parse(body, what, (r) => [...r.vector(1, what, 1)]);
}

export function u16(body: Buffer, what: string): number {
  return parse(body, what, (r) => r.u16(what));
}

export function encodeU16(v: number): Buffer {
  return new Writer().u16(v).finish();
}

export interface KeyShareEntry {
  group: number;
  key: Buffer;
}

export function clientKeyShares(body: Buffer): KeyShareEntry[] {
  return parse(body, 'key_share', (r) => {
    const out: KeyShareEntry[] = [];
    r.scope(2, 'client_shares', () => {
      while (r.remaining() > 0) {
        const group = r.u16('group');
        // An empty key_exchange is a malformed key share, refused as illegal_parameter by the
        // group when it is the one we use (what peers expect), not a framing error.
        out.push({ group, key: r.vector(2, 'key_exchange') });
      }
    });
    return out;
  });
}

export function encodeClientKeyShares(entries: KeyShareEntry[]): Buffer {
  return new Writer().scope(2, (w) => entries.forEach((e) => w.u16(e.group).vector(2, e.key))).finish();
}

export function serverKeyShare(body: Buffer): KeyShareEntry {
  return parse(body, 'key_share', (r) => {
    const group = r.u16('group');
    return { group, key: r.vector(2, 'key_exchange') };
  });
}

export function encodeServerKeyShare(e: KeyShareEntry): Buffer {
  return new Writer().u16(e.group).vector(2, e.key).finish();
}

/** server_name (RFC 6066 §3): the host_name entry, if any. */
export function serverName(body: Buffer): string | undefined {
  if (body.length === 0) return undefined;
  return parse(body, 'server_name', (r) => {
    let host: string | undefined;
    r.scope(2, 'server_name_list', () => {
      while (r.remaining() > 0) {
        const type = r.u8('name_type');
        const name = r.vector(2, 'host_name', 1);
        if (type === 0) {
          if (host !== undefined) fail('illegal_parameter', 'server_name: two host_name entries');
          host = name.toString('latin1');
        }
      }
    }, 1);
    return host;
  });
}

export function encodeServerName(host: string): Buffer {
  return new Writer().scope(2, (w) => w.u8(0).vector(2, Buffer.from(host, 'latin1'))).finish();
}

export function alpnList(body: Buffer): string[] {
  return parse(body, 'alpn', (r) => {
    const out: string[] = [];
    r.scope(2, 'protocol_name_list', () => {
      while (r.remaining() > 0) out.push(r.vector(1, 'protocol_name', 1).toString('latin1'));
    }, 2);
    return out;
  });
}

export function encodeAlpn(names: string[]): Buffer {
  return new Writer().scope(2, (w) => names.forEach((n) => w.vector(1, Buffer.from(n, 'latin1')))).finish();
}

export function cookie(body: Buffer): Buffer {
  return parse(body, 'cookie', (r) => r.vector(2, 'cookie', 1));
}

export function encodeCookie(c: Buffer): Buffer {
  return new Writer().vector(2, c).finish();
}

export interface PskIdentity {
  identity: Buffer;
  obfuscatedAge: number;
}

export interface OfferedPsks {
  identities: PskIdentity[];
  binders: Buffer[];
  /** Length of the binders vector including its 2-byte prefix (for the partial ClientHello). */
  bindersLen: number;
}

export function offeredPsks(body: Buffer): OfferedPsks {
  return parse(body, 'pre_shared_key', (r) => {
    const identities: PskIdentity[] = [];
    r.scope(2, 'identities', () => {
      while (r.remaining() > 0) {
        const identity = r.vector(2, 'identity', 1);
        const hi = r.u16('obfuscated_ticket_age');
        const lo = r.u16('obfuscated_ticket_age');
        identities.push({ identity, obfuscatedAge: hi * 65536 + lo });
      }
    }, 7);
    const start = r.offset;
    const binders: Buffer[] = [];
    r.scope(2, 'binders', () => {
      while (r.remaining() > 0) binders.push(r.vector(1, 'binder', 32, 255));
    }, 33);
    if (binders.length !== identities.length) {
      fail('illegal_parameter', `pre_shared_key: ${identities.length} identities but ${binders.length} binders`);
    }
    return { identities, binders, bindersLen: r.offset - start };
  });
}

export function encodeOfferedPsks(identities: Buffer[], binders: Buffer[]): Buffer {
  const w = new Writer();
  w.scope(2, (x) => identities.forEach((id) => x.vector(2, id).u16(0).u16(0)));
  w.scope(2, (x) => binders.forEach((b) => x.vector(1, b)));
  return w.finish();
}
