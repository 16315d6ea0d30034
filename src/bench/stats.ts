/** The statistics every benchmark reports with, so that two figures from two benches mean the same. */

/** The median; for an even count, the mean of the two middle values. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** µs of process CPU (user + system) per call of `f`, over `n` calls. */
export function cpuUsPerCall(n: number, f: () => unknown): number {
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) f();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / n;
}
