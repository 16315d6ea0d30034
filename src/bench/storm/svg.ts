/**
 * Latency against concurrency as a hand-written SVG: one panel per role/auth, log-log axes,
 * p50 (solid) and p99 (dashed) for handshaked and Node tls. No charting dependency: the figure
 * is a few polylines and labels.
 */
import type { StormSummary } from './summary';

const W = 300;
const H = 220;
const M = { left: 52, right: 12, top: 28, bottom: 38 };
const COLORS = { handshaked: '#1f77b4', node: '#d62728' };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

export function latencySvg(s: StormSummary): string {
  const keys = [...new Set(s.cells.map((c) => `${c.role}/${c.auth}`))];
  const cols = Math.min(3, Math.max(1, keys.length));
  const rows = Math.ceil(keys.length / cols);
  const width = cols * W;
  const height = rows * H + 40;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  const concs = s.cells.map((c) => c.concurrency);
  const lats = s.cells.flatMap((c) => [c.handshaked, c.node].flatMap((x) => (x ? [x.latencyMs.p50, x.latencyMs.p99] : []))).filter((v) => v > 0 && Number.isFinite(v));
  const cLo = Math.max(1, Math.min(...concs));
  const cHi = Math.max(cLo * 10, ...concs) * 1.15; // room for the last tick's label
  const yTicks = logTicks(Math.max(0.1, Math.min(...lats, 1)), Math.max(...lats, 10));
  const yLo = yTicks[0];
  const yHi = yTicks[yTicks.length - 1];
  keys.forEach((key, i) => {
    const ox = (i % cols) * W;
    const oy = Math.floor(i / cols) * H;
    const pw = W - M.left - M.right;
    const ph = H - M.top - M.bottom;
    const x = (c: number) => ox + M.left + (Math.log10(c / cLo) / Math.log10(cHi / cLo)) * pw;
    const y = (v: number) => oy + M.top + ph - (Math.log10(v / yLo) / Math.log10(yHi / yLo)) * ph;
    parts.push(`<text x="${ox + W / 2}" y="${oy + 16}" text-anchor="middle" font-weight="bold">${esc(key.replace('/', ' role, '))}</text>`);
    parts.push(`<rect x="${ox + M.left}" y="${oy + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
    for (const t of yTicks) {
      parts.push(`<line x1="${ox + M.left}" x2="${ox + M.left + pw}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#eee"/>`);
      parts.push(`<text x="${ox + M.left - 4}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${t >= 1 ? t : t.toFixed(1)}</text>`);
    }
    // The measured concurrencies are the ticks: decades between them would crowd (10 vs 16).
    for (const t of [...new Set(concs)].sort((a, b) => a - b)) {
      parts.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${oy + M.top}" y2="${oy + M.top + ph}" stroke="#eee"/>`);
      parts.push(`<text x="${x(t).toFixed(1)}" y="${oy + M.top + ph + 14}" text-anchor="middle">${t}</text>`);
    }
    parts.push(`<text x="${ox + M.left + pw / 2}" y="${oy + H - 8}" text-anchor="middle">handshakes in flight</text>`);
    parts.push(`<text transform="translate(${ox + 12},${oy + M.top + ph / 2}) rotate(-90)" text-anchor="middle">latency ms</text>`);
    const cells = s.cells.filter((c) => `${c.role}/${c.auth}` === key).sort((a, b) => a.concurrency - b.concurrency);
    for (const side of ['handshaked', 'node'] as const) {
      for (const p of ['p50', 'p99'] as const) {
        const pts = cells.flatMap((c) => {
          const v = c[side]?.latencyMs[p];
          return v !== undefined && v > 0 && Number.isFinite(v) ? [`${x(c.concurrency).toFixed(1)},${y(v).toFixed(1)}`] : [];
        });
        if (pts.length === 0) continue;
        const dash = p === 'p99' ? ' stroke-dasharray="5,3"' : '';
        parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS[side]}" stroke-width="1.8"${dash}/>`);
        for (const pt of pts) {
          const [px, py] = pt.split(',');
          parts.push(`<circle cx="${px}" cy="${py}" r="2.2" fill="${COLORS[side]}"/>`);
        }
      }
    }
  });
  const ly = rows * H + 20;
  const legend = [
    ['handshaked p50', COLORS.handshaked, ''],
    ['handshaked p99', COLORS.handshaked, '5,3'],
    ['Node tls p50', COLORS.node, ''],
    ['Node tls p99', COLORS.node, '5,3'],
  ];
  legend.forEach(([label, color, dash], i) => {
    const lx = 20 + i * 150;
    parts.push(`<line x1="${lx}" x2="${lx + 28}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    parts.push(`<text x="${lx + 34}" y="${ly + 4}">${esc(label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
