/**
 * The agent in-process for the hostile tests: a Daemon built as `handshaked serve` builds it
 * (real dispatcher, handshake runner, record channel, engine, configuration loader) with no
 * transport; the tests submit requests straight to its dispatcher, as a transport would, and
 * own the consumer fds as a transport does. ktls off (this host has no kTLS).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import koffi from 'koffi';
import { Daemon } from '../../src/agent/daemon';
import type { HandshakeRequest, HandshakeResult } from '../../src/agent/request';
import { configText, startTestDaemon } from '../agent/harness';
import { socketFd } from '../../src/sys/socket-fd';
import { openFds } from '../helpers/fds';

export interface DirectAgent {
  daemon: Daemon;
  lines: string[];
  submit(req: Partial<HandshakeRequest> & Pick<HandshakeRequest, 'fd' | 'role'>): Promise<HandshakeResult>;
  stop(): Promise<void>;
}

export async function startDirectAgent(extraConfig = ''): Promise<DirectAgent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-hostile-'));
  const configPath = path.join(dir, 'config');
  fs.writeFileSync(configPath, configText(extraConfig));
  const { daemon, lines } = await startTestDaemon({ configPath, transports: [], logLevel: 'error' });
  return {
    daemon,
    lines,
    submit: (req) => daemon.dispatcher.submit({ auth: 'x509', peerIdentities: [], keySerialsAllowed: false, ...req }, { transport: 'hostile' }),
    stop: async () => {
      await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A listener whose accepted sockets are never read by Node: the kernel consumer's side. */
export async function consumerServer() {
  const server = net.createServer({ pauseOnConnect: true });
  const waiting: Array<(s: net.Socket) => void> = [];
  const queued: net.Socket[] = [];
  const all = new Set<net.Socket>();
  server.on('connection', (s) => {
    all.add(s);
    s.on('error', () => undefined);
    const w = waiting.shift();
    if (w) w(s);
    else queued.push(s);
  });
  server.maxConnections = 100_000;
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r));
  const port = (server.address() as net.AddressInfo).port;
  const nextAccepted = () => (queued.length ? Promise.resolve(queued.shift()!) : new Promise<net.Socket>((r) => waiting.push(r)));
  return {
    port,
    /** A peer connected to a fresh consumer socket; returns both and the consumer's fd. */
    async pair<T extends net.Socket = net.Socket>(connect?: (port: number) => T): Promise<{ peer: T; consumer: net.Socket; fd: number }> {
      const accepted = nextAccepted();
      const peer = connect ? connect(port) : (net.connect(port, '127.0.0.1') as T);
      peer.on('error', () => undefined);
      all.add(peer);
      if (!connect) await new Promise<void>((r, j) => peer.once('connect', r).once('error', j));
      const consumer = await accepted;
      return { peer, consumer, fd: fdOf(consumer) };
    },
    async close() {
      for (const s of all) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export const fdOf = socketFd;

export { openFds };

/**
 * Raise RLIMIT_NOFILE (soft and, as root, hard) to `want`; returns the soft limit in force after.
 * Each stalled handshake costs three fds in this process (peer, consumer, the agent's dup).
 */
export function raiseFdLimit(want: number): number {
  const lib = koffi.load('libc.so.6');
  const rlimit = koffi.struct('hostile_rlimit', { cur: 'uint64_t', max: 'uint64_t' });
  const getrlimit = lib.func('int getrlimit(int, _Out_ hostile_rlimit *)');
  const setrlimit = lib.func('int setrlimit(int, const hostile_rlimit *)');
  const RLIMIT_NOFILE = 7;
  const cur: { cur: number | bigint; max: number | bigint } = { cur: 0, max: 0 };
  getrlimit(RLIMIT_NOFILE, cur);
  if (Number(cur.cur) >= want) return Number(cur.cur);
  const max = Math.max(Number(cur.max), want);
  if (setrlimit(RLIMIT_NOFILE, { cur: want, max }) !== 0) setrlimit(RLIMIT_NOFILE, { cur: Number(cur.max), max: Number(cur.max) });
  getrlimit(RLIMIT_NOFILE, cur);
  void rlimit;
  return Number(cur.cur);
}
