/**
 * `npm run bench:metrics`: what network namespaces that come and go cost the metrics, in one
 * process.
 *
 * 1. Memory: NAMESPACES (20000) namespaces, one after another, each with a successful and a failed
 *    handshake and a netlink error, recorded by three registries: one whose namespaces are never
 *    forgotten and whose bound is lifted (the agent before namespaces' series were dropped), one
 *    with the bound only, and one as the agent runs (each namespace forgotten when it goes).
 *    Reported: heap growth after a full GC, the /metrics page's size and its series lines.
 * 2. Recording: CPU per finished() for a namespace whose label sets are remembered for
 *    forgetting, against `self` (not remembered), interleaved in ROUNDS (9) rounds; the median
 *    ratio.
 */
import { spawnSync } from 'node:child_process';
import { AgentMetrics, MAX_NETNS_LABELS } from '../agent/metrics';
import { Status } from '../agent/request';
import { cpuUsPerCall, median } from './stats';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const collect: () => void = gc;

const namespaces = Number(process.env.NAMESPACES ?? 20000);
const rounds = Number(process.env.ROUNDS ?? 9);
const CALLS = 50_000;

function handshakes(m: AgentMetrics, netns: string): void {
  m.started();
  m.finished('server', 'x509', Status.OK, 0.004, { group: 'X25519MLKEM768', signatureScheme: 'mldsa65', netns });
  m.started();
  m.finished('server', 'x509', Status.EACCES, 0.002, { netns });
  m.netlinkError('done', 'EBUSY', netns);
}

async function churn(name: string, m: AgentMetrics, forget: boolean): Promise<void> {
  collect();
  const heap0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < namespaces; i++) {
    const netns = `ino:${4026532000 + i}`;
    handshakes(m, netns);
    if (forget) m.forgetNetns(netns);
  }
  handshakes(m, 'self');
  const page = await m.registry.metrics();
  collect();
  const heap = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  const series = page.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  console.log(`| ${name} | ${heap.toFixed(2)} | ${(page.length / 1024).toFixed(1)} | ${series} |`);
}

async function main(): Promise<void> {
  console.log(`${namespaces} namespaces come and go, each with 2 handshakes and a netlink error (bound ${MAX_NETNS_LABELS}):\n`);
  console.log('| registry | heap growth MiB | /metrics KiB | series lines |');
  console.log('|---|---|---|---|');
  // Each kept alive until all three are measured, so that one's heap is not freed in another's figure.
  const kept = [new AgentMetrics({ maxNetnsLabels: Infinity }), new AgentMetrics(), new AgentMetrics()];
  await churn('never forgotten, no bound (before)', kept[0], false);
  await churn('bound only', kept[1], false);
  await churn('forgotten when gone (now)', kept[2], true);

  const tracked = new AgentMetrics();
  const self = new AgentMetrics();
  const record = (m: AgentMetrics, netns: string) => () => {
    m.started();
    m.finished('server', 'x509', Status.OK, 0.004, { group: 'X25519MLKEM768', signatureScheme: 'mldsa65', netns });
  };
  const ratios: number[] = [];
  const us: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternating which goes first, so that the machine's drift hits both alike.
    const a = r % 2 ? cpuUsPerCall(CALLS, record(tracked, 'tenant1')) : 0;
    const b = cpuUsPerCall(CALLS, record(self, 'self'));
    const t = r % 2 ? a : cpuUsPerCall(CALLS, record(tracked, 'tenant1'));
    ratios.push(t / b);
    us.push(t - b);
  }
  console.log(`\nfinished() for a remembered namespace / for self: ${median(ratios).toFixed(2)}× (median of ${rounds} rounds, ${median(us).toFixed(2)} µs more per handshake)`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
