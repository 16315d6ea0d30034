/**
 * Smoke test of `npm run bench` (dist/bench/main.js) in quick mode with tiny counts: every
 * figure the issue asks for is in the JSON, for every role, auth mode and concurrency, both
 * sides; the table and the SVG chart are written. Timings are not asserted (benchmarks report,
 * they do not pass or fail).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StormSummary } from '../../src/bench/storm/summary';

const main = path.join(__dirname, '..', '..', 'dist', 'bench', 'main.js');
const CONCURRENCY = [1, 16, 24];

function runBench(outDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [main],
      {
        env: { ...process.env, BENCH_QUICK: '1', BENCH_CONCURRENCY: CONCURRENCY.join(','), BENCH_SCALE: '0.04', BENCH_WARMUP: '4', BENCH_FLOOR_ITERATIONS: '10', BENCH_WORKERS: '0,1', BENCH_WORKERS_CONCURRENCY: '8', BENCH_OUT: outDir, BENCH_JSON: '1' },
        maxBuffer: 64 * 1024 * 1024,
        timeout: 240_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

describe('npm run bench (quick mode)', () => {
  let out: string;
  let summary: StormSummary;

  beforeAll(async () => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'handshaked-bench-test-'));
    const r = await runBench(out);
    if (r.code !== 0) throw new Error(`bench exited ${r.code}: ${r.stderr.slice(-2000)}`);
    summary = JSON.parse(r.stdout) as StormSummary;
  }, 250_000);

  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  test('the crypto floor is there for each role and auth mode, with its breakdown', () => {
    for (const role of ['server', 'client']) {
      for (const auth of ['x509', 'mtls', 'psk']) {
        const f = summary.floor[`${role}/${auth}`];
        expect(f).toBeDefined();
        expect(f.cpuUs).toBeGreaterThan(0);
        for (const k of ['keyExchange', 'sign', 'verify', 'keySchedule', 'aead'] as const) expect(finite(f.breakdown[k])).toBe(true);
        expect(f.ops.hmacs).toBeGreaterThan(0);
      }
    }
    // Certificate modes verify a chain on the client; PSK signs and verifies nothing.
    expect(summary.floor['client/x509'].ops.verifications).toBe(3);
    expect(summary.floor['server/psk'].ops.signatures).toBe(0);
  });

  test('every cell has both sides with throughput, latency, CPU, RSS and the ratios', () => {
    expect(summary.failed).toBe(0);
    expect(summary.cells).toHaveLength(2 * 3 * CONCURRENCY.length);
    for (const c of summary.cells) {
      for (const side of [c.handshaked, c.node]) {
        expect(side).toBeDefined();
        expect(side!.handshakes).toBeGreaterThan(0);
        expect(side!.failed).toBe(0);
        for (const v of [side!.handshakesPerSec, side!.latencyMs.p50, side!.latencyMs.p99, side!.latencyMs.max, side!.cpuUsPerHandshake, side!.peakRssMiB]) {
          expect(finite(v)).toBe(true);
        }
        expect(side!.latencyMs.p50).toBeLessThanOrEqual(side!.latencyMs.p99);
        expect(side!.latencyMs.p99).toBeLessThanOrEqual(side!.latencyMs.max);
        expect(side!.peakRssMiB).toBeGreaterThan(10);
      }
      expect(finite(c.floorCpuUs)).toBe(true);
      for (const r of [c.ratios.throughputVsNode, c.ratios.cpuVsFloor, c.ratios.cpuVsNode, c.ratios.nodeCpuVsFloor]) expect(finite(r)).toBe(true);
    }
  });

  test('head-of-line figures and the targets are reported', () => {
    // The workers axis: every role/auth once per worker count, ratios against workers = 0 of the same run.
    expect(summary.workersAxis).toHaveLength(2 * 2 * 3);
    for (const w of summary.workersAxis) {
      expect([0, 1]).toContain(w.workers);
      expect(w.figures.failed).toBe(0);
      expect(finite(w.throughputVsZero)).toBe(true);
      if (w.workers === 0) expect(w.throughputVsZero).toBe(1);
    }
    expect(summary.headOfLine).toHaveLength(6);
    for (const h of summary.headOfLine) {
      expect(h.high).toBe(24);
      expect(finite(h.handshaked)).toBe(true);
      expect(finite(h.node)).toBe(true);
    }
    const names = summary.targets.map((t) => t.name).join('\n');
    for (const word of ['throughput', 'crypto floor', 'head-of-line', 'RSS', 'tlshd', 'start-up']) expect(names).toContain(word);
    for (const t of summary.targets.filter((x) => !x.name.includes('tlshd'))) expect(typeof t.met).toBe('boolean');
  });

  test('the start-up figure: time to ready beside a bare node -e 0, from the same run', () => {
    const st = summary.startup!;
    expect(st).toBeDefined();
    expect(st.starts).toBe(3);
    expect(st.agentSamplesMs).toHaveLength(3);
    expect(st.noCacheSamplesMs).toHaveLength(3);
    expect(st.nodeSamplesMs).toHaveLength(3);
    for (const v of [...st.agentSamplesMs, ...st.noCacheSamplesMs, ...st.nodeSamplesMs]) expect(v).toBeGreaterThan(0);
    expect(st.ratio).toBeCloseTo(st.agentMs / st.nodeMs, 6);
    expect(st.noCacheRatio).toBeCloseTo(st.noCacheMs / st.nodeMs, 6);
    expect(summary.targets.map((t) => t.name).join('\n')).toContain('start-up');
    expect(fs.readFileSync(path.join(out, 'storm.txt'), 'utf8')).toContain('Start-up (exec');
  });

  test('the table, the JSON and the SVG chart are written', () => {
    const txt = fs.readFileSync(path.join(out, 'storm.txt'), 'utf8');
    expect(txt).toContain('Crypto floor');
    expect(txt).toContain('Targets:');
    expect(JSON.parse(fs.readFileSync(path.join(out, 'storm.json'), 'utf8'))).toEqual(summary);
    const svg = fs.readFileSync(path.join(out, 'latency.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    // one p50 and one p99 line per side in each of the six panels
    expect(svg.match(/<polyline/g)).toHaveLength(6 * 4);
  });
});
