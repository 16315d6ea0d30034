/**
 * The fuzz corpora in CI: every seed and every regression input (fixtures/fuzz/<target>/regress-*)
 * replays through its target without a finding, the engine seeds still reach the depth they were
 * recorded for (so the deterministic scenario has not drifted and the fuzzer starts deep), and a
 * short, seeded fast-check mutation pass runs over each corpus. The long coverage-guided runs are
 * `npm run fuzz` (scripts/fuzz.sh).
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { TARGETS, targetByName } from './targets';
import { FuzzFinding } from './targets/common';
import { TlsError } from '../../src/tls';
import { tlsClientFlight, tlsClientRecords, tlsServerFlight, tlsServerRecords, type EngineTarget } from './targets/tls';
import { checkStep } from './targets/tls-scenario';
import { runUnixRequest } from './targets/unix-request';

const CORPORA = path.resolve(__dirname, '..', '..', 'fixtures', 'fuzz');

function corpus(name: string): Array<{ file: string; data: Buffer }> {
  const dir = path.join(CORPORA, name);
  return fs.readdirSync(dir).sort().map((file) => ({ file, data: fs.readFileSync(path.join(dir, file)) }));
}

describe.each(TARGETS.map((t) => [t.name]))('fuzz target %s', (name) => {
  const target = targetByName(name);

  it('has a seed corpus', () => {
    expect(corpus(name).length).toBeGreaterThan(0);
  });

  it('replays every corpus file without a finding', () => {
    for (const { file, data } of corpus(name)) {
      try {
        target.fuzz(data);
      } catch (e) {
        throw new Error(`${name}/${file}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  });

  it('survives seeded mutations of its corpus', () => {
    const seeds = corpus(name).map((c) => c.data);
    const mutated = fc
      .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 8 }))
      .map(([seed, edits]) => {
        let b = Buffer.from(seed);
        for (const [at, v, op] of edits) {
          const i = b.length === 0 ? 0 : at % b.length;
          if (op === 0 && b.length > 0) b[i] = v; // overwrite
          else if (op === 1) b = Buffer.concat([b.subarray(0, i), Buffer.from([v]), b.subarray(i)]); // insert
          else if (op === 2) b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]); // delete
          else b = b.subarray(0, i); // truncate
        }
        return b;
      });
    fc.assert(
      fc.property(mutated, (data) => {
        target.fuzz(data);
      }),
      { numRuns: 500, seed: 0x9e3779b9 },
    );
  });
});

describe('engine seeds reach the depth they were recorded for', () => {
  const seed = (target: string, file: string) => fs.readFileSync(path.join(CORPORA, target, file));

  const depths: Array<[EngineTarget, string, 'done' | 'continue']> = [
    [tlsClientFlight, 'engine-server-flight.whole', 'done'],
    [tlsClientFlight, 'engine-server-flight.fragmented', 'done'],
    [tlsServerFlight, 'engine-client-flight.whole', 'done'],
    [tlsServerFlight, 'engine-client-flight.fragmented', 'done'],
    [tlsServerFlight, 'engine-client-flight-no-cert.whole', 'done'],
    [tlsServerRecords, 'engine-client-hello', 'continue'],
    [tlsServerRecords, 'engine-client-hello-retry', 'continue'],
    [tlsServerRecords, 'openssl-client-hello', 'continue'],
    [tlsServerRecords, 'gnutls-client-hello', 'continue'],
    [tlsClientRecords, 'engine-server-hello', 'continue'],
    [tlsClientRecords, 'openssl-server-hello', 'continue'],
    [tlsClientRecords, 'engine-hello-retry-request', 'continue'],
  ];
  it.each(depths.map(([t, f, st]) => [t.name, f, st, t] as const))('%s %s: %s', (_name, file, status, target) => {
    const step = target.run(seed(target.name, file));
    expect(step?.error?.message).toBeUndefined();
    expect(step?.status).toBe(status);
  });
});

describe('a finding is reported as one', () => {
  it('an engine step that failed with a wrapped exception is a FuzzFinding', () => {
    // A record type the engine does not know, in a flight: that is a TlsError, not a finding.
    expect(() => tlsClientFlight.fuzz(Buffer.from([0xf8, 0xff, 0, 0, 0]))).not.toThrow();
    expect(() => checkStep('t', { send: Buffer.alloc(0), status: 'failed', error: new TlsError('internal_error', 'internal error: boom') })).toThrow(FuzzFinding);
    // The engine's own deliberate internal_error (no wrapped exception) is not.
    expect(() => checkStep('t', { send: Buffer.alloc(0), status: 'failed', error: new TlsError('internal_error', 'no usable key') })).not.toThrow();
  });
});

describe('unix-request seeds reach both outcomes', () => {
  const seed = (file: string) => fs.readFileSync(path.join(CORPORA, 'unix-request', file));
  it('the READY fixture with one connected TCP fd is accepted as the request it encodes', () => {
    const out = runUnixRequest('unix-request', seed('unix-ready.fds1'));
    expect(out && 'accepted' in out ? out.accepted : out).toMatchObject({ role: 'client', auth: 'x509', peername: 'storage.example.net', timeoutMs: 5000 });
  });
  it.each([
    ['unix-ready.fds0', 9, /no file descriptor/],
    ['unix-ready.fds2', 22, /2 file descriptors/],
    ['unix-ready.udp', 95, /not TCP/],
    ['unix-ready.not-a-socket', 95, /not a socket/],
    ['unix-ready.tcp-unconnected', 107, /not connected/],
    ['unix-done.fds1', 22, /lacks NLM_F_REQUEST/],
  ])('%s is refused with errno %d and says why', (file, errno, text) => {
    const out = runUnixRequest('unix-request', seed(file));
    expect(out && 'refused' in out ? [out.refused.errno, out.refused.message] : out).toEqual([errno, expect.stringMatching(text)]);
  });
});
