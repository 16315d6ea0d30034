/**
 * The three servers the conformance probes are sent to: `openssl s_server`, `gnutls-serv` and
 * handshaked's server role as users meet it (`handshaked serve --transport unix --ktls off`,
 * spawned from the sources, asked for each connection through the unix transport's client
 * library). Each target hands out one fresh TCP connection per probe; handshaked also reports
 * the request's status, which tells a completed handshake from one still waiting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { requestHandshake } from '../../src/client';
import { startGnutlsServer, startOpensslServer } from '../helpers/cli-peers';
import { files, CA_BUNDLE } from '../helpers/pki';
import type { ProcessPeer } from '../helpers/process-peer';

export type TargetName = 'openssl' | 'gnutls' | 'handshaked';

export interface ProbeConnection {
  socket: net.Socket;
  /** handshaked only: the request's status (0 = handshake completed). */
  status?: Promise<number>;
  /** Ends this connection and whatever the target keeps for it. */
  close(): void;
}

export interface Target {
  readonly name: TargetName;
  connect(): Promise<ProbeConnection>;
  stop(): Promise<void>;
}

function dial(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s)).once('error', reject);
  });
}

function peerTarget(name: TargetName, peer: ProcessPeer, port: number): Target {
  return {
    name,
    connect: async () => {
      const socket = await dial(port);
      socket.setNoDelay(true);
      return { socket, close: () => socket.destroy() };
    },
    stop: () => peer.stop(),
  };
}

export async function opensslTarget(): Promise<Target> {
  const { peer, port } = await startOpensslServer({ cert: 'server-p256', persistent: true });
  return peerTarget('openssl', peer, port);
}

export async function gnutlsTarget(): Promise<Target> {
  const { peer, port } = await startGnutlsServer({ cert: 'server-p256' });
  return peerTarget('gnutls', peer, port);
}

const ROOT = path.resolve(__dirname, '..', '..');
const HOOK = path.join(ROOT, 'test', 'companion', 'ts-register.js');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');

/**
 * handshaked serve on an abstract unix socket: the server certificate the other two use, no
 * client certificate request (neither openssl s_server nor gnutls-serv --disable-client-cert
 * sends one), and a short handshake deadline so a probe that leaves it waiting ends quickly.
 */
export async function handshakedTarget(deadlineMs = 10000): Promise<Target> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-conformance-'));
  const socketName = `@hsd-conformance-${process.pid}-${randomBytes(4).toString('hex')}`;
  const conf = path.join(dir, 'agent.conf');
  const f = files('server-p256');
  fs.writeFileSync(
    conf,
    [
      '[authenticate.server]',
      `x509.truststore=${CA_BUNDLE}`,
      `x509.certificate=${f.chain}`,
      `x509.private_key=${f.key}`,
      'x509.client_certificate=none',
      '[handshaked]',
      `unix_socket=${socketName}`,
      `allow_uids=${process.getuid?.() ?? 0}`,
      `default_timeout_ms=${deadlineMs}`,
      'key_file_mode_check=off',
      '',
    ].join('\n'),
  );
  const agent: ChildProcess = spawn(process.execPath, ['-r', HOOK, MAIN, 'serve', '-c', conf, '--transport', 'unix', '--ktls', 'off'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`handshaked did not start: ${log}`)), 60000);
    agent.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('handshaked ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    agent.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`handshaked exited (${code}): ${log}`));
    });
  });
  // The kernel consumer's side: accepted sockets are never read by Node.
  const listener = net.createServer({ pauseOnConnect: true });
  const accepted: net.Socket[] = [];
  const waiting: Array<(s: net.Socket) => void> = [];
  listener.on('connection', (s) => {
    s.on('error', () => undefined);
    const w = waiting.shift();
    if (w) w(s);
    else accepted.push(s);
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const port = (listener.address() as net.AddressInfo).port;
  return {
    name: 'handshaked',
    connect: async () => {
      const consumerP = accepted.length > 0 ? Promise.resolve(accepted.shift()!) : new Promise<net.Socket>((r) => waiting.push(r));
      const socket = await dial(port);
      socket.setNoDelay(true);
      const consumer = await consumerP;
      const fd = (consumer as unknown as { _handle: { fd: number } })._handle.fd;
      const status = requestHandshake(fd, { role: 'server', auth: 'x509' }, { agentSocket: socketName }).then(
        (o) => o.status,
        () => -1,
      );
      // Once the agent is done with it, the consumer's end closes, so the prober sees the end.
      void status.then(() => consumer.destroy());
      return {
        socket,
        status,
        close: () => {
          socket.destroy();
          consumer.destroy();
        },
      };
    },
    stop: async () => {
      await new Promise<void>((r) => listener.close(() => r()));
      if (agent.exitCode === null) {
        const exited = new Promise((r) => agent.once('exit', r));
        agent.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
