/**
 * A deterministic handshake for the engine fuzz targets: fixed randoms, session ids and X25519
 * scalars on both sides and an Ed25519 server key (deterministic signatures), so the ClientHello,
 * the ServerHello and both handshake traffic secrets are the same on every run. A target can then
 * rebuild the engine's state in microseconds and feed it records the fuzzer wrote, protected
 * under the right keys, which reaches every encrypted handshake message parser, not only the
 * plaintext hellos.
 */
import { createClient, createServer, type ClientConfig, type Connection, type ServerConfig, type Step } from '../../../src/tls';
import type { TestHooks } from '../../../src/tls/hooks';
import { certifiedKey, trust } from '../../helpers/pki';
import { RecordProtector, trafficKeysFromSecret } from '../../helpers/record-layer';
import { FuzzFinding } from './common';

export const SUITE = 'TLS_AES_128_GCM_SHA256' as const;
const NOW = new Date('2030-06-15T12:00:00Z');

export const clientHooks: TestHooks = {
  random: Buffer.alloc(32, 0x11),
  sessionId: Buffer.alloc(32, 0x22),
  keySharePrivate: { x25519: Buffer.alloc(32, 0x33) },
};
export const serverHooks: TestHooks = {
  random: Buffer.alloc(32, 0x44),
  keySharePrivate: { x25519: Buffer.alloc(32, 0x55) },
};

export function clientConfig(keyLog?: (line: string) => void): ClientConfig {
  return {
    serverName: 'localhost',
    trust: trust(),
    certificate: certifiedKey('client-p256'),
    now: () => NOW,
    alpn: ['fuzz/1'],
    // Pinned, so the recorded seeds keep matching when the engine's default list grows.
    groups: ['x25519', 'secp256r1', 'secp384r1'],
    keyLog,
  };
}

export function serverConfig(keyLog?: (line: string) => void): ServerConfig {
  return {
    certificate: certifiedKey('server-ed25519'),
    clientAuth: 'optional',
    trust: trust(),
    now: () => NOW,
    alpn: ['fuzz/1'],
    // No P-384, so a client offering a P-384 share first gets a HelloRetryRequest.
    groups: ['x25519', 'secp256r1'],
    keyLog,
  };
}

/** Splits a byte stream into records; a short tail is returned as it is (a truncated record). */
export function splitRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const len = buf.length - off >= 5 ? buf.readUInt16BE(off + 3) : 0;
    const end = Math.min(buf.length, off + 5 + len);
    out.push(buf.subarray(off, end));
    off = end;
  }
  return out;
}

/** The deterministic exchange, computed once per process. */
export interface Scenario {
  /** The client's first flight (one ClientHello record). */
  clientHello: Buffer;
  /** The server's plaintext records: ServerHello and its compatibility CCS. */
  serverHello: Buffer[];
  serverHandshakeSecret: Buffer;
  clientHandshakeSecret: Buffer;
  /** Decrypted handshake content of the server's flight (EE, CR, Certificate, CV, Finished). */
  serverFlight: Buffer;
  /** Decrypted handshake content of the client's flight (Certificate, CV, Finished). */
  clientFlight: Buffer;
}

let cached: Scenario | undefined;

function secretsFrom(lines: string[], label: string): Buffer {
  const line = lines.find((l) => l.startsWith(`${label} `));
  if (!line) throw new Error(`the engine logged no ${label}`);
  return Buffer.from(line.split(' ')[2], 'hex');
}

function openAll(secret: Buffer, records: Buffer[]): Buffer {
  const p = new RecordProtector(SUITE, trafficKeysFromSecret(SUITE, secret));
  return Buffer.concat(records.filter((r) => r[0] === 23).map((r) => p.open(r).data));
}

export function scenario(): Scenario {
  if (cached) return cached;
  const lines: string[] = [];
  const client = createClient(clientConfig(), clientHooks);
  const server = createServer(serverConfig((l) => lines.push(l)), serverHooks);
  const clientHello = client.start().send;
  server.start();
  const s1 = server.receiveRecord(clientHello);
  const fromServer = splitRecords(s1.send);
  const serverHello = fromServer.filter((r) => r[0] !== 23);
  let last: Step | undefined;
  for (const r of fromServer) last = client.receiveRecord(r);
  if (last?.status !== 'done') throw new Error(`deterministic client did not finish: ${last?.error?.message}`);
  const fromClient = splitRecords(last.send);
  let s2: Step | undefined;
  for (const r of fromClient) s2 = server.receiveRecord(r);
  if (s2?.status !== 'done') throw new Error(`deterministic server did not finish: ${s2?.error?.message}`);
  const serverHandshakeSecret = secretsFrom(lines, 'SERVER_HANDSHAKE_TRAFFIC_SECRET');
  const clientHandshakeSecret = secretsFrom(lines, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET');
  cached = {
    clientHello,
    serverHello,
    serverHandshakeSecret,
    clientHandshakeSecret,
    serverFlight: openAll(serverHandshakeSecret, fromServer),
    clientFlight: openAll(clientHandshakeSecret, fromClient),
  };
  return cached;
}

/**
 * The engine turns every exception it did not mean into internal_error with this prefix
 * (src/tls/errors.ts asTlsError); that is a finding. Any other alert is the engine refusing
 * bad input, which is its job.
 */
export function checkStep(target: string, step: Step): void {
  if (step.status !== 'failed') return;
  const err = step.error;
  if (!err) throw new FuzzFinding(target, new Error('failed step without an error'));
  if (err.alert === 'internal_error' && err.message.startsWith('internal error:')) throw new FuzzFinding(target, err);
}

/** After the input is used up: the rest of the Connection API must not throw either. */
export function checkAfter(target: string, conn: Connection, last: Step | undefined): void {
  try {
    if (last?.status === 'done') {
      conn.secrets();
      conn.info();
    }
    conn.abort('user_canceled');
  } catch (e) {
    throw new FuzzFinding(target, e);
  }
}

/**
 * Flight framing for the encrypted targets. Byte 0 steers the record layer, the rest is
 * handshake content: bits 0-1 pick the inner content type (handshake, handshake, alert,
 * application data), bit 2 adds three bytes of zero padding, bits 3-7 pick the fragment size
 * ((n + 1) * 61 bytes, n = 31: whole records of up to 2^14 bytes).
 */
export function flightRecords(data: Buffer, secret: Buffer): Buffer[] {
  const ctl = data.length > 0 ? data[0] : 0;
  const content = data.subarray(1);
  const type = [22, 22, 21, 23][ctl & 3];
  const padding = ctl & 4 ? 3 : 0;
  const n = ctl >> 3;
  const size = n === 31 ? 16384 : (n + 1) * 61;
  const p = new RecordProtector(SUITE, trafficKeysFromSecret(SUITE, secret));
  const out: Buffer[] = [];
  for (let off = 0; off < content.length; off += size) out.push(p.seal(type, content.subarray(off, off + size), padding));
  if (content.length === 0) out.push(p.seal(type, content, padding));
  return out;
}
