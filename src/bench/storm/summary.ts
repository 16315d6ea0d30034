/**
 * Turns cell samples into the figures the issue asks for: handshakes/s, latency percentiles, CPU
 * per handshake, peak RSS; the ratios against the crypto floor and against Node's tls; the
 * head-of-line measure; and each target, met or not.
 */
import type { StartupFigures } from './startup';
import type { CellSample } from './cell';
import type { FloorFigures } from './floor';
import type { AuthMode, Role } from './shape';

export interface SideFigures {
  handshakes: number;
  failed: number;
  firstError?: string;
  handshakesPerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  cpuUsPerHandshake: number;
  /** The part of cpuUsPerHandshake spent in the kernel (system time). */
  systemCpuUsPerHandshake: number;
  /** CPU per handshake of the Node tls peer and of the driver (the process playing the kernel). */
  harnessCpuUsPerHandshake: { peer: number; driver: number };
  peakRssMiB: number;
}

export interface CellFigures {
  role: Role;
  auth: AuthMode;
  concurrency: number;
  handshaked?: SideFigures;
  node?: SideFigures;
  floorCpuUs?: number;
  ratios: {
    /** handshaked / node handshakes per second (≥ 1: handshaked is faster). */
    throughputVsNode?: number;
    /** handshaked CPU per handshake / crypto floor. */
    cpuVsFloor?: number;
    /** handshaked CPU per handshake / node's. */
    cpuVsNode?: number;
    /** node CPU per handshake / crypto floor, for scale. */
    nodeCpuVsFloor?: number;
  };
}

/**
 * Head-of-line measure per role/auth: p99 latency at the highest concurrency divided by that
 * concurrency, over p50 at 16 divided by 16. Latency per handshake in flight; 1 means a storm
 * costs each handshake only its share of the machine, ≫ 1 means some wait behind others.
 */
export interface HeadOfLine {
  role: Role;
  auth: AuthMode;
  high: number;
  handshaked?: number;
  node?: number;
}

export interface Target {
  name: string;
  goal: string;
  /** The measured value the goal applies to (worst case over the cells it covers). */
  value?: number;
  met?: boolean;
  where?: string;
}

/** One cell of the workers axis: handshaked alone with [handshaked] workers = `workers`. */
export interface WorkersCell {
  workers: number;
  role: Role;
  auth: AuthMode;
  concurrency: number;
  figures: SideFigures;
  /** handshakes/s over the same role/auth/concurrency with workers = 0, measured in the same run. */
  throughputVsZero?: number;
}

export interface StormSummary {
  setup: Record<string, string | number | boolean>;
  floor: Record<string, FloorFigures>;
  cells: CellFigures[];
  workersAxis: WorkersCell[];
  headOfLine: HeadOfLine[];
  targets: Target[];
  failed: number;
  /** Time to ready beside node -e 0 (startup.ts), when measured. */
  startup?: StartupFigures;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function sideFigures(s: CellSample): SideFigures {
  const lat = [...s.latenciesMs].sort((a, b) => a - b);
  return {
    handshakes: s.ok,
    failed: s.failed,
    ...(s.firstError ? { firstError: s.firstError } : {}),
    handshakesPerSec: s.ok / (s.wallMs / 1000),
    latencyMs: { p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat.length ? lat[lat.length - 1] : NaN },
    cpuUsPerHandshake: s.cpuUs / Math.max(1, s.ok),
    systemCpuUsPerHandshake: s.systemCpuUs / Math.max(1, s.ok),
    harnessCpuUsPerHandshake: { peer: s.peerCpuUs / Math.max(1, s.ok), driver: s.driverCpuUs / Math.max(1, s.ok) },
    peakRssMiB: s.peakRssKb / 1024,
  };
}

export const floorKey = (role: Role, auth: AuthMode): string => `${role}/${auth}`;

/** The workers axis from samples tagged with their worker count. */
export function summarizeWorkers(samples: Array<{ workers: number; sample: CellSample }>): WorkersCell[] {
  const cells: WorkersCell[] = samples.map(({ workers, sample }) => ({ workers, role: sample.role, auth: sample.auth, concurrency: sample.concurrency, figures: sideFigures(sample) }));
  for (const c of cells) {
    const zero = cells.find((z) => z.workers === 0 && z.role === c.role && z.auth === c.auth && z.concurrency === c.concurrency);
    if (zero) c.throughputVsZero = c.figures.handshakesPerSec / zero.figures.handshakesPerSec;
  }
  return cells;
}

export function summarize(samples: CellSample[], floor: Record<string, FloorFigures>, setup: StormSummary['setup'], workersAxis: WorkersCell[] = []): StormSummary {
  const cells: CellFigures[] = [];
  for (const s of samples) {
    let c = cells.find((x) => x.role === s.role && x.auth === s.auth && x.concurrency === s.concurrency);
    if (!c) {
      c = { role: s.role, auth: s.auth, concurrency: s.concurrency, floorCpuUs: floor[floorKey(s.role, s.auth)]?.cpuUs, ratios: {} };
      cells.push(c);
    }
    if (s.side === 'handshaked') c.handshaked = sideFigures(s);
    else c.node = sideFigures(s);
  }
  for (const c of cells) {
    const a = c.handshaked;
    const n = c.node;
    if (a && n) {
      c.ratios.throughputVsNode = a.handshakesPerSec / n.handshakesPerSec;
      c.ratios.cpuVsNode = a.cpuUsPerHandshake / n.cpuUsPerHandshake;
    }
    if (a && c.floorCpuUs) c.ratios.cpuVsFloor = a.cpuUsPerHandshake / c.floorCpuUs;
    if (n && c.floorCpuUs) c.ratios.nodeCpuVsFloor = n.cpuUsPerHandshake / c.floorCpuUs;
  }
  const headOfLine: HeadOfLine[] = [];
  for (const key of new Set(cells.map((c) => floorKey(c.role, c.auth)))) {
    const mine = cells.filter((c) => floorKey(c.role, c.auth) === key);
    const at16 = mine.find((c) => c.concurrency === 16);
    const high = mine.reduce((a, c) => (c.concurrency > a.concurrency ? c : a), mine[0]);
    if (!at16 || high.concurrency <= 16) continue;
    const hol = (s?: SideFigures, b?: SideFigures) => (s && b ? s.latencyMs.p99 / high.concurrency / (b.latencyMs.p50 / 16) : undefined);
    headOfLine.push({ role: mine[0].role, auth: mine[0].auth, high: high.concurrency, handshaked: hol(high.handshaked, at16.handshaked), node: hol(high.node, at16.node) });
  }
  const failed = samples.reduce((a, s) => a + s.failed, 0);
  return { setup, floor, cells, workersAxis, headOfLine, targets: targets(cells, headOfLine), failed: failed + workersAxis.reduce((a, w) => a + w.figures.failed, 0) };
}

function worst<T>(items: T[], value: (t: T) => number | undefined, pick: 'min' | 'max'): { item?: T; value?: number } {
  let best: { item?: T; value?: number } = {};
  for (const it of items) {
    const v = value(it);
    if (v === undefined || Number.isNaN(v)) continue;
    if (best.value === undefined || (pick === 'min' ? v < best.value : v > best.value)) best = { item: it, value: v };
  }
  return best;
}

const where = (c?: CellFigures): string | undefined => (c ? `${c.role}/${c.auth} at ${c.concurrency}` : undefined);

function targets(cells: CellFigures[], hol: HeadOfLine[]): Target[] {
  const out: Target[] = [];
  const thr = worst(cells, (c) => c.ratios.throughputVsNode, 'min');
  out.push({ name: 'throughput vs Node tls', goal: '≥ 1.0× in every cell', value: thr.value, met: thr.value === undefined ? undefined : thr.value >= 1, where: where(thr.item) });
  // CPU per handshake is compared where the agent is busy but not swamped: concurrency ≥ 16.
  const busy = cells.filter((c) => c.concurrency >= 16);
  const cpu = worst(busy.length ? busy : cells, (c) => c.ratios.cpuVsFloor, 'max');
  out.push({ name: 'CPU per handshake vs crypto floor', goal: '≤ 1.5× (cells with ≥ 16 in flight)', value: cpu.value, met: cpu.value === undefined ? undefined : cpu.value <= 1.5, where: where(cpu.item) });
  const h = worst(hol, (x) => x.handshaked, 'max');
  out.push({
    name: 'head-of-line: p99 at the highest concurrency vs p50 at 16, per handshake in flight',
    goal: '≤ 2×',
    value: h.value,
    met: h.value === undefined ? undefined : h.value <= 2,
    where: h.item ? `${h.item.role}/${h.item.auth}, ${h.item.high} vs 16` : undefined,
  });
  const top = Math.max(...cells.map((c) => c.concurrency));
  const rss = worst(
    cells.filter((c) => c.concurrency === top),
    (c) => c.handshaked?.peakRssMiB,
    'max',
  );
  out.push({ name: `agent peak RSS at ${top} in flight`, goal: '≤ 90 MiB', value: rss.value, met: rss.value === undefined ? undefined : rss.value <= 90, where: where(rss.item) });
  out.push({ name: 'handshakes/s vs tlshd in the VM NVMe storm', goal: '≥ 3×', where: 'not measured here: needs the VM harness (docs/bench.md)' });
  return out;
}
