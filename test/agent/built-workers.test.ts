/**
 * The built executable (dist/cli/main.js, one bundled file) starts its handshake workers: the
 * bundle's own directory is not the pool's, so the worker entry is bundled beside it
 * (scripts/build.mjs). Before, every worker of the shipped program failed to load its script
 * and was replaced in a loop while the main thread ran every handshake.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { AgentConnection } from '../../src/client/agent-connection';
import { configText, consumerListener, pki } from './harness';
import { until } from '../unix/harness';

jest.setTimeout(120_000);

const bin = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

it('dist/cli/main.js serve with workers = 2 brings both workers up and runs handshakes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-built-workers-'));
  const config = path.join(dir, 'config');
  fs.writeFileSync(config, configText('[handshaked]\nworkers=2\nlog_level=debug\n'));
  const socket = `@hsd-built-workers-${process.pid}`;
  const child = spawn(process.execPath, [bin, 'serve', '-c', config, '--transport', 'unix', '--unix-socket', socket, '--ktls', 'off'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const l = await consumerListener();
  let conn: AgentConnection | undefined;
  try {
    await until(() => (stderr.match(/handshake worker thread up/g) ?? []).length === 2 || child.exitCode !== null, 60_000);
    expect(stderr).not.toMatch(/worker thread (failed|exited)/);
    conn = await AgentConnection.connect(socket);
    const c = await l.accept((port) => tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost' }));
    expect((await conn.handshake(c.fd, { role: 'server', auth: 'x509' })).status).toBe(0);
    expect(stderr).not.toMatch(/worker thread (failed|exited)/);
  } finally {
    conn?.close();
    await l.close();
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
