/**
 * Sends each probe to each target and reduces the answer to a Verdict; compares handshaked's with
 * openssl's and gnutls's. The client side of 'flight' probes is handshaked's own client engine
 * (it only gets the server's flight to the point where a crafted client flight can be
 * protected); the records it sends are re-protected by the independent test record layer.
 */
import { createClient, type CipherSuiteName } from '../../src/tls';
import { alertName } from '../../src/tls/errors';
import { PeerClosedError, SocketRecordIO } from '../helpers/record-io';
import { RecordProtector, trafficKeysFromSecret } from '../helpers/record-layer';
import { trust } from '../helpers/pki';
import type { FlightProbe, HelloProbe, Probe, Verdict } from './probes';
import type { ProbeConnection, Target, TargetName } from './targets';

/** Long enough for a loaded machine; only the few probes a server sits on wait this long. */
const READ_TIMEOUT_MS = 6000;
const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

interface ReadKeys {
  suite: CipherSuiteName;
  /** Secrets the server may protect its answer with, tried in order. */
  secrets: Buffer[];
}

/** Reads records until one decides the verdict (a hello, an alert, a ticket) or the connection ends. */
async function readVerdict(conn: ProbeConnection, io: SocketRecordIO, keys?: ReadKeys, seqs: bigint[] = [], throughRetry = false): Promise<Verdict> {
  let retried = false;
  for (;;) {
    let rec: Buffer;
    try {
      rec = await io.readRecord(READ_TIMEOUT_MS);
    } catch (e) {
      const ended = e instanceof PeerClosedError || (e as NodeJS.ErrnoException).code === 'ECONNRESET' || (e as NodeJS.ErrnoException).code === 'EPIPE';
      if (conn.status && (await settled(conn.status)) === 0) return 'accepted';
      return ended ? 'closed' : 'timeout';
    }
    const type = rec[0];
    const body = rec.subarray(5);
    if (type === 21 && body.length === 2) return `alert:${alertName(body[1]) ?? body[1]}`;
    if (type === 22 && body[0] === 2) {
      const hrr = body.subarray(6, 38).equals(HRR_RANDOM);
      if (hrr && throughRetry && !retried) {
        retried = true;
        continue;
      }
      return hrr ? 'HelloRetryRequest' : 'ServerHello';
    }
    if (type === 20) continue;
    if (type === 23 && keys) {
      const opened = openWithAny(keys, seqs, rec);
      if (!opened) return 'other:undecryptable record';
      if (opened.type === 21) return `alert:${alertName(opened.data[1]) ?? opened.data[1]}`;
      // A NewSessionTicket after our Finished, or the echo of our application data: it completed.
      if (opened.type === 22 || opened.type === 23) return 'accepted';
      continue;
    }
    return `other:record type ${type}`;
  }
}

function openWithAny(keys: ReadKeys, seqs: bigint[], rec: Buffer) {
  for (const [i, secret] of keys.secrets.entries()) {
    try {
      const opened = new RecordProtector(keys.suite, trafficKeysFromSecret(keys.suite, secret, seqs[i])).open(rec);
      seqs[i] += 1n;
      return opened;
    } catch {
      // Not under this key; try the next.
    }
  }
  return undefined;
}

/** The status if the request has finished within a moment, else undefined. */
async function settled(p: Promise<number>): Promise<number | undefined> {
  return Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), 300))]);
}

async function writeAll(io: SocketRecordIO, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) {
    try {
      await io.write(c);
    } catch {
      // The server may close before reading everything; its answer is what counts.
      return;
    }
  }
}

async function runHello(target: Target, probe: HelloProbe): Promise<Verdict> {
  const conn = await target.connect();
  try {
    const io = new SocketRecordIO(conn.socket);
    await writeAll(io, probe.bytes());
    const v = await readVerdict(conn, io, undefined, [], probe.throughRetry);
    return v;
  } finally {
    conn.close();
  }
}

function keyLogSecret(lines: string[], label: string): Buffer {
  const line = lines.find((l) => l.startsWith(`${label} `));
  if (!line) throw new Error(`no ${label} in the key log`);
  return Buffer.from(line.split(' ')[2], 'hex');
}

/** Splits a run of handshake messages (type → whole message). */
function messagesOf(data: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let off = 0; off + 4 <= data.length; ) {
    const len = data.readUIntBE(off + 1, 3);
    out.set(data[off], data.subarray(off, off + 4 + len));
    off += 4 + len;
  }
  return out;
}

async function runFlight(target: Target, probe: FlightProbe): Promise<Verdict> {
  const lines: string[] = [];
  const extra = probe.helloExtensions ?? [];
  const client = createClient(
    { serverName: 'localhost', trust: trust(), groups: ['x25519'], keyLog: (l) => lines.push(l) },
    { clientHelloExtensions: (exts, retry) => (retry ? exts : [...exts, ...extra]) },
  );
  const conn = await target.connect();
  try {
    const io = new SocketRecordIO(conn.socket);
    let step = client.start();
    await writeAll(io, [step.send, ...(probe.afterHello?.() ?? [])]);
    while (step.status === 'continue') step = client.receiveRecord(await io.readRecord(READ_TIMEOUT_MS));
    if (step.status !== 'done') return `other:setup failed (${step.error?.alert}: ${step.error?.message})`;
    const suite = client.info().suite;
    const cHs = keyLogSecret(lines, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET');
    // The client's own flight, opened to get its real messages (a CCS may come first).
    const reader = new RecordProtector(suite, trafficKeysFromSecret(suite, cHs));
    const plain: Buffer[] = [];
    for (let off = 0; off < step.send.length; ) {
      const len = step.send.readUInt16BE(off + 3);
      const rec = step.send.subarray(off, off + 5 + len);
      if (rec[0] === 23) plain.push(reader.open(rec).data);
      off += 5 + len;
    }
    // A server answers under its application key once it has sent Finished; some may still use
    // the handshake key for an alert.
    const keys: ReadKeys = {
      suite,
      secrets: [keyLogSecret(lines, 'SERVER_TRAFFIC_SECRET_0'), keyLogSecret(lines, 'SERVER_HANDSHAKE_TRAFFIC_SECRET')],
    };
    const seqs = keys.secrets.map(() => 0n);
    // Tickets a server sends with its own flight (GnuTLS does, RFC 8446 §4.6.1) are not an answer
    // to our flight: take them first.
    for (;;) {
      let early: Buffer;
      try {
        early = await io.readRecord(300);
      } catch {
        break;
      }
      if (early[0] === 23) openWithAny(keys, seqs, early);
    }
    const writer = new RecordProtector(suite, trafficKeysFromSecret(suite, cHs));
    const records = probe.flight({ messages: messagesOf(Buffer.concat(plain)), protect: (t, c, p) => writer.seal(t, c, p) });
    // Then one application record under our application key: a server that accepted the flight
    // echoes it (gnutls-serv --echo) or at least does not object.
    const ping = new RecordProtector(suite, trafficKeysFromSecret(suite, keyLogSecret(lines, 'CLIENT_TRAFFIC_SECRET_0'))).seal(23, Buffer.from('ping\n'));
    await writeAll(io, [...records, ping]);
    return await readVerdict(conn, io, keys, seqs);
  } catch (e) {
    return `other:${(e as Error).message}`;
  } finally {
    conn.close();
  }
}

export function runProbe(target: Target, probe: Probe): Promise<Verdict> {
  return probe.kind === 'hello' ? runHello(target, probe) : runFlight(target, probe);
}

export interface Row {
  probe: Probe;
  verdicts: Record<TargetName, Verdict>;
}

/** Every probe against every target, one connection at a time (s_server serves one at a time). */
export async function runAll(targets: Target[], probes: readonly Probe[]): Promise<Row[]> {
  // One unrecorded baseline each first: the first handshake of a freshly started server pays
  // for module loading and JIT, which under load can exceed a probe's patience.
  const warmUp = probes.find((p) => p.id === 'ch-baseline');
  if (warmUp) for (const t of targets) await runProbe(t, warmUp);
  const rows: Row[] = [];
  for (const probe of probes) {
    const verdicts = {} as Record<TargetName, Verdict>;
    for (const t of targets) verdicts[t.name] = await runProbe(t, probe);
    rows.push({ probe, verdicts });
  }
  return rows;
}

/** handshaked differs from both oracles (they may agree with each other or not). */
export function differsFromBoth(row: Row): boolean {
  const v = row.verdicts;
  return v.handshaked !== v.openssl && v.handshaked !== v.gnutls;
}

export function table(rows: Row[]): string {
  const out = ['| probe | RFC 8446 | handshaked | openssl | gnutls |', '|---|---|---|---|---|'];
  for (const r of rows) {
    const mark = differsFromBoth(r) ? ' **≠**' : '';
    out.push(`| ${r.probe.id} | ${r.probe.rfc ?? '(none named)'} §${r.probe.section} | ${r.verdicts.handshaked}${mark} | ${r.verdicts.openssl} | ${r.verdicts.gnutls} |`);
  }
  return out.join('\n');
}
