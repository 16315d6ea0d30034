/**
 * A man in the middle for engine tests: learns the handshake secrets from the key log and
 * re-protects edited handshake records, so a test can change a Finished or a signature and
 * see the right alert rather than a MAC failure. Uses the interop tests' independent record code.
 */
import type { CipherSuiteName } from '../../src/tls';
import { RecordProtector, trafficKeysFromSecret } from '../helpers/record-layer';

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
