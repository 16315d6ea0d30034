// The record reader alone: two builds' SocketReaders read the same queued flights from a TCP
// loopback pair, interleaved in rounds in one process, and each build's CPU per flight
// (process.cpuUsage, the reader's recvs and copies plus the peer's write) is printed with B/A.
// Flights: the server flight a client reads (SH, CCS, EE, Certificate, CertificateVerify,
// Finished) and the client's last flight a server reads (CCS, Finished), each followed by
// application data the reader must leave queued; the reader is closed after the last record,
// as the handshake does before kTLS takes over.
//
//   node scripts/bench-reader.mjs DIR_A DIR_B      (each a tree with a built dist/)
//   env: ROUNDS (7), COUNT flights per round and flight kind (2000)
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { createRequire } from 'node:module';

const [A, B] = process.argv.slice(2);
if (!A || !B) {
  process.stderr.write('usage: node scripts/bench-reader.mjs DIR_A DIR_B\n');
  process.exit(2);
}
const rounds = Number(process.env.ROUNDS ?? 7);
const count = Number(process.env.COUNT ?? 2000);
const require = createRequire(import.meta.url);
const load = (dir) => ({
  SocketReader: require(path.resolve(dir, 'dist/agent/socket-reader.js')).SocketReader,
  libc: require(path.resolve(dir, 'dist/sys/libc.js')),
});
const builds = { A: load(A), B: load(B) };
const { tcpLoopbackPair, dup, close, recv, MSG_DONTWAIT } = builds.A.libc;

const rec = (type, n) => {
  const r = Buffer.alloc(5 + n, 0x5a);
  r[0] = type;
  r.writeUInt16BE(0x0303, 1);
  r.writeUInt16BE(n, 3);
  return r;
};
const flights = {
  'server flight (6 records)': [rec(22, 118), rec(20, 1), rec(23, 36), rec(23, 1500), rec(23, 96), rec(23, 53)],
  'client Finished (2 records)': [rec(20, 1), rec(23, 53)],
};
const app = rec(23, 200);
const [agentFd, peerFd] = tcpLoopbackPair();
const scratch = Buffer.alloc(64 * 1024);

async function run(build, records) {
  const bytes = Buffer.concat([...records, app]);
  const t0 = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    fs.writeSync(peerFd, bytes);
    const reader = new build.SocketReader(dup(agentFd));
    for (let k = 0; k < records.length; k++) await reader.readRecord();
    reader.close();
    // what kTLS would take: exactly the application record
    const n = recv(agentFd, scratch, MSG_DONTWAIT);
    if (n !== app.length) throw new Error(`left ${n} bytes queued, expected ${app.length}`);
  }
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / count;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [name, records] of Object.entries(flights)) {
  const res = { A: [], B: [] };
  await run(builds.A, records);
  await run(builds.B, records);
  for (let r = 0; r < rounds; r++) for (const k of r % 2 ? ['B', 'A'] : ['A', 'B']) res[k].push(await run(builds[k], records));
  const a = median(res.A);
  const b = median(res.B);
  process.stdout.write(`${name}: CPU µs/flight A ${a.toFixed(1)} B ${b.toFixed(1)} (B/A ${(b / a).toFixed(2)})\n`);
}
close(agentFd);
close(peerFd);
