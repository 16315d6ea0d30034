/**
 * `handshaked serve` as its own process, the way the probe that found these bugs ran it: its
 * certificate is replaced in place by a FIFO and a consumer stops reading its replies; the agent
 * keeps answering, logs the broken file, and SIGTERM still ends it within shutdown_grace_ms plus
 * the transport's fixed margin. (Before, a FIFO there stopped the event loop for good and only
 * SIGKILL ended the agent.)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { AgentConnection } from '../../src/client/agent-connection';
import { CLOSE_MARGIN_MS } from '../../src/agent/unix-transport';
import { encodeUnixReady } from '../../src/netlink/handshake-messages';
import { SeqpacketClient } from '../../src/sys/unix';
import { PKI, configText, consumerListener, pki, sleep } from '../agent/harness';
import { spawnTs } from '../helpers/ts-child';
import { until } from '../unix/harness';

jest.setTimeout(240_000);

it('a FIFO swapped in for the certificate and a consumer that never reads: still answering, and SIGTERM ends it in time', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-serve-proc-'));
  const chain = path.join(dir, 'server.pem');
  fs.copyFileSync(path.join(PKI, 'server-p256.chain.pem'), chain);
  const config = path.join(dir, 'config');
  const grace = 500;
  fs.writeFileSync(config, configText(`[handshaked]\nshutdown_grace_ms=${grace}\n`).replace(`${PKI}/server-p256.chain.pem`, chain));
  const socket = `@hsd-serve-proc-${process.pid}`;
  const agent = spawnTs({ entry: 'src/cli/main.ts', args: ['serve', '-c', config, '--transport', 'unix', '--unix-socket', socket, '--ktls', 'off'] });
  const l = await consumerListener();
  let conn: AgentConnection | undefined;
  try {
    await until(() => agent.stderr().includes('handshaked ready') || agent.child.exitCode !== null, 120_000);
    conn = await AgentConnection.connect(socket);
    const connect = (port: number) => tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost' });
    const serve = async () => {
      const c = await l.accept(connect);
      return (await conn!.handshake(c.fd, { role: 'server', auth: 'x509' })).status;
    };
    expect(await serve()).toBe(0);

    fs.rmSync(chain);
    execFileSync('mkfifo', [chain]);
    expect(await serve()).toBe(0);
    await until(() => /identity files changed on disk but do not load.*it is a FIFO/.test(agent.stderr()));

    // A consumer that sends requests and never reads a reply.
    const deaf = await SeqpacketClient.connect(socket);
    deaf.pause();
    const c = await l.accept((port) => tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }));
    for (let seq = 1; seq <= 300; seq++) void deaf.send(encodeUnixReady(seq, { messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' }), [c.fd]).catch(() => undefined);
    await sleep(500);

    const started = Date.now();
    agent.child.kill('SIGTERM');
    const code = await agent.exited;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(grace + CLOSE_MARGIN_MS + 3000);
    deaf.close();
  } finally {
    conn?.close();
    await l.close();
    if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
