// `npm run build [-- --outDir DIR]`: compile src/ with tsc into DIR (default dist/), then bundle
// the program, DIR/cli/main.js and every module it loads (except the native addons koffi and
// netlink, which stay in node_modules), into one file, DIR/cli/program.js, and make
// DIR/cli/main.js, the `handshaked` executable, the small loader that runs it through the V8
// code cache (src/cli/loader.ts, src/cli/code-cache.ts).
//
// Why bundle: start-up is on the boot path, and resolving, reading and compiling ~160 separate
// modules was most of the agent's time to ready; one file takes a third less, and the code cache
// takes most of the compiling away too (docs/bench.md, "Start-up"). The rest of DIR stays tsc's
// output: the library entry (dist/index.js), the benchmarks and the type declarations are used
// as modules, not as a program.
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let outDir = path.join(root, 'dist');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--outDir' && args[i + 1]) outDir = path.resolve(args[++i]);
  else if (args[i].startsWith('--outDir=')) outDir = path.resolve(args[i].slice('--outDir='.length));
  else {
    process.stderr.write(`build: unknown argument ${args[i]} (only --outDir DIR)\n`);
    process.exit(2);
  }
}

const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', outDir], {
  stdio: 'inherit',
});
// tsc emits even with type errors; the bundle is still made so a broken type never hides a
// runnable program from the VM harness, but the exit status says what tsc said.
const main = path.join(outDir, 'cli', 'main.js');
// The handshake pool's worker threads load a script of their own by path. The bundle's
// __dirname is cli/, so the worker entry is bundled beside it under the name the bundled pool
// is told (HANDSHAKED_WORKER_SCRIPT); tsc's pool (the library entry) keeps its worker.js.
const workerScript = 'handshake-worker.js';
const common = {
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Native addons load their .node files relative to their own package.
  external: ['koffi', 'netlink'],
  // Whitespace and syntax only: names stay, so stack traces still say which function failed.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  // DIR may be outside the checkout (the VM harness and the package build into their own
  // trees, which have no node_modules yet): resolve packages from the checkout's as well.
  nodePaths: [path.join(root, 'node_modules')],
};
const program = path.join(outDir, 'cli', 'program.js');
await build({ ...common, entryPoints: [main], outfile: program, define: { HANDSHAKED_WORKER_SCRIPT: JSON.stringify(workerScript) } });
// The loader compiles program.js inside a function wrapper, where a #! line is a syntax error;
// a comment of the same length keeps every line and column where it was.
const programText = readFileSync(program, 'utf8');
if (programText.startsWith('#!')) writeFileSync(program, `//${programText.slice(2)}`);
await build({ ...common, entryPoints: [path.join(outDir, 'cli', 'loader.js')], outfile: main });
await build({ ...common, entryPoints: [path.join(outDir, 'agent', 'pool', 'worker.js')], outfile: path.join(outDir, 'cli', workerScript) });
chmodSync(main, 0o755);
process.exit(tsc.status ?? 1);
