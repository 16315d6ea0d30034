// Where an agent's CPU per handshake goes, thread by thread: agents with different worker counts
// run side by side against the same peer and driver, cells alternating, and each agent's
// threads' scheduler run time (/proc/PID/task/TID/schedstat) is read around every cell. Threads
// present when the agent is ready are the main thread and node's own (V8's platform threads:
// concurrent GC and compilation); threads that appear later are the pool's workers (they start
// lazily, at the first handshakes, which the warm-up cell takes). Prints µs per handshake of the
// main thread, of each later thread and of the start-up threads together, medians over rounds,
// and what the warm-up cost each later thread (its start, module load and cold JIT). Beside the
// CPU, the main thread's and the workers' context switches per handshake: voluntary ones (the
// thread slept in its event loop and was woken: by a socket, a timer or a message from another
// thread) and involuntary ones (preempted for another runnable thread on the shared cores).
//
//   node scripts/bench-threads.mjs        (after npm run build; needs root, like npm run bench)
//   env: WORKERS (0,1,2), COMBOS (server/x509), CONC (16,256), ROUNDS (4), COUNT (400), WARMUP (200)
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = async (rel) => (await import(path.join(root, 'dist', 'bench', 'storm', rel))).default;
const cells = await load('cell.js');
const sides = await load('sides.js');
const { PeerProcess } = await load('peer-process.js');
const counts = (process.env.WORKERS ?? '0,1,2').split(',').map(Number);
const combos = (process.env.COMBOS ?? 'server/x509').split(',').map((s) => s.split('/'));
const concs = (process.env.CONC ?? '16,256').split(',').map(Number);
const rounds = Number(process.env.ROUNDS ?? 4);
const count = Number(process.env.COUNT ?? 400);
const warmup = Number(process.env.WARMUP ?? 200);
const nodeArgs = sides.unitNodeArgs(); // the systemd unit's NODE_OPTIONS, as npm run bench uses

/** ns of run time of every thread of pid, by tid. */
function threads(pid) {
  const m = new Map();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      m.set(Number(tid), Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return m;
}
const delta = (a, b) => new Map([...b].map(([t, ns]) => [t, ns - (a.get(t) ?? 0)]));
/** Voluntary and involuntary context switches of one thread so far. */
function switches(pid, tid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    return [Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)[1]), Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)[1])];
  } catch {
    return [0, 0];
  }
}

const keys = sides.BenchKeys.create();
const peer = await PeerProcess.start(keys.psk);
const agents = [];
const res = new Map();
const push = (k, v) => (res.has(k) ? res.get(k) : res.set(k, []).get(k)).push(v);
try {
  for (const w of counts) {
    const side = await sides.AgentSide.start({ keys, maxInflight: 1024, workers: w, nodeArgs, workDir: sides.makeWorkDir() });
    agents.push({ w, side, initial: new Set(threads(side.pid).keys()), later: [] });
  }
  for (const a of agents) {
    for (const [role, auth] of combos) {
      const t0 = threads(a.side.pid);
      await cells.runCell(a.side, peer, role, auth, 16, warmup);
      const d = delta(t0, threads(a.side.pid));
      a.later = [...d.keys()].filter((t) => !a.initial.has(t)).sort((p, q) => p - q);
      process.stdout.write(`warm-up workers=${a.w} ${role}/${auth}: ${warmup} hs; main ${(d.get(a.side.pid) / 1e3 / warmup).toFixed(0)} µs/hs; later threads' whole CPU, ms: ${a.later.map((t) => (d.get(t) / 1e6).toFixed(0)).join(' ') || '-'}\n`);
    }
  }
  for (let r = 0; r < rounds; r++) {
    for (const [role, auth] of combos) {
      for (const conc of concs) {
        for (const a of r % 2 ? [...agents].reverse() : agents) {
          const t0 = threads(a.side.pid);
          const s0 = new Map([...t0.keys()].map((t) => [t, switches(a.side.pid, t)]));
          const x = await cells.runCell(a.side, peer, role, auth, conc, count);
          const d = delta(t0, threads(a.side.pid));
          const sw = (t) => {
            const [v1, n1] = switches(a.side.pid, t);
            const [v0, n0] = s0.get(t) ?? [0, 0];
            return `${((v1 - v0) / Math.max(1, x.ok)).toFixed(1)}/${((n1 - n0) / Math.max(1, x.ok)).toFixed(1)}`;
          };
          const per = (ns) => ns / 1e3 / Math.max(1, x.ok);
          const later = [...d.keys()].filter((t) => !a.initial.has(t)).sort((p, q) => p - q);
          const big = later.filter((t) => per(d.get(t)) > 20);
          const k = `${role}/${auth} ×${conc} workers=${a.w}`;
          push(`${k} total`, per([...d.values()].reduce((s, v) => s + v, 0)));
          push(`${k} main`, per(d.get(a.side.pid) ?? 0));
          push(`${k} main switches vol/invol`, sw(a.side.pid));
          push(`${k} node's threads`, per([...d].filter(([t]) => a.initial.has(t) && t !== a.side.pid).reduce((s, [, v]) => s + v, 0)));
          big.forEach((t, i) => push(`${k} worker ${i}`, per(d.get(t))));
          big.forEach((t, i) => push(`${k} worker ${i} switches vol/invol`, sw(t)));
          push(`${k} other later threads`, per(later.filter((t) => !big.includes(t)).reduce((s, t) => s + d.get(t), 0)));
          push(`${k} hs/s`, x.ok / (x.wallMs / 1000));
          if (x.failed) push(`${k} failed`, x.failed);
        }
      }
    }
    process.stderr.write(`round ${r + 1}/${rounds}\n`);
  }
} finally {
  for (const a of agents) await a.side.stop();
  await peer.stop();
  keys.dispose();
}
const med = (v) => [...v].sort((p, q) => parseFloat(p) - parseFloat(q))[v.length >> 1];
const show = (x) => (typeof x === 'number' ? x.toFixed(0) : x);
for (const [k, v] of res) process.stdout.write(`${k}: ${show(med(v))}${v.length < rounds ? ` (${v.length} of ${rounds} rounds)` : ''}\n`);
