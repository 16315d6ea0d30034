/**
 * `npm run bench`: the upcall-storm benchmark (src/bench/storm): handshaked through the unix
 * transport at 1…1024 handshakes in flight, against the crypto floor and Node's tls. The TLS
 * engine comparison alone is `npm run bench:tls` (src/bench/tls.ts).
 */
import { formatStorm } from './storm/format';
import { HELP, optionsFromEnv, runStorm, writeResults } from './storm/run';

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const o = optionsFromEnv();
  const summary = await runStorm(o, (line) => {
    if (!o.json) process.stderr.write(`${line}\n`);
  });
  const files = writeResults(summary, o.outDir);
  if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else process.stdout.write(`${formatStorm(summary)}\n\nwritten: ${files.join(', ')}\n`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (e: Error) => {
    process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
    process.exitCode = 2;
  },
);
