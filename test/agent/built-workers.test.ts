/**
 * The built executable (dist/cli/main.js, one bundled file) and its handshake workers. The
 * bundle's own directory is not the pool's, so the worker entry is bundled beside it
 * (scripts/build.mjs); before, every worker of the shipped program failed to load its script
 * and was replaced in a loop while the main thread ran every handshake. Workers start when
 * handshakes need them, not at start-up (each is an isolate's worth of memory).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { AgentConnection } from '../../src/client/agent-connection';
import { configText, consumerListener, pki, sleep } from './harness';
import { until } from '../unix/harness';

jest.setTimeout(120_000);

const bin = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

it('dist/cli/main.js serve with workers = 2: no worker before a handshake needs one, then both up and serving', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-built-workers-'));
  const config = path.join(dir, 'config');
  fs.writeFileSync(config, configText('[handshaked]\nworkers=2\nlog_level=debug\n'));
  const socket = `@hsd-built-workers-${process.pid}`;
  const child = spawn(process.execPath, [bin, 'serve', '-c', config, '--transport', 'unix', '--unix-socket', socket, '--ktls', 'off'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const upLines = () => (stderr.match(/handshake worker thread up/g) ?? []).length;
  const threads = () => fs.readdirSync(`/proc/${child.pid}/task`).length;
  const l = await consumerListener();
  let conn: AgentConnection | undefined;
  try {
    await until(() => stderr.includes('handshaked ready') || child.exitCode !== null, 60_000);
    conn = await AgentConnection.connect(socket);
    await sleep(1500);
    expect(upLines()).toBe(0);
    const idleThreads = threads();
    const serve = async (n: number) => {
      const cs = [];
      for (let i = 0; i < n; i++) cs.push(await l.accept((port) => tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost' })));
      return Promise.all(cs.map(async (c) => (await conn!.handshake(c.fd, { role: 'server', auth: 'x509' })).status));
    };
    // The first handshake starts a worker (and runs here while it loads); more at once start the second.
    expect(await serve(1)).toEqual([0]);
    await until(() => upLines() >= 1, 60_000);
    for (let i = 0; i < 50 && upLines() < 2; i++) expect(await serve(4)).toEqual([0, 0, 0, 0]);
    await until(() => upLines() === 2, 60_000);
    expect(threads()).toBeGreaterThanOrEqual(idleThreads + 2);
    expect(await serve(4)).toEqual([0, 0, 0, 0]);
    expect(stderr).not.toMatch(/worker thread (failed|exited)/);
  } finally {
    conn?.close();
    await l.close();
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
