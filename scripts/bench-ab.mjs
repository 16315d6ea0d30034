// Two builds' agents in one run, interleaved: same peer, same driver, same keys, alternating
// small storm cells (the storm benchmark's own runCell), so a loaded machine's drift hits both
// alike. Prints the median agent CPU per handshake, handshakes/s and peak RSS of each, and B/A.
//
//   node scripts/bench-ab.mjs DIR_A DIR_B      (each a tree with a built dist/, e.g. a git worktree)
//   env: ROUNDS (4), COUNT per cell (300), CONC in flight (16), COMBOS (server/psk,server/x509,client/psk,client/x509),
//        WORKERS ([handshaked] workers of both agents; unset: the agent's default;
//        WORKERS_A, WORKERS_B set one agent's alone),
//        NODE_ARGS_A, NODE_ARGS_B (space-separated node options of each agent instead of the unit's
//        heap options, to compare those: both dirs may then be the same build)
// Needs root (the PSK lives in a kernel keyring), like npm run bench.
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const load = async (dir, rel) => (await import(pathToFileURL(path.resolve(dir, 'dist', 'bench', 'storm', rel)).href)).default;
const [A, B] = process.argv.slice(2);
if (!A || !B) {
  process.stderr.write('usage: node scripts/bench-ab.mjs DIR_A DIR_B\n');
  process.exit(2);
}
const cells = await load(A, 'cell.js');
const sidesA = await load(A, 'sides.js');
const sidesB = await load(B, 'sides.js');
const { PeerProcess } = await load(A, 'peer-process.js');
const rounds = Number(process.env.ROUNDS ?? 4);
const count = Number(process.env.COUNT ?? 300);
const conc = Number(process.env.CONC ?? 16);
const combos = (process.env.COMBOS ?? 'server/psk,server/x509,client/psk,client/x509').split(',').map((s) => s.split('/'));
// Each agent with its own tree's unit options (an older tree without unitNodeArgs: the other's).
const unitArgs = (own, other) => (own.unitNodeArgs ?? other.unitNodeArgs)();
const argsOf = (v, unit) => (v === undefined ? unit : v.split(' ').filter(Boolean));
const workersOf = (v) => (v === undefined ? {} : { workers: Number(v) });
const workersA = workersOf(process.env.WORKERS_A ?? process.env.WORKERS);
const workersB = workersOf(process.env.WORKERS_B ?? process.env.WORKERS);

const keys = sidesA.BenchKeys.create();
const peer = await PeerProcess.start(keys.psk);
const a = await sidesA.AgentSide.start({ keys, maxInflight: 1024, ...workersA, nodeArgs: argsOf(process.env.NODE_ARGS_A, unitArgs(sidesA, sidesB)), workDir: sidesA.makeWorkDir() });
const b = await sidesB.AgentSide.start({ keys, maxInflight: 1024, ...workersB, nodeArgs: argsOf(process.env.NODE_ARGS_B, unitArgs(sidesB, sidesA)), workDir: sidesB.makeWorkDir() });
const res = new Map();
try {
  for (const [role, auth] of combos) for (const s of [a, b]) await cells.runCell(s, peer, role, auth, conc, 200); // JIT warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [role, auth] of combos) {
      for (const s of r % 2 ? [b, a] : [a, b]) {
        const x = await cells.runCell(s, peer, role, auth, conc, count);
        const k = `${role}/${auth} ${s === a ? 'A' : 'B'}`;
        if (!res.has(k)) res.set(k, []);
        res.get(k).push({ cpu: x.cpuUs / Math.max(1, x.ok), rate: x.ok / (x.wallMs / 1000), rss: x.peakRssKb / 1024, failed: x.failed });
      }
    }
    process.stderr.write(`round ${r + 1}/${rounds}\n`);
  }
} finally {
  await a.stop();
  await b.stop();
  await peer.stop();
  keys.dispose();
}
const med = (v) => [...v].sort((p, q) => p - q)[v.length >> 1];
for (const [role, auth] of combos) {
  const xa = res.get(`${role}/${auth} A`);
  const xb = res.get(`${role}/${auth} B`);
  const [ca, cb] = [med(xa.map((x) => x.cpu)), med(xb.map((x) => x.cpu))];
  const [ra, rb] = [med(xa.map((x) => x.rate)), med(xb.map((x) => x.rate))];
  const rss = (xs) => Math.max(...xs.map((x) => x.rss)).toFixed(1);
  const failed = [...xa, ...xb].reduce((n, x) => n + x.failed, 0);
  process.stdout.write(
    `${role}/${auth} ×${conc}: agent CPU µs/hs A ${ca.toFixed(0)} B ${cb.toFixed(0)} (B/A ${(cb / ca).toFixed(2)}); ` +
      `hs/s A ${ra.toFixed(0)} B ${rb.toFixed(0)} (B/A ${(rb / ra).toFixed(2)}); peak RSS MiB A ${rss(xa)} B ${rss(xb)}; failed ${failed}\n`,
  );
}
