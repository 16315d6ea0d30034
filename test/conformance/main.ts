/**
 * `npm run conformance`: every probe against openssl s_server, gnutls-serv and handshaked serve;
 * prints the table (Markdown) and exits 1 when handshaked differs from both oracles on a probe
 * that docs/interop.md does not explain, or from the RFC where the RFC names the answer.
 */
import { unexplained } from './known';
import { PROBES } from './probes';
import { runAll, table } from './run';
import { gnutlsTarget, handshakedTarget, opensslTarget, type Target } from './targets';

async function main(): Promise<number> {
  const only = process.argv.slice(2);
  const probes = only.length > 0 ? PROBES.filter((p) => only.includes(p.id)) : PROBES;
  const targets: Target[] = [];
  try {
    targets.push(await handshakedTarget(), await opensslTarget(), await gnutlsTarget());
    const rows = await runAll(targets, probes);
    process.stdout.write(`${table(rows)}\n\n`);
    const bad = unexplained(rows);
    for (const b of bad) process.stdout.write(`UNEXPLAINED ${b}\n`);
    process.stdout.write(`${rows.length} probes, ${bad.length} unexplained\n`);
    return bad.length === 0 ? 0 : 1;
  } finally {
    for (const t of targets) await t.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`conformance: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
