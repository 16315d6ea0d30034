/**
 * The agent on the fake kernel with real TLS peers (Node's tls) on loopback: a Daemon built
 * exactly as `handshaked serve` builds it, except the link (FakeHandshakeLink) and --ktls off
 * (this host has no kTLS).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { PKI_DIR } from '../helpers/pki';
import { Daemon, type DaemonOptions } from '../../src/agent/daemon';
import type { LogLevel } from '../../src/agent/config';
import { kernelTransport } from '../../src/agent/kernel-transport';
import { Status } from '../../src/agent/request';
import { captureTransport } from '../../src/agent/logging';
import { defaultHandshakeEnv } from '../../src/agent/runtime';
import type { HandshakeEnv } from '../../src/agent/handshake';
import { FakeHandshakeLink, FakeKernel, type FakeKernelOptions } from '../../src/netlink/fake-kernel';
import { socketFd } from '../../src/sys/socket-fd';
import { openFds } from '../helpers/fds';

export const PKI = PKI_DIR;
export const pki = (name: string) => fs.readFileSync(path.join(PKI, name));

export function configText(extra = ''): string {
  return [
    '[authenticate.client]',
    `x509.truststore=${PKI}/ca-bundle.pem`,
    `x509.certificate=${PKI}/client-p256.chain.pem`,
    `x509.private_key=${PKI}/client-p256.key.pem`,
    '[authenticate.server]',
    `x509.truststore=${PKI}/ca-bundle.pem`,
    `x509.certificate=${PKI}/server-p256.chain.pem`,
    `x509.private_key=${PKI}/server-p256.key.pem`,
    extra,
  ].join('\n');
}

/**
 * A server identity in files of its own (`chain`, `key`), for rotation tests: install(name)
 * copies that fixture pair (server-p256, server-p384, ...) over them; `config` is
 * configText(extra) pointing at them.
 */
export function rotatableServerIdentity(prefix: string, extra = ''): { dir: string; chain: string; key: string; install(name: string): void; config: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const chain = path.join(dir, 'server.pem');
  const key = path.join(dir, 'server.key');
  const install = (name: string) => {
    fs.copyFileSync(path.join(PKI, `${name}.chain.pem`), chain);
    fs.copyFileSync(path.join(PKI, `${name}.key.pem`), key);
    fs.chmodSync(key, 0o600);
  };
  install('server-p256');
  const config = configText(extra).replace(`${PKI}/server-p256.chain.pem`, chain).replace(`${PKI}/server-p256.key.pem`, key);
  return { dir, chain, key, install, config };
}

/**
 * A Daemon built as `handshaked serve` builds it, with the given transports, kTLS off (this host
 * has none) and its log lines captured. It returns once the worker pool is up: handshakes run on
 * worker threads from the first one (until one is up they run on this thread), and the workers'
 * own fds are open before a test counts fds.
 */
export async function startTestDaemon(
  opts: Pick<DaemonOptions, 'configPath' | 'transports' | 'keylogFile'> & { env?: Partial<HandshakeEnv>; logLevel: LogLevel },
): Promise<{ daemon: Daemon; lines: string[] }> {
  const cap = captureTransport();
  const daemon = await Daemon.start({
    configPath: opts.configPath,
    transports: opts.transports,
    ktls: 'off',
    env: defaultHandshakeEnv(opts.env),
    logTransports: [cap.transport],
    ...(opts.keylogFile ? { keylogFile: opts.keylogFile } : {}),
    overrides: { logLevel: opts.logLevel },
  });
  await daemon.pool?.whenUp();
  return { daemon, lines: cap.lines };
}

export interface Agent {
  daemon: Daemon;
  kernel: FakeKernel;
  link: FakeHandshakeLink;
  lines: string[];
  dir: string;
  configPath: string;
  stop(): Promise<void>;
}

export async function startAgent(
  opts: { config?: string; kernel?: FakeKernelOptions; privileged?: boolean; keylog?: boolean; env?: Partial<HandshakeEnv>; link?: FakeHandshakeLink } = {},
): Promise<Agent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-agent-'));
  const configPath = path.join(dir, 'config');
  fs.writeFileSync(configPath, opts.config ?? configText());
  const kernel = new FakeKernel(opts.kernel);
  const link = opts.link ?? new FakeHandshakeLink(kernel, { privileged: opts.privileged ?? true });
  let daemon: Daemon;
  let lines: string[];
  try {
    ({ daemon, lines } = await startTestDaemon({
      configPath,
      transports: [kernelTransport(link, { allowKtlsOff: true })],
      env: opts.env,
      ...(opts.keylog ? { keylogFile: path.join(dir, 'keylog') } : {}),
      logLevel: 'debug',
    }));
  } catch (e) {
    kernel.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let stopped: Promise<void> | undefined;
  return {
    daemon,
    kernel,
    link,
    lines,
    dir,
    configPath,
    stop: () =>
      (stopped ??= (async () => {
        await daemon.stop();
        kernel.close();
        fs.rmSync(dir, { recursive: true, force: true });
      })()),
  };
}

export type StartOptions = Parameters<typeof startAgent>[0];

/**
 * For a describe block: `start(opts)` starts this test's agent, stopped after the test (a test
 * may stop it itself first; stop runs once).
 */
export function agentPerTest(): (opts?: StartOptions) => Promise<Agent> {
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });
  return async (opts) => (agent = await startAgent(opts));
}

/** A Node TLS server as the remote peer; `consumer()` gives a connected, unread socket to it. */
export async function tlsPeerServer(options: tls.TlsOptions & { onSecure?: (s: tls.TLSSocket) => void }) {
  const secured: tls.TLSSocket[] = [];
  const errors: Error[] = [];
  const waiters: Array<(s: tls.TLSSocket) => void> = [];
  const server = tls.createServer({ minVersion: 'TLSv1.3', ...options }, (s) => {
    secured.push(s);
    waiters.splice(0).forEach((w) => w(s));
    s.on('error', () => undefined);
    options.onSecure?.(s);
  });
  server.on('tlsClientError', (e) => errors.push(e));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const sockets: net.Socket[] = [];
  return {
    port,
    secured,
    errors,
    /** The n-th (1-based) completed handshake, when the server side has finished it. */
    secure(n = 1): Promise<tls.TLSSocket> {
      if (secured.length >= n) return Promise.resolve(secured[n - 1]);
      return new Promise((r) => {
        const check = () => (secured.length >= n ? r(secured[n - 1]) : waiters.push(check));
        waiters.push(check);
      });
    },
    /** The kernel consumer's socket: connected, never read by Node (paused before connect completes). */
    async consumer(): Promise<{ socket: net.Socket; fd: number }> {
      const socket = net.connect(port, '127.0.0.1');
      socket.pause();
      sockets.push(socket);
      await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
      return { socket, fd: fdOf(socket) };
    },
    async close() {
      for (const s of sockets) s.destroy();
      for (const s of secured) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * A listener whose accepted sockets stay unread (the kernel consumer's side, server role), and
 * a Node TLS client connecting to it as the remote peer.
 */
export async function consumerListener() {
  const server = net.createServer({ pauseOnConnect: true });
  const accepted: net.Socket[] = [];
  const peers: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    /** Connect a peer (made by `connect(port)`), and return the consumer's fd for it. */
    async accept<T extends net.Socket>(connect: (port: number) => T): Promise<{ peer: T; socket: net.Socket; fd: number }> {
      const got = new Promise<net.Socket>((r) => server.once('connection', r));
      const peer = connect(port);
      peers.push(peer);
      peer.on('error', () => undefined);
      const socket = await got;
      return { peer, socket, fd: fdOf(socket) };
    },
    async close() {
      for (const s of peers) s.destroy();
      for (const s of accepted) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Runs body with r, closing r however body ends. */
export async function closing<T extends { close(): Promise<void> }>(r: T, body: (r: T) => Promise<void>): Promise<void> {
  try {
    await body(r);
  } finally {
    await r.close();
  }
}

/**
 * A Node TLS client for consumerListener's accept(): trusts the test CA and expects `localhost`;
 * `extra` adds to that (a client identity, other options).
 */
export const tlsClient =
  (extra: tls.ConnectionOptions = {}) =>
  (port: number): tls.TLSSocket =>
    tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost', ...extra });

/** The key and chain of a fixture identity (client-p256, unknown-ca, ...) as Node TLS options. */
export const identity = (name: string) => ({ key: pki(`${name}.key.pem`), cert: pki(`${name}.chain.pem`) });

type ConsumerListener = Awaited<ReturnType<typeof consumerListener>>;

/**
 * One server-role x509 handshake: a peer made by `connect` (default tlsClient()) connects to l,
 * and the consumer's fd goes to the agent's kernel. Back come the DONE result, the peer, and
 * `peerError`: the first error the peer saw (the alert it was sent), pending while it saw none.
 */
export async function serveOne<T extends net.Socket = tls.TLSSocket>(agent: Agent, l: ConsumerListener, connect?: (port: number) => T) {
  const c = await l.accept(connect ?? (tlsClient() as unknown as (port: number) => T));
  const peerError = new Promise<Error>((res) => c.peer.once('error', res));
  const result = await agent.kernel.submit({ sock: c.fd, messageType: 'serverhello', authMode: 'x509' });
  return { ...c, result, peerError };
}

/** The curve of the certificate the agent served in one more successful server handshake. */
export async function servedCurve(agent: Agent, l: ConsumerListener): Promise<string | undefined> {
  const { result, peer } = await serveOne(agent, l);
  expect(result.status).toBe(Status.OK);
  return peer.getPeerCertificate().asn1Curve;
}

export const fdOf = socketFd;

export { openFds };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
