/**
 * `npm run bench:records`: the engine's CPU per handshake record when a peer cuts a message into
 * tiny records (the cost-per-byte attack), against one whole 16 KiB record in the same process.
 *
 * A server engine is fed a ClientHello header announcing a 64 KiB message, then the body in
 * records of `size` bytes, 255 of them (one under the per-message bound, so the bound itself is
 * never what ends the run). Reported: µs of CPU per record (user + system, process.cpuUsage)
 * for 1-, 16- and 256-byte records, and each as a ratio to a 16 KiB record's cost.
 */
import { createServer } from '../tls';
import type { CertifiedKey } from '../tls/api';
import { loadBenchPki } from './pki';

const RECORDS = 255;
const ROUNDS = 40;

function record(body: Buffer): Buffer {
  const h = Buffer.from([22, 3, 3, 0, 0]);
  h.writeUInt16BE(body.length, 3);
  return Buffer.concat([h, body]);
}

/** CPU µs per record for `count` records of `size` bytes after a 64 KiB ClientHello header. */
function perRecord(size: number, count: number, certificate: CertifiedKey): number {
  const header = record(Buffer.from([1, 0, 0xff, 0xff]));
  const body = record(Buffer.alloc(size));
  let cpu = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const server = createServer({ certificate, clientAuth: 'none' });
    server.start();
    server.receiveRecord(header);
    const t = process.cpuUsage();
    for (let i = 0; i < count; i++) {
      const step = server.receiveRecord(body);
      if (step.status !== 'continue') throw new Error(`record ${i + 1} of ${size} bytes ended the handshake: ${step.error?.message}`);
    }
    const d = process.cpuUsage(t);
    cpu += d.user + d.system;
  }
  return cpu / (ROUNDS * count);
}

function main(): void {
  const server = loadBenchPki('server-p256').certified;
  perRecord(1, RECORDS, server); // warm-up
  const full = perRecord(16384, 3, server);
  const rows = [1, 16, 256].map((size) => ({ size, us: perRecord(size, RECORDS, server) }));
  const result = { recordsPerRun: RECORDS, rounds: ROUNDS, full16kUs: full, rows: rows.map((r) => ({ ...r, ratioTo16k: r.us / full })) };
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(`engine CPU per handshake record (${RECORDS} records after a 64 KiB ClientHello header, ${ROUNDS} rounds)\n`);
  process.stdout.write(`  16384-byte record: ${full.toFixed(2)} µs\n`);
  for (const r of result.rows) process.stdout.write(`  ${String(r.size).padStart(5)}-byte record: ${r.us.toFixed(2)} µs  (${r.ratioTo16k.toFixed(3)} × a 16 KiB record)\n`);
}

main();
