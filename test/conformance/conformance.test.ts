/**
 * The short form of `npm run conformance` (test/conformance/main.ts): the probes marked `short`
 * against openssl s_server, gnutls-serv and handshaked serve (unix transport, --ktls off). It
 * fails when handshaked does not give the answer RFC 8446 names, or differs from both oracles
 * without a reason recorded in known.ts and docs/interop.md.
 */
import { stopAllPeers } from '../helpers/process-peer';
import { KNOWN_DIFFERENCES, unexplained } from './known';
import { PROBES } from './probes';
import { differsFromBoth, runAll, table, type Row } from './run';
import { gnutlsTarget, handshakedTarget, opensslTarget, type Target } from './targets';

jest.setTimeout(240000);

describe('differential conformance (short form)', () => {
  const targets: Target[] = [];
  let rows: Row[] = [];

  beforeAll(async () => {
    targets.push(await handshakedTarget(), await opensslTarget(), await gnutlsTarget());
    rows = await runAll(targets, PROBES.filter((p) => p.short));
  }, 240000);

  afterAll(async () => {
    for (const t of targets) await t.stop();
    await stopAllPeers();
  });

  it('ran every short probe against all three servers, and the oracles answered', () => {
    expect(rows.length).toBeGreaterThanOrEqual(15);
    for (const r of rows) {
      for (const v of Object.values(r.verdicts)) expect(v.startsWith('other:')).toBe(false);
    }
    // The baselines prove the three servers are up and speak TLS 1.3 to these bytes.
    const base = rows.find((r) => r.probe.id === 'ch-baseline')!;
    expect(base.verdicts).toEqual({ handshaked: 'ServerHello', openssl: 'ServerHello', gnutls: 'ServerHello' });
    const fin = rows.find((r) => r.probe.id === 'fl-baseline')!;
    expect(fin.verdicts).toEqual({ handshaked: 'accepted', openssl: 'accepted', gnutls: 'accepted' });
  });

  it('handshaked answers as RFC 8446 names, and every difference from both oracles is explained', () => {
    const problems = unexplained(rows);
    if (problems.length > 0) process.stdout.write(`${table(rows)}\n`);
    expect(problems).toEqual([]);
  });

  it('every recorded difference is a real probe', () => {
    const ids = new Set(PROBES.map((p) => p.id));
    for (const id of Object.keys(KNOWN_DIFFERENCES)) expect(ids.has(id)).toBe(true);
    // A recorded difference that no longer differs should be removed from the list.
    for (const r of rows) if (KNOWN_DIFFERENCES[r.probe.id]) expect(differsFromBoth(r)).toBe(true);
  });
});
