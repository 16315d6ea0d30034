/**
 * Property tests: whatever bytes arrive, the engine answers with a Step (never throws), and a
 * failure always names an alert. Mutated real handshakes must never complete with different keys.
 */
import fc from 'fast-check';
import { createClient, createServer, type Connection, type Step } from '../../src/tls';
import { certifiedKey, trust } from '../helpers/pki';
import { pump } from './helpers';

const serverCfg = () => ({ certificate: certifiedKey('server-p256'), clientAuth: 'none' as const });
const clientCfg = () => ({ serverName: 'localhost', trust: trust() });

function checkStep(step: Step): void {
  expect(['continue', 'failed', 'done']).toContain(step.status);
  if (step.status === 'failed') expect(step.error?.alert).toEqual(expect.any(String));
}

function feed(conn: Connection, records: Buffer[]): void {
  for (const r of records) {
    const step = conn.receiveRecord(r);
    checkStep(step);
    if (step.status !== 'continue') return;
  }
}

describe('robustness', () => {
  it('random records into a server never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 4 }), (recs) => {
        const server = createServer(serverCfg());
        server.start();
        feed(server, recs.map((r) => Buffer.from(r)));
      }),
      { numRuns: 300 },
    );
  });

  it('random well-framed handshake records into a client never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 400 }), fc.constantFrom(20, 21, 22, 23), (body, type) => {
        const client = createClient(clientCfg());
        client.start();
        const rec = Buffer.concat([Buffer.from([type, 3, 3, body.length >> 8, body.length & 0xff]), Buffer.from(body)]);
        feed(client, [rec]);
      }),
      { numRuns: 300 },
    );
  });

  it('a ClientHello with one byte changed is either still a valid handshake or a clean failure', () => {
    const ch = createClient(clientCfg()).start().send;
    fc.assert(
      fc.property(fc.nat(ch.length - 6), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const bad = Buffer.from(ch);
        bad[5 + pos] ^= x;
        const server = createServer(serverCfg());
        server.start();
        checkStep(server.receiveRecord(bad));
      }),
      { numRuns: 300 },
    );
  });

  it('a server flight with one byte changed never completes the client handshake', () => {
    // Record 0 is the plaintext ServerHello (every byte is in the transcript), record 2 the
    // protected flight (every byte is authenticated): no single change can go unnoticed.
    fc.assert(
      fc.property(fc.constantFrom(0, 2), fc.nat(), fc.integer({ min: 1, max: 255 }), (which, n, x) => {
        const client = createClient(clientCfg());
        const server = createServer(serverCfg());
        const r = pump(client, server, (from, rec, i) => {
          if (from !== 'server' || i !== which) return rec;
          const out = Buffer.from(rec);
          out[5 + (n % (out.length - 5))] ^= x;
          return out;
        });
        checkStep(r.client);
        expect(r.client.status).toBe('failed');
      }),
      { numRuns: 200 },
    );
  });
});
