/**
 * A man in the middle for engine tests: learns the handshake secrets from the key log and
 * re-protects edited handshake records, so a test can change a Finished or a signature and
 * see the right alert rather than a MAC failure. Uses the interop tests' independent record code.
 */
import { createClient, createServer, type CipherSuiteName, type ClientConfig, type ServerConfig } from '../../src/tls';
import type { TestHooks } from '../../src/tls/hooks';
import { RecordProtector, trafficKeysFromSecret } from '../helpers/record-layer';
import { pump, type Tamper } from './helpers';

export interface Edited {
  type?: number;
  content: Buffer | Buffer[];
  padding?: number;
}

export class Mitm {
  private readonly secrets = new Map<string, Buffer>();
  private readonly dirs = new Map<string, { open: RecordProtector; seal: RecordProtector }>();

  constructor(private readonly suite: CipherSuiteName = 'TLS_AES_128_GCM_SHA256') {}

  readonly keyLog = (line: string): void => {
    const [label, , secret] = line.split(' ');
    this.secrets.set(label, Buffer.from(secret, 'hex'));
  };

  private dir(from: 'client' | 'server') {
    let d = this.dirs.get(from);
    if (!d) {
      const secret = this.secrets.get(from === 'client' ? 'CLIENT_HANDSHAKE_TRAFFIC_SECRET' : 'SERVER_HANDSHAKE_TRAFFIC_SECRET');
      if (!secret) throw new Error(`no ${from} handshake secret logged yet`);
      const keys = trafficKeysFromSecret(this.suite, secret);
      d = { open: new RecordProtector(this.suite, keys), seal: new RecordProtector(this.suite, keys) };
      this.dirs.set(from, d);
    }
    return d;
  }

  /** Opens a protected handshake-phase record, lets `edit` change it, re-seals (possibly as several records). */
  rewrite(from: 'client' | 'server', rec: Buffer, edit: (content: Buffer, type: number) => Edited): Buffer[] {
    if (rec[0] !== 23) return [rec];
    const d = this.dir(from);
    const o = d.open.open(rec);
    const e = edit(o.data, o.type);
    const parts = Array.isArray(e.content) ? e.content : [e.content];
    return parts.map((p) => d.seal.seal(e.type ?? o.type, p, e.padding ?? 0));
  }

  /** Opens a record we did not change (to keep sequence numbers in step) and returns its content. */
  peek(from: 'client' | 'server', rec: Buffer): { type: number; data: Buffer } {
    const d = this.dir(from);
    const o = d.open.open(rec);
    d.seal.seal(o.type, o.data);
    return o;
  }
}

/** Finds the handshake message of `type` in a run of messages; returns its offset. */
export function findMessage(content: Buffer, type: number): number {
  for (let off = 0; off < content.length; ) {
    if (content[off] === type) return off;
    off += 4 + content.readUIntBE(off + 1, 3);
  }
  throw new Error(`no handshake message of type ${type}`);
}

/**
 * A client and a server pumped into each other through a Mitm that learns both sides' handshake
 * keys from their key logs; `tamper` (given the Mitm) may edit any record on the way.
 */
export function runThroughMitm(
  client: ClientConfig,
  server: ServerConfig,
  tamper?: (m: Mitm) => Tamper,
  hooks: { client?: TestHooks; server?: TestHooks } = {},
) {
  const m = new Mitm();
  const cc = createClient({ ...client, keyLog: m.keyLog }, hooks.client);
  const sc = createServer({ ...server, keyLog: m.keyLog }, hooks.server);
  return { ...pump(cc, sc, tamper?.(m)), cc, sc, m };
}

/** A tamper that flips one bit, `offset` bytes into `from`'s handshake message of `type`, in its encrypted records. */
export function flipBitIn(from: 'client' | 'server', type: number, offset: number): (m: Mitm) => Tamper {
  return (m) => (side, rec) =>
    side !== from || rec[0] !== 23
      ? rec
      : m.rewrite(from, rec, (c) => {
        const out = Buffer.from(c);
        out[findMessage(c, type) + offset] ^= 1;
        return { content: out };
      });
}
