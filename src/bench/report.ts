/**
 * Turns benchmark rounds into per-variant figures (median over rounds, so one disturbed round on
 * a shared machine does not skew the result) and the ratios handshaked/Node per role.
 */
import { median } from './stats';


export type Variant = 'handshaked server' | 'node server' | 'handshaked client' | 'node client';

/** What one run of handshakes came to, in every benchmark. */
export interface RunTally {
  count: number;
  ok: number;
  failed: number;
  firstError?: string;
  wallMs: number;
}

export interface RoundSample extends RunTally {
  variant: Variant;
  /** CPU time of the measuring process (user + system), µs. */
  cpuUs: number;
}

export interface VariantFigures {
  handshakes: number;
  failed: number;
  firstError?: string;
  /** Medians over rounds. */
  handshakesPerSec: number;
  cpuUsPerHandshake: number;
  /** Per round, in order, for anyone who wants the spread. */
  rounds: Array<{ handshakesPerSec: number; cpuUsPerHandshake: number }>;
}

export interface RoleRatio {
  /** handshaked / Node: above 1 means handshaked completes more handshakes per second. */
  handshakesPerSec: number;
  /** handshaked / Node: below 1 means handshaked spends less CPU per handshake. */
  cpuPerHandshake: number;
}

export interface BenchSummary {
  setup: Record<string, string | number>;
  variants: Partial<Record<Variant, VariantFigures>>;
  ratios: { server?: RoleRatio; client?: RoleRatio };
  failed: number;
}

export function summarize(samples: RoundSample[], setup: Record<string, string | number>): BenchSummary {
  const variants: Partial<Record<Variant, VariantFigures>> = {};
  for (const v of ['handshaked server', 'node server', 'handshaked client', 'node client'] as Variant[]) {
    const mine = samples.filter((s) => s.variant === v);
    if (mine.length === 0) continue;
    const rounds = mine.map((s) => ({
      handshakesPerSec: s.ok / (s.wallMs / 1000),
      cpuUsPerHandshake: s.cpuUs / Math.max(1, s.ok),
    }));
    variants[v] = {
      handshakes: mine.reduce((a, s) => a + s.ok, 0),
      failed: mine.reduce((a, s) => a + s.failed, 0),
      firstError: mine.find((s) => s.firstError)?.firstError,
      handshakesPerSec: median(rounds.map((r) => r.handshakesPerSec)),
      cpuUsPerHandshake: median(rounds.map((r) => r.cpuUsPerHandshake)),
      rounds,
    };
  }
  const ratio = (ours?: VariantFigures, node?: VariantFigures): RoleRatio | undefined =>
    ours && node
      ? { handshakesPerSec: ours.handshakesPerSec / node.handshakesPerSec, cpuPerHandshake: ours.cpuUsPerHandshake / node.cpuUsPerHandshake }
      : undefined;
  return {
    setup,
    variants,
    ratios: {
      server: ratio(variants['handshaked server'], variants['node server']),
      client: ratio(variants['handshaked client'], variants['node client']),
    },
    failed: Object.values(variants).reduce((a, f) => a + (f?.failed ?? 0), 0),
  };
}

export function formatReport(s: BenchSummary): string {
  const lines: string[] = [];
  lines.push(`TLS 1.3 handshake benchmark — ${Object.entries(s.setup).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  lines.push('');
  const row = (cols: string[]) => cols.map((c, i) => (i === 0 ? c.padEnd(20) : c.padStart(14))).join('');
  lines.push(row(['variant', 'handshakes/s', 'CPU µs/hs', 'ok', 'failed']));
  for (const [v, f] of Object.entries(s.variants)) {
    if (!f) continue;
    lines.push(row([v, f.handshakesPerSec.toFixed(0), f.cpuUsPerHandshake.toFixed(0), String(f.handshakes), String(f.failed)]));
  }
  lines.push('');
  for (const role of ['server', 'client'] as const) {
    const r = s.ratios[role];
    if (r) lines.push(row([`${role} ours/node`, `${r.handshakesPerSec.toFixed(2)}×`, `${r.cpuPerHandshake.toFixed(2)}×`, '', '']));
  }
  for (const [v, f] of Object.entries(s.variants)) {
    if (f?.firstError) lines.push(`${v}: first failure: ${f.firstError}`);
  }
  lines.push('(handshakes/s and CPU are medians over rounds; CPU is the measured process only; the peer is Node tls in a child process)');
  return lines.join('\n');
}
