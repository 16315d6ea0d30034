/** The readable report: the crypto floor, one row per cell, head-of-line, targets. */
import { FLOOR_CATEGORIES } from './floor';
import type { CellFigures, SideFigures, StormSummary } from './summary';

const f0 = (v?: number): string => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(0));
const f1 = (v?: number): string => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(1));
const x2 = (v?: number): string => (v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(2)}×`);

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cols: string[]) => cols.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** CPU µs per handshake of the peer + the driver during the side's cell. */
const harness = (s?: SideFigures) => (s ? `${f0(s.harnessCpuUsPerHandshake.peer)}+${f0(s.harnessCpuUsPerHandshake.driver)}` : '-');
const lat = (s?: SideFigures) => (s ? `${f1(s.latencyMs.p50)}/${f1(s.latencyMs.p99)}/${f1(s.latencyMs.max)}` : '-');

export function formatStorm(s: StormSummary): string {
  const out: string[] = [];
  out.push(`handshaked upcall-storm benchmark — ${Object.entries(s.setup).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  out.push('');
  out.push('Crypto floor (node:crypto primitives of one side of one handshake, CPU µs):');
  out.push(
    ...table(
      ['side', 'auth', '', 'total', ...FLOOR_CATEGORIES, 'sign', 'verify', 'hmac'],
      Object.entries(s.floor).map(([k, f]) => {
        const [role, auth] = k.split('/');
        return [role, auth, '', f0(f.cpuUs), ...FLOOR_CATEGORIES.map((c) => f0(f.breakdown[c])), String(f.ops.signatures), String(f.ops.verifications), String(f.ops.hmacs)];
      }),
    ),
  );
  out.push('');
  out.push('Storm cells (hs = handshaked, node = Node tls/OpenSSL; latency request→done p50/p99/max ms; CPU µs per handshake of the side process (of which kernel); harness = CPU µs per handshake of peer+driver):');
  const rows = s.cells.map((c: CellFigures) => [
    c.role,
    c.auth,
    String(c.concurrency),
    f0(c.handshaked?.handshakesPerSec),
    f0(c.node?.handshakesPerSec),
    x2(c.ratios.throughputVsNode),
    lat(c.handshaked),
    lat(c.node),
    c.handshaked ? `${f0(c.handshaked.cpuUsPerHandshake)} (${f0(c.handshaked.systemCpuUsPerHandshake)})` : '-',
    c.node ? `${f0(c.node.cpuUsPerHandshake)} (${f0(c.node.systemCpuUsPerHandshake)})` : '-',
    f0(c.floorCpuUs),
    x2(c.ratios.cpuVsFloor),
    x2(c.ratios.cpuVsNode),
    f1(c.handshaked?.peakRssMiB),
    f1(c.node?.peakRssMiB),
    harness(c.handshaked),
    harness(c.node),
    String((c.handshaked?.failed ?? 0) + (c.node?.failed ?? 0)),
  ]);
  out.push(
    ...table(
      ['role', 'auth', 'in flight', 'hs/s', 'node/s', 'hs/node', 'hs latency', 'node latency', 'hs CPU', 'node CPU', 'floor', 'hs/floor', 'hs/node CPU', 'hs RSS MiB', 'node RSS', 'hs harness', 'node harness', 'failed'],
      rows,
    ),
  );
  if (s.workersAxis.length) {
    out.push('');
    out.push('Workers axis (handshaked alone, [handshaked] workers; ratio = hs/s over workers = 0 in the same run; CPU µs per handshake of the agent process, all threads):');
    out.push(
      ...table(
        ['role', 'auth', 'in flight', 'workers', 'hs/s', 'vs 0', 'latency', 'CPU', 'RSS MiB', 'harness'],
        s.workersAxis.map((w) => [w.role, w.auth, String(w.concurrency), String(w.workers), f0(w.figures.handshakesPerSec), x2(w.throughputVsZero), lat(w.figures), f0(w.figures.cpuUsPerHandshake), f1(w.figures.peakRssMiB), harness(w.figures)]),
      ),
    );
  }
  if (s.headOfLine.length) {
    out.push('');
    out.push('Head-of-line (p99 at high concurrency / concurrency) ÷ (p50 at 16 / 16); 1 = fair share, target ≤ 2:');
    for (const h of s.headOfLine) out.push(`  ${h.role}/${h.auth} (${h.high} vs 16): handshaked ${x2(h.handshaked)}, node ${x2(h.node)}`);
  }
  if (s.startup) {
    const st = s.startup;
    out.push('');
    out.push(
      `Start-up (exec → "handshaked ready", median of ${st.starts}): handshaked ${f0(st.agentMs)} ms with the code cache, ${f0(st.noCacheMs)} ms without; ` +
        `bare node -e 0 ${f0(st.nodeMs)} ms (same node options): ${x2(st.ratio)} with, ${x2(st.noCacheRatio)} without`,
    );
  }
  out.push('');
  out.push('Targets:');
  for (const t of s.targets) {
    const verdict = t.met === undefined ? 'n/a ' : t.met ? 'MET ' : 'MISS';
    out.push(`  [${verdict}] ${t.name}: ${t.goal}${t.value !== undefined ? `; measured ${t.value.toFixed(2)}` : ''}${t.where ? ` (${t.where})` : ''}`);
  }
  const errors = s.cells.flatMap((c) => [c.handshaked, c.node].filter((x): x is SideFigures => !!x?.firstError).map((x) => `${c.role}/${c.auth}@${c.concurrency}: ${x.firstError}`));
  if (errors.length) {
    out.push('');
    out.push('First failure per cell:');
    for (const e of errors) out.push(`  ${e}`);
  }
  return out.join('\n');
}
