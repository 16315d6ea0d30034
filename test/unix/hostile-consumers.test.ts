/**
 * Consumers that misbehave on the unix transport: one that stops reading its replies pins no
 * sockets and is disconnected at the reply-queue bound, and shutdown ends in bounded time
 * whatever it does; a refused peer is answered and closed; one uid cannot hold more than its
 * share of connections; lines a peer can trigger at will are rate-limited.
 */
import { AgentConnection } from '../../src/client/agent-connection';
import { captureTransport, createLogger, silentLogger } from '../../src/agent/logging';
import { LogLimiter } from '../../src/agent/log-limit';
import { Dispatcher } from '../../src/agent/dispatcher';
import { defaultConfig, type AgentConfig } from '../../src/agent/config';
import { encodeUnixReady, type AcceptParams } from '../../src/netlink/handshake-messages';
import { decodeMessages } from '../../src/netlink/message';
import { SeqpacketClient, type SeqpacketConn, type SeqpacketMessage } from '../../src/sys/unix';
import {
  CLOSE_MARGIN_MS,
  MAX_CONNECTIONS_PER_UID,
  MAX_QUEUED_REPLIES,
  REFUSED_IDLE_MS,
  UnixTransport,
} from '../../src/agent/unix-transport';
import { spawnTs } from '../helpers/ts-child';
import { Agent, openFds, tcpPair, uniqueName, until } from './harness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

jest.setTimeout(180_000);

const CLIENT: AcceptParams = { messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' };

let agent: Agent | undefined;
const conns: SeqpacketConn[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  await agent?.stop();
  agent = undefined;
});

/** A raw consumer connection that never reads (paused before its first poll). */
async function deafConsumer(name: string): Promise<SeqpacketConn> {
  const c = await SeqpacketClient.connect(name);
  c.pause();
  conns.push(c);
  return c;
}

function closed(c: SeqpacketConn): Promise<void> {
  return c.isClosed ? Promise.resolve() : new Promise((r) => c.once('close', () => r()));
}

describe('a consumer that stops reading its replies', () => {
  it('pins no TCP fd once each outcome is decided, and is disconnected at the reply-queue bound', async () => {
    agent = await Agent.start();
    const pair = await tcpPair();
    try {
      const base = openFds();
      const c = await deafConsumer(agent.name);
      await until(() => agent!.transport.connectionCount === 1);
      const baseWithConn = base + 2; // the consumer's socket and the agent's end of it
      // Far more replies than its socket buffer holds plus the queue bound.
      const n = 1000;
      for (let seq = 1; seq <= n; seq++) void c.send(encodeUnixReady(seq, CLIENT), [pair.fd]).catch(() => undefined);
      await until(() => agent!.seen.length >= 300, 30_000);
      // Whatever is queued, the agent's copies of the sockets are closed.
      await until(() => openFds() <= baseWithConn, 30_000);
      // It never reads: at MAX_QUEUED_REPLIES queued replies the agent drops the connection.
      await until(() => agent!.transport.connectionCount === 0, 30_000);
      expect(agent.seen.length).toBeGreaterThan(MAX_QUEUED_REPLIES);
      c.close();
      await until(() => openFds() <= base);
    } finally {
      pair.close();
    }
  });

  it('shutdown ends within shutdown_grace_ms plus the fixed margin while replies are stuck', async () => {
    agent = await Agent.start();
    const pair = await tcpPair();
    try {
      const c = await deafConsumer(agent.name);
      // Enough replies to fill its socket buffer, fewer than the queue bound on top of it.
      const n = 300;
      for (let seq = 1; seq <= n; seq++) void c.send(encodeUnixReady(seq, CLIENT), [pair.fd]).catch(() => undefined);
      await until(() => agent!.seen.length === n, 30_000);
      expect(agent.transport.connectionCount).toBe(1);
      const started = Date.now();
      await agent.stop(); // dispatcher.shutdown(1000) then transport.close()
      agent = undefined;
      expect(Date.now() - started).toBeLessThan(1000 + CLOSE_MARGIN_MS + 2000);
    } finally {
      pair.close();
    }
  });
});

describe('shutdown with a reply held back by [debug] delay_done', () => {
  it('does not wait for the delay', async () => {
    agent = await Agent.start({ debug: { ...defaultConfig().debug, delayDoneMs: 3_600_000 } });
    const pair = await tcpPair();
    const c = await AgentConnection.connect(agent.name);
    try {
      void c.handshake(pair.fd, { role: 'client', auth: 'unauth', peername: 'localhost' }).catch(() => undefined);
      await until(() => agent!.seen.length === 1);
      const started = Date.now();
      await agent.stop();
      agent = undefined;
      expect(Date.now() - started).toBeLessThan(1000 + CLOSE_MARGIN_MS + 2000);
    } finally {
      c.close();
      pair.close();
    }
  });
});

describe('refused consumers (uid not allowed)', () => {
  it('get EPERM for their request, then the connection is closed', async () => {
    agent = await Agent.start({ allowUids: [4242] });
    const c = await AgentConnection.connect(agent.name);
    const pair = await tcpPair();
    try {
      const reply = await c.exchange(encodeUnixReady(1, CLIENT), [pair.fd], 1);
      expect(reply.kind === 'error' && reply.errno).toBe(1);
      expect(reply.kind === 'error' && reply.extack).toMatch(/not in the agent's allow list/);
      await until(() => agent!.transport.connectionCount === 0);
      expect(agent.seen).toHaveLength(0);
    } finally {
      c.close();
      pair.close();
    }
  });

  it('are closed when they send nothing', async () => {
    agent = await Agent.start({ allowUids: [4242] });
    const c = await deafConsumer(agent.name);
    c.resume();
    const started = Date.now();
    await closed(c);
    expect(Date.now() - started).toBeLessThan(REFUSED_IDLE_MS + 2000);
    expect(agent.transport.connectionCount).toBe(0);
  });
});

describe('connection caps', () => {
  it(`one uid gets ${MAX_CONNECTIONS_PER_UID} connections; the next is told why (EUSERS) and closed`, async () => {
    agent = await Agent.start();
    for (let i = 0; i < MAX_CONNECTIONS_PER_UID; i++) await deafConsumer(agent.name);
    await until(() => agent!.transport.connectionCount === MAX_CONNECTIONS_PER_UID);
    const extra = await SeqpacketClient.connect(agent.name);
    conns.push(extra);
    const got = new Promise<SeqpacketMessage>((r) => extra.once('message', r));
    const m = await got;
    const [err] = decodeMessages(m.data);
    expect(err.kind).toBe('error');
    if (err.kind !== 'error') return;
    expect(err.error).toBe(-87);
    expect(err.extack?.msg).toMatch(new RegExp(`uid 0 has ${MAX_CONNECTIONS_PER_UID} connections open \\(the per-uid limit\\)`));
    await closed(extra);
    expect(agent.transport.connectionCount).toBe(MAX_CONNECTIONS_PER_UID);
    // One goes away: a new one is accepted again.
    conns.shift()!.close();
    await until(() => agent!.transport.connectionCount === MAX_CONNECTIONS_PER_UID - 1);
    const again = await AgentConnection.connect(agent.name);
    const pair = await tcpPair();
    try {
      expect((await again.handshake(pair.fd, { role: 'client', auth: 'unauth', peername: 'localhost' })).status).toBe(0);
    } finally {
      again.close();
      pair.close();
    }
  });
});

describe('the total connection cap', () => {
  it('counts every uid: at the cap the next connection is told why and closed', async () => {
    const config: AgentConfig = { ...defaultConfig(), unixSocket: uniqueName() };
    const dispatcher = new Dispatcher({ run: async () => ({ status: 0, remoteAuth: [] }), limits: () => ({ maxInflight: 4, defaultTimeoutMs: 1000 }) });
    const t = new UnixTransport({ dispatcher, logger: silentLogger(), config: () => config, ktls: 'off' }, { maxConnections: 3 });
    await t.start();
    try {
      for (let i = 0; i < 3; i++) await deafConsumer(config.unixSocket!);
      await until(() => t.connectionCount === 3);
      const extra = await SeqpacketClient.connect(config.unixSocket!);
      conns.push(extra);
      const m = await new Promise<SeqpacketMessage>((r) => extra.once('message', r));
      const [err] = decodeMessages(m.data);
      expect(err.kind === 'error' && err.extack?.msg).toMatch(/3 connections are open \(the agent's limit\)/);
      await closed(extra);
      expect(t.connectionCount).toBe(3);
    } finally {
      await dispatcher.shutdown(100);
      await t.close();
    }
  });
});

describe('log lines peers can trigger are rate-limited', () => {
  it('LogLimiter: one line per kind per interval, the next says how many were left out', () => {
    let t = 0;
    const lim = new LogLimiter(10_000, () => t);
    const out: number[] = [];
    for (let i = 0; i < 50; i++) lim.log('a', (n) => out.push(n));
    lim.log('b', (n) => out.push(100 + n));
    t = 10_000;
    lim.log('a', (n) => out.push(n));
    expect(out).toEqual([0, 100, 49]);
  });

  it('a refused peer reconnecting 20 times costs one warning line', async () => {
    const cap = captureTransport();
    const logger = createLogger({ format: 'text', level: 'debug', transports: [cap.transport] });
    const config: AgentConfig = { ...defaultConfig(), unixSocket: uniqueName(), allowUids: [4242] };
    const dispatcher = new Dispatcher({ run: async () => ({ status: 0, remoteAuth: [] }), limits: () => ({ maxInflight: 4, defaultTimeoutMs: 1000 }) });
    const t = new UnixTransport({ dispatcher, logger, config: () => config, ktls: 'off' });
    await t.start();
    try {
      for (let i = 0; i < 20; i++) {
        const c = await SeqpacketClient.connect(config.unixSocket!);
        await until(() => t.connectionCount === 1);
        c.close();
        await until(() => t.connectionCount === 0);
      }
      expect(cap.lines.filter((l) => l.includes('refused a consumer not in the allow list'))).toHaveLength(1);
    } finally {
      await dispatcher.shutdown(100);
      await t.close();
    }
  });
});

describe('the agent out of file descriptors', () => {
  it('answers EMFILE saying the kernel dropped the passed socket, not EMSGSIZE', async () => {
    const name = uniqueName();
    const agentProc = spawnTs({ entry: 'test/unix/emfile-child.ts', env: { HSD_SOCKET: name }, nofile: 128 });
    const { child } = agentProc;
    const out = agentProc.stdout;
    const pair = await tcpPair();
    let c: AgentConnection | undefined;
    try {
      await until(() => out().includes('listening') || child.exitCode !== null, 90_000);
      c = await AgentConnection.connect(name);
      // The connection works while fds are left.
      expect((await c.handshake(pair.fd, { role: 'client', auth: 'unauth', peername: 'localhost' })).status).toBe(0);
      child.stdin.write('fill\n');
      await until(() => out().includes('full'), 30_000);
      const reply = await c.exchange(encodeUnixReady(9, CLIENT), [pair.fd], 9);
      expect(reply.kind).toBe('error');
      if (reply.kind !== 'error') return;
      expect(reply.errno).toBe(24);
      expect(reply.extack).toMatch(/the agent is out of file descriptors: the kernel dropped the attached socket \(MSG_CTRUNC\)/);
      // A new consumer now cannot be accepted (EMFILE); the retry every 100 ms logs one line, not ten a second.
      const waiting = await SeqpacketClient.connect(name);
      conns.push(waiting);
      await sleep(1500);
      expect(agentProc.stderr().match(/accept failed/g) ?? []).toHaveLength(1);
      expect(agentProc.stderr()).toMatch(/accept failed; retrying in 100 ms.*EMFILE/);
    } finally {
      c?.close();
      pair.close();
      child.kill('SIGKILL');
    }
  });
});
