/**
 * RFC 8446 §4.2.10: a server that does not accept 0-RTT skips the client's early records (they
 * fail to deprotect under the handshake key, or come as application_data before any key after a
 * HelloRetryRequest) up to a limit, and finishes the handshake. Our client never sends 0-RTT, so
 * the tests add the early_data extension and the "early records" (random bytes: a server without
 * the PSK's early key cannot tell them from real ones) in flight.
 */
import { randomBytes } from 'node:crypto';
import { createClient, createServer, type GroupName } from '../../src/tls';
import { EARLY_DATA_SKIP_LIMIT } from '../../src/tls/record/layer';
import type { Extension } from '../../src/tls/wire/extensions';
import { makePki, pump, testVerifier, type Tamper } from './helpers';

const EARLY_DATA = 42;

function earlyRecord(bodyLen: number): Buffer {
  const header = Buffer.from([23, 3, 3, bodyLen >> 8, bodyLen & 0xff]);
  return Buffer.concat([header, randomBytes(bodyLen)]);
}

/** Adds early_data to the first ClientHello (and the second too when `inRetry`). */
function withEarlyData(inRetry = false) {
  return (exts: Extension[], retry: boolean) => (retry && !inRetry ? exts : [...exts, { type: EARLY_DATA, body: Buffer.alloc(0) }]);
}

function run(opts: { early: boolean; records: Buffer[]; clientGroups?: GroupName[]; serverGroups?: GroupName[]; earlyInRetry?: boolean; after?: number }) {
  const pki = makePki('p256');
  const client = createClient(
    { serverName: 'localhost', trust: { anchors: [pki.ca] }, ...(opts.clientGroups ? { groups: opts.clientGroups } : {}) },
    { verifyChain: testVerifier, ...(opts.early ? { clientHelloExtensions: withEarlyData(opts.earlyInRetry) } : {}) },
  );
  const server = createServer(
    { certificate: { chain: pki.chain, key: pki.key }, clientAuth: 'none', ...(opts.serverGroups ? { groups: opts.serverGroups } : {}) },
    { verifyChain: testVerifier },
  );
  // The 0-RTT records follow the client's first ClientHello (record 0).
  const tamper: Tamper = (from, rec, i) => (from === 'client' && i === (opts.after ?? 0) ? [rec, ...opts.records] : rec);
  return { ...pump(client, server, tamper), clientConn: client, serverConn: server };
}

describe('rejected 0-RTT data (RFC 8446 §4.2.10)', () => {
  it('skips early records that fail to deprotect and finishes the handshake', () => {
    const r = run({ early: true, records: [earlyRecord(1000), earlyRecord(17), earlyRecord(4000)] });
    expect(r.server.error).toBeUndefined();
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.clientConn.secrets().tx).toEqual(r.serverConn.secrets().rx);
  });

  it('skips up to the limit exactly, and one byte more is bad_record_mac', () => {
    const exact = (n: number) => {
      const recs: Buffer[] = [];
      for (let left = n; left > 0; left -= 4096) recs.push(earlyRecord(Math.min(4096, left) + 17));
      return recs;
    };
    const ok = run({ early: true, records: exact(EARLY_DATA_SKIP_LIMIT) });
    expect(ok.server.status).toBe('done');
    const over = run({ early: true, records: exact(EARLY_DATA_SKIP_LIMIT + 1) });
    expect(over.server.status).toBe('failed');
    expect(over.server.error?.alert).toBe('bad_record_mac');
  });

  it('without early_data in the ClientHello an undecryptable record is bad_record_mac (no skipping)', () => {
    const r = run({ early: false, records: [earlyRecord(100)] });
    expect(r.server.status).toBe('failed');
    expect(r.server.error?.alert).toBe('bad_record_mac');
  });

  it('after a HelloRetryRequest: skips the 0-RTT application_data records that precede the second ClientHello', () => {
    const r = run({ early: true, records: [earlyRecord(500), earlyRecord(500)], clientGroups: ['secp256r1', 'x25519'], serverGroups: ['x25519'] });
    expect(r.server.error).toBeUndefined();
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.serverConn.info().helloRetry).toBe(true);
  });

  it('after a HelloRetryRequest without early_data, application data is unexpected_message', () => {
    const r = run({ early: false, records: [earlyRecord(500)], clientGroups: ['secp256r1', 'x25519'], serverGroups: ['x25519'] });
    expect(r.server.error?.alert).toBe('unexpected_message');
  });

  it('a second ClientHello that offers early_data again is illegal_parameter', () => {
    const r = run({ early: true, earlyInRetry: true, records: [], clientGroups: ['secp256r1', 'x25519'], serverGroups: ['x25519'] });
    expect(r.server.error?.alert).toBe('illegal_parameter');
  });
});
