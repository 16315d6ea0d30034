// The TLS engine alone, no socket, no peer: client and server engines of one or two builds
// handshake in memory (the scaling bench's handshakePair), interleaved in rounds in one process,
// and each build's CPU per handshake pair (process.cpuUsage) and bytes allocated per pair are
// printed, with B/A. Allocation is the growth of the V8 heap plus ArrayBuffer memory over a batch
// in which no garbage collection ran (a batch with a GC is measured again), so run it with a
// young generation large enough for a batch: the script re-executes itself with one.
//
//   node scripts/bench-engine-alloc.mjs DIR_A [DIR_B]   (each a tree with a built dist/)
//   env: ROUNDS (7), COUNT pairs per round (200), BATCH pairs per allocation sample (20),
//        MODES (x509,psk), SITES=N: also print the top N allocation sites of the last build
//        (V8's sampling heap profiler, objects collected by GC included); BY_OWN=1 charges
//        each site to the innermost frame of the engine's own code instead.
import { Buffer } from 'node:buffer';
import v8 from 'node:v8';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import process from 'node:process';
import { createRequire } from 'node:module';
import inspector from 'node:inspector';

// Re-run with the flags it needs unless both are there (a caller's own semi-space flag alone
// would leave globalThis.gc undefined).
if (typeof globalThis.gc !== 'function' || !process.execArgv.some((a) => a.startsWith('--max-semi-space-size'))) {
  const r = spawnSync(process.execPath, ['--max-semi-space-size=64', '--expose-gc', ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  process.stderr.write('usage: node scripts/bench-engine-alloc.mjs DIR_A [DIR_B]\n');
  process.exit(2);
}
const rounds = Number(process.env.ROUNDS ?? 7);
const count = Number(process.env.COUNT ?? 200);
const batch = Number(process.env.BATCH ?? 20);
const modes = (process.env.MODES ?? 'x509,psk').split(',');
const sites = Number(process.env.SITES ?? 0);


// The driver (records passed by hand between two engines) is this checkout's, the same one
// `npm run bench:tls` uses; each build supplies only its engine.
const { handshakePair } = createRequire(import.meta.url)('../dist/bench/scaling.js');

function build(dir) {
  const req = createRequire(path.resolve(dir, 'dist', 'index.js'));
  const tls = req('./tls');
  const { loadBenchPki } = req('./bench/pki');
  const pki = loadBenchPki('server-p256');
  const psk = { identity: Buffer.from('bench-psk'), key: Buffer.alloc(32, 7), hash: 'sha256', tag: 'bench' };
  // The storm bench's shape: AES-128-GCM, x25519.
  const shape = { cipherSuites: ['TLS_AES_128_GCM_SHA256'], groups: ['x25519'] };
  const cfg = {
    x509: {
      server: { ...shape, certificate: pki.certified, clientAuth: 'none' },
      client: { ...shape, serverName: 'localhost', trust: pki.trust },
    },
    psk: {
      server: { ...shape, clientAuth: 'none', pskLookup: (id) => (id.equals(psk.identity) ? psk : undefined) },
      client: { ...shape, serverName: 'localhost', psks: [psk] },
    },
  };
  const pair = (mode) => {
    try {
      handshakePair(tls.createClient(cfg[mode].client), tls.createServer(cfg[mode].server));
    } catch (e) {
      throw new Error(`${dir} ${mode}: ${e.message}`);
    }
  };
  return { dir, pair };
}

const used = () => {
  const h = process.memoryUsage();
  return h.heapUsed + h.arrayBuffers;
};

/** Bytes allocated per pair: the median of batches with no GC inside. */
function allocPerPair(b, mode) {
  const samples = [];
  for (let tries = 0; samples.length < 5 && tries < 50; tries++) {
    globalThis.gc();
    const prof = new v8.GCProfiler();
    prof.start();
    const u0 = used();
    for (let i = 0; i < batch; i++) b.pair(mode);
    const u1 = used();
    if (prof.stop().statistics.length === 0) samples.push((u1 - u0) / batch);
  }
  return median(samples);
}

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[s.length >> 1] : NaN;
}

const builds = dirs.map(build);
for (const b of builds) for (const m of modes) for (let i = 0; i < 100; i++) b.pair(m);

const cpu = new Map();
const alloc = new Map();
for (let r = 0; r < rounds; r++) {
  for (const m of modes) {
    for (const b of r % 2 ? [...builds].reverse() : builds) {
      const key = `${b.dir}|${m}`;
      const c0 = process.cpuUsage();
      for (let i = 0; i < count; i++) b.pair(m);
      const c = process.cpuUsage(c0);
      (cpu.get(key) ?? cpu.set(key, []).get(key)).push((c.user + c.system) / count);
      (alloc.get(key) ?? alloc.set(key, []).get(key)).push(allocPerPair(b, m));
    }
  }
}

for (const m of modes) {
  const row = builds.map((b) => ({ cpu: median(cpu.get(`${b.dir}|${m}`)), alloc: median(alloc.get(`${b.dir}|${m}`)) }));
  let line = `${m}: ` + row.map((x, i) => `${'AB'[i]} ${x.cpu.toFixed(0)} µs CPU, ${(x.alloc / 1024).toFixed(1)} KiB allocated per pair`).join('; ');
  if (row.length === 2) {
    const ratios = cpu.get(`${builds[0].dir}|${m}`).map((a, i) => cpu.get(`${builds[1].dir}|${m}`)[i] / a);
    line += `; B/A CPU ${median(ratios).toFixed(3)} (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}), alloc ${(row[1].alloc / row[0].alloc).toFixed(3)}`;
  }
  process.stdout.write(line + '\n');
}

if (sites > 0) {
  const b = builds[builds.length - 1];
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) => new Promise((res, rej) => session.post(method, params, (e, v) => (e ? rej(e) : res(v))));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const n = 300;
  for (const m of modes) for (let i = 0; i < n; i++) b.pair(m);
  const { profile } = await post('HeapProfiler.stopSampling');
  const bySite = new Map();
  const walk = (node, stack) => {
    const f = node.callFrame;
    const here = `${f.functionName || '(anon)'} ${path.basename(f.url)}:${f.lineNumber + 1}`;
    const self = node.selfSize;
    if (self > 0) {
      // Charge to the innermost frame in the engine's own code, with the allocating frame.
      const own = [...stack, here].reverse().find((s) => s.includes('.js:') && !s.includes('node:')) ?? here;
      const k = process.env.BY_OWN ? own : own === here ? here : `${here} <- ${own}`;
      bySite.set(k, (bySite.get(k) ?? 0) + self);
    }
    for (const c of node.children) walk(c, f.url.includes('/dist/') ? [...stack, here] : stack);
  };
  walk(profile.head, []);
  const total = [...bySite.values()].reduce((a, x) => a + x, 0);
  process.stdout.write(`\nallocation sites, ${b.dir}, ${n} pairs of each of ${modes.join(',')}: ${(total / n / modes.length / 1024).toFixed(1)} KiB sampled per pair\n`);
  for (const [k, v] of [...bySite].sort((x, y) => y[1] - x[1]).slice(0, sites)) {
    process.stdout.write(`${((100 * v) / total).toFixed(1).padStart(5)} %  ${(v / n / modes.length).toFixed(0).padStart(6)} B/pair  ${k}\n`);
  }
}
