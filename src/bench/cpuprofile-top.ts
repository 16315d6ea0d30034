/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_PROFILE=dir npm run bench):
 * self time and inclusive time per function, top N each.
 * Usage: node dist/bench/cpuprofile-top.js FILE.cpuprofile [N]
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function summarizeProfile(prof: Profile): { totalUs: number; self: Map<string, number>; inclusive: Map<string, number> } {
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of prof.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const perNode = new Map<number, number>();
  prof.samples.forEach((id, i) => perNode.set(id, (perNode.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const name = (x: ProfileNode): string => {
    const f = x.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${where}`.trim();
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalUs = 0;
  for (const [id, t] of perNode) {
    totalUs += t;
    const k = name(byId.get(id)!);
    self.set(k, (self.get(k) ?? 0) + t);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const kk = name(byId.get(cur)!);
      if (seen.has(kk)) continue; // recursion counts once
      seen.add(kk);
      inclusive.set(kk, (inclusive.get(kk) ?? 0) + t);
    }
  }
  return { totalUs, self, inclusive };
}

function main(): number {
  const [file, nArg] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist/bench/cpuprofile-top.js FILE.cpuprofile [N]\n');
    return 2;
  }
  const n = Number(nArg ?? 30);
  const { totalUs, self, inclusive } = summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')) as Profile);
  const show = (title: string, m: Map<string, number>): void => {
    process.stdout.write(`\n${title} (of ${(totalUs / 1000).toFixed(0)} ms sampled)\n`);
    for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      process.stdout.write(`${(t / 1000).toFixed(1).padStart(9)} ms ${((100 * t) / totalUs).toFixed(1).padStart(5)}%  ${k}\n`);
    }
  };
  show('self', self);
  show('inclusive', inclusive);
  return 0;
}

if (require.main === module) process.exitCode = main();
