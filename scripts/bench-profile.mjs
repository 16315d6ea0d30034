// The agent under `node --cpu-prof`, one agent process per cell so that each profile holds one
// role/auth mode at one concurrency: warm-up handshakes, then COUNT measured ones, then the
// profile's top functions by self time (src/bench/cpuprofile-top.ts) and the agent's CPU per
// handshake for the measured part (scheduler run time, as the storm bench counts it).
//
//   node scripts/bench-profile.mjs [OUT_DIR]     (after npm run build; needs root, like npm run bench)
//   env: WORKERS ([handshaked] workers, 0), COMBOS (server/psk,server/x509,client/psk,client/x509),
//        CONC (16,256), COUNT (1500), WARMUP (300), TOP (25)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = async (rel) => (await import(path.join(root, 'dist', 'bench', 'storm', rel))).default;
const cells = await load('cell.js');
const sides = await load('sides.js');
const { PeerProcess } = await load('peer-process.js');
const out = path.resolve(process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hs-prof-')));
const workers = Number(process.env.WORKERS ?? 0);
const combos = (process.env.COMBOS ?? 'server/psk,server/x509,client/psk,client/x509').split(',').map((s) => s.split('/'));
const concs = (process.env.CONC ?? '16,256').split(',').map(Number);
const count = Number(process.env.COUNT ?? 1500);
const warmup = Number(process.env.WARMUP ?? 300);
const top = process.env.TOP ?? '25';
const nodeArgs = sides.unitNodeArgs(); // the systemd unit's NODE_OPTIONS, as npm run bench uses

const keys = sides.BenchKeys.create();
const peer = await PeerProcess.start(keys.psk);
try {
  for (const [role, auth] of combos) {
    for (const conc of concs) {
      const dir = path.join(out, `${role}-${auth}-${conc}`);
      fs.mkdirSync(dir, { recursive: true });
      const agent = await sides.AgentSide.start({ keys, maxInflight: 1024, workers, cpuProfDir: dir, nodeArgs, workDir: sides.makeWorkDir() });
      let x;
      try {
        await cells.runCell(agent, peer, role, auth, Math.min(conc, 64), warmup);
        x = await cells.runCell(agent, peer, role, auth, conc, count);
      } finally {
        await agent.stop();
      }
      const file = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f)).sort()[0];
      process.stdout.write(`\n=== ${role}/${auth} ×${conc} workers=${workers}: agent CPU ${(x.cpuUs / Math.max(1, x.ok)).toFixed(0)} µs/hs over ${x.ok} (failed ${x.failed}); ${file}\n`);
      process.stdout.write(execFileSync(process.execPath, [path.join(root, 'dist', 'bench', 'cpuprofile-top.js'), file, top], { encoding: 'utf8' }).split('\ninclusive')[0]);
    }
  }
} finally {
  await peer.stop();
  keys.dispose();
}
