import net from 'node:net';
import { spawn } from 'node:child_process';
import { encodeMessage } from '../../src/netlink/message';
import { encodeUnixReady, type AcceptParams } from '../../src/netlink/handshake-messages';
import { handshakeFamily } from '../../src/netlink/families/handshake';
import { NLM_F_REQUEST, UNIX_TRANSPORT_FAMILY_ID } from '../../src/netlink/constants';
import { AF_UNIX, SOCK_CLOEXEC, close, isFdOpen, socketpair } from '../../src/sys/libc';
import { AgentConnection, AgentRequestError, type AgentReply } from '../../src/client';
import { HandshakeAborted } from '../../src/agent/dispatcher';
import { Agent, openFds, tcpPair, until } from './harness';
import { socketFd } from '../../src/sys/socket-fd';
import { appendAttrs, u32Attr } from '../helpers/nl-attr';

const CLIENT: AcceptParams = { messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' };

function ready(seq: number, p: AcceptParams = CLIENT): Buffer {
  return encodeUnixReady(seq, p);
}
function raw(seq: number, cmd: string, attrs: Record<string, unknown>): Buffer {
  return encodeMessage({ type: UNIX_TRANSPORT_FAMILY_ID, flags: NLM_F_REQUEST, seq, cmd, version: 1, attrs: attrs as never }, handshakeFamily);
}
function mutate(seq: number, f: (b: Buffer) => void): Buffer {
  const b = Buffer.from(ready(seq));
  f(b);
  return b;
}
function withExtraAttr(seq: number, type: number): Buffer {
  return withExtra(seq, u32Attr(type, 1));
}
/** A valid READY with raw attribute bytes appended. */
function withExtra(seq: number, extra: Buffer, p: AcceptParams = CLIENT): Buffer {
  return appendAttrs(ready(seq, p), extra);
}

let agent: Agent;
let conn: AgentConnection;

afterEach(async () => {
  conn?.close();
  await agent?.stop();
});

describe('unix transport: requests and replies', () => {
  test('a READY becomes a HandshakeRequest; DONE echoes the seq, carries status and remote-auth; the agent closes its fd', async () => {
    agent = await Agent.start();
    agent.behaviour = async () => ({ status: 0, remoteAuth: [0xffffffff, 0xffffffff] });
    conn = await AgentConnection.connect(agent.name);
    const pair = await tcpPair();
    try {
      const out = await conn.handshake(pair.fd, { role: 'server', auth: 'x509', timeoutMs: 1234, certificate: { cert: 11, privkey: 12 }, keyring: 77 });
      expect(out).toEqual({ status: 0, code: 'OK', remoteAuth: [0xffffffff, 0xffffffff] });
      const { req } = agent.seen[0];
      expect(req).toMatchObject({ role: 'server', auth: 'x509', timeoutMs: 1234, certificate: { cert: 11, privkey: 12 }, keyring: 77, keySerialsAllowed: true, peerIdentities: [] });
      expect(req.fd).not.toBe(pair.fd);
      // The socket checks made on receipt travel with the request (the handshake does not repeat them).
      expect(req.peer).toEqual({ family: 'IPv4', address: '127.0.0.1', port: pair.peer.localPort });
      await until(() => !isFdOpen(req.fd));
      // the consumer's own socket is untouched
      expect(pair.agentEnd.destroyed).toBe(false);
    } finally {
      pair.close();
    }
  });

  test('a failed handshake reports its errno and no remote-auth', async () => {
    agent = await Agent.start();
    agent.behaviour = async () => ({ status: 13, remoteAuth: [5] });
    conn = await AgentConnection.connect(agent.name);
    const pair = await tcpPair();
    try {
      const out = await conn.handshake(pair.fd, { role: 'client', auth: 'unauth', peername: 'server.test' });
      expect(out).toEqual({ status: 13, code: 'EACCES', remoteAuth: [] });
      expect(agent.seen[0].req).toMatchObject({ role: 'client', peername: 'server.test', timeoutMs: undefined });
    } finally {
      pair.close();
    }
  });

  test('many requests in flight on one connection; replies come in completion order', async () => {
    agent = await Agent.start();
    const N = 24;
    const gates = new Map<number, () => void>();
    agent.behaviour = (req) =>
      new Promise((resolve) => {
        gates.set(req.timeoutMs!, () => resolve({ status: 0, remoteAuth: [req.timeoutMs!] }));
      });
    conn = await AgentConnection.connect(agent.name);
    const pairs = await Promise.all(Array.from({ length: N }, () => tcpPair()));
    try {
      const order: number[] = [];
      const results = pairs.map((p, i) =>
        conn.handshake(p.fd, { role: 'client', auth: 'unauth', timeoutMs: 1000 + i }).then((r) => {
          order.push(r.remoteAuth[0]);
          return r;
        }),
      );
      await until(() => gates.size === N);
      // finish in reverse order of submission
      for (let i = N - 1; i >= 0; i--) {
        gates.get(1000 + i)!();
        await new Promise((r) => setTimeout(r, 5));
      }
      const all = await Promise.all(results);
      all.forEach((r, i) => expect(r.remoteAuth).toEqual([1000 + i]));
      expect(order).toEqual(Array.from({ length: N }, (_, i) => 1000 + N - 1 - i));
    } finally {
      for (const p of pairs) p.close();
    }
  });

  test('the consumer closing its connection aborts its handshakes and closes their fds; other connections go on', async () => {
    agent = await Agent.start();
    agent.behaviour = (req, ctx) =>
      new Promise((resolve) => {
        if (req.peername === 'other') {
          setTimeout(() => resolve({ status: 0, remoteAuth: [] }), 300);
          return;
        }
        ctx.signal.addEventListener('abort', () => resolve({ status: 110, remoteAuth: [] }), { once: true });
      });
    const other = await AgentConnection.connect(agent.name);
    conn = await AgentConnection.connect(agent.name);
    const pairs = await Promise.all([tcpPair(), tcpPair(), tcpPair(), tcpPair()]);
    const base = openFds();
    try {
      const doomed = pairs.slice(0, 3).map((p) => conn.handshake(p.fd, { role: 'client', auth: 'unauth' }));
      const survivor = other.handshake(pairs[3].fd, { role: 'client', auth: 'unauth', peername: 'other' });
      await until(() => agent.seen.length === 4);
      conn.close();
      for (const d of doomed) await expect(d).rejects.toMatchObject({ name: 'AgentConnectionError' });
      await until(() => agent.seen.filter((s) => s.req.peername !== 'other').every((s) => s.ctx.signal.aborted));
      for (const s of agent.seen.filter((x) => x.req.peername !== 'other')) {
        expect((s.ctx.signal.reason as HandshakeAborted).kind).toBe('cancelled');
      }
      expect(await survivor).toMatchObject({ status: 0 });
      // our 4 copies went to the agent and came back closed; the closed consumer connection too
      await until(() => openFds() <= base - 1);
    } finally {
      other.close();
      for (const p of pairs) p.close();
    }
  });

  test('a consumer that never reads its replies does not stall another consumer', async () => {
    agent = await Agent.start();
    agent.behaviour = async () => ({ status: 0, remoteAuth: [] });
    // A raw SEQPACKET client that floods requests without fds (each answered with EBADF) and never reads.
    const { SeqpacketClient } = await import('../../src/sys/unix');
    const stalled = await SeqpacketClient.connect(agent.name);
    try {
      for (let i = 1; i <= 2000; i++) void stalled.send(ready(i)).catch(() => undefined);
      conn = await AgentConnection.connect(agent.name);
      const pair = await tcpPair();
      try {
        expect(await conn.handshake(pair.fd, { role: 'client', auth: 'unauth' })).toMatchObject({ status: 0 });
      } finally {
        pair.close();
      }
    } finally {
      stalled.close();
    }
  });
});

describe('unix transport: malformed requests get NLMSG_ERROR with errno and extack, and their fds are closed', () => {
  type Case = [name: string, packet: (seq: number) => Buffer, errno: number, text: RegExp, fds: 'tcp' | 'none' | 'two' | 'unix' | 'listening'];
  const cases: Case[] = [
    ['packet shorter than a header', () => Buffer.alloc(8), 22, /shorter than a 16-byte netlink header/, 'tcp'],
    ['nlmsg_len overruns the packet', (s) => mutate(s, (b) => b.writeUInt32LE(b.length + 64, 0)), 22, /nlmsg_len.*overruns/, 'tcp'],
    ['wrong nlmsg_type', (s) => mutate(s, (b) => b.writeUInt16LE(0x0101, 4)), 22, /nlmsg_type 0x0101 is not the unix transport's 0x0100/, 'tcp'],
    ['no NLM_F_REQUEST', (s) => mutate(s, (b) => b.writeUInt16LE(0, 6)), 22, /lacks NLM_F_REQUEST/, 'tcp'],
    ['genl version 2', (s) => mutate(s, (b) => (b[17] = 2)), 22, /version 2: the unix transport speaks version 1/, 'tcp'],
    ['genl reserved not 0', (s) => mutate(s, (b) => b.writeUInt16LE(9, 18)), 22, /reserved is 9, must be 0/, 'tcp'],
    ['unknown command', (s) => mutate(s, (b) => (b[16] = 9)), 22, /unknown command 9/, 'tcp'],
    ['DONE sent by a consumer', (s) => raw(s, 'done', { status: 0 }), 95, /command done \(3\) is the agent's reply, not a consumer request/, 'tcp'],
    ['DONE with accept attributes', (s) => mutate(s, (b) => (b[16] = 3)), 95, /command done \(3\) is the agent's reply, not a consumer request/, 'tcp'],
    ['missing handler-class', (s) => raw(s, 'ready', { 'message-type': 'clienthello', 'auth-mode': 'unauth' }), 22, /missing attribute handler-class/, 'tcp'],
    ['handler-class none', (s) => raw(s, 'ready', { 'handler-class': 'none', 'message-type': 'clienthello', 'auth-mode': 'unauth' }), 22, /handler-class: none \(0\) names no handler; must be tlshd \(1\)/, 'tcp'],
    ['sockfd attribute', (s) => raw(s, 'ready', { 'handler-class': 'tlshd', sockfd: 3, 'message-type': 'clienthello', 'auth-mode': 'unauth' }), 22, /sockfd \(1\) is not sent on the unix transport/, 'tcp'],
    ['missing message-type', (s) => raw(s, 'ready', { 'handler-class': 'tlshd', 'auth-mode': 'unauth' }), 22, /message-type: missing/, 'tcp'],
    ['missing auth-mode', (s) => raw(s, 'ready', { 'handler-class': 'tlshd', 'message-type': 'serverhello' }), 22, /auth-mode: missing/, 'tcp'],
    ['invalid auth-mode', (s) => raw(s, 'ready', { 'handler-class': 'tlshd', 'message-type': 'clienthello', 'auth-mode': 7 }), 22, /auth-mode: missing or unusable \(7\)/, 'tcp'],
    ['unknown attribute', (s) => withExtraAttr(s, 42), 22, /42/, 'tcp'],
    ['PSK client without peer-identity', (s) => ready(s, { messageType: 'clienthello', authMode: 'psk' }), 22, /needs at least one peer-identity/, 'tcp'],
    ['server with auth unauth', (s) => ready(s, { messageType: 'serverhello', authMode: 'unauth' }), 22, /unauth is for clients only/, 'tcp'],
    ['no fd', (s) => ready(s), 9, /no file descriptor/, 'none'],
    ['two fds', (s) => ready(s), 22, /2 file descriptors attached: exactly one/, 'two'],
    ['a unix socket instead of TCP', (s) => ready(s), 95, /not TCP \(protocol 0\)/, 'unix'],
    ['a TCP socket that is not connected', (s) => ready(s), 107, /not connected \(ENOTCONN\)/, 'listening'],
    ['oversized packet', (s) => Buffer.concat([ready(s), Buffer.alloc(5000)]), 90, /larger than 4096 bytes/, 'tcp'],
    // The kernel's strict policy reading, attribute by attribute (consumers are untrusted).
    ['NLA_F_NESTED on a plain u32', (s) => withExtra(s, u32Attr(4, 1000, 0x8000)), 22, /accept\.timeout: NLA_F_NESTED is set on a u32 attribute/, 'tcp'],
    [
      'a certificate nest without NLA_F_NESTED',
      (s) => withExtra(s, Buffer.concat([Buffer.from([20, 0, 7, 0]), u32Attr(1, 5), u32Attr(2, 6)])),
      22,
      /accept\.certificate: a nested attribute without NLA_F_NESTED/,
      'tcp',
    ],
    ['message-type given twice', (s) => withExtra(s, u32Attr(3, 1)), 22, /accept\.message-type: given more than once; it is single-valued/, 'tcp'],
    ['500 keyring attributes', (s) => withExtra(s, Buffer.concat(Array.from({ length: 500 }, () => u32Attr(9, 7)))), 22, /accept\.keyring: given more than once/, 'tcp'],
    ['six peer-identities (x509)', (s) => withExtra(s, Buffer.concat(Array.from({ length: 6 }, (_, i) => u32Attr(6, i + 1)))), 22, /peer-identity: 6 given, at most 5/, 'tcp'],
    ['peername without its NUL', (s) => withExtra(s, Buffer.from([8, 0, 8, 0, 0x61, 0x62, 0x63, 0x64]), { messageType: 'clienthello', authMode: 'unauth' }), 22, /accept\.peername: string without its terminating NUL/, 'tcp'],
    ['handler-class 2 (the enum end marker)', (s) => raw(s, 'ready', { 'handler-class': 2, 'message-type': 'clienthello', 'auth-mode': 'unauth' }), 22, /handler-class: 2 is the end-of-enum marker .*not a handler class; must be tlshd \(1\)/, 'tcp'],
  ];

  test.each(cases)('%s', async (_name, packet, errno, text, fdKind) => {
    agent = await Agent.start();
    conn = await AgentConnection.connect(agent.name);
    const pair = await tcpPair();
    const listener = net.createServer();
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const [u1, u2] = socketpair(AF_UNIX, 1 | SOCK_CLOEXEC);
    try {
      const fds =
        fdKind === 'none' ? [] : fdKind === 'two' ? [pair.fd, pair.fd] : fdKind === 'unix' ? [u1] : fdKind === 'listening' ? [socketFd(listener)] : [pair.fd];
      const base = openFds();
      const bytes = packet(7);
      const seq = bytes.length >= 16 ? 7 : 0;
      const reply: AgentReply = await conn.exchange(bytes, fds, seq);
      expect(reply.kind).toBe('error');
      if (reply.kind !== 'error') return;
      expect(reply.errno).toBe(errno);
      expect(reply.extack).toMatch(text);
      expect(reply.message.header.type).toBe(2);
      expect(agent.seen).toHaveLength(0);
      await until(() => openFds() === base);
      // the connection is still usable
      const ok = await conn.handshake(pair.fd, { role: 'client', auth: 'unauth' });
      expect(ok.status).toBe(0);
    } finally {
      close(u1);
      close(u2);
      listener.close();
      pair.close();
    }
  });

  test('a request id already in flight is refused with EEXIST', async () => {
    agent = await Agent.start();
    let release!: () => void;
    agent.behaviour = () => new Promise((r) => (release = () => r({ status: 0, remoteAuth: [] })));
    conn = await AgentConnection.connect(agent.name);
    const pair = await tcpPair();
    try {
      const first = conn.exchange(ready(5), [pair.fd], 5);
      await until(() => agent.seen.length === 1);
      // the same seq again, from a second client object sharing nothing but the connection's seq space
      const conn2 = conn as unknown as { waiters: Map<number, unknown> };
      const saved = conn2.waiters.get(5);
      conn2.waiters.delete(5);
      const dup = conn.exchange(ready(5), [pair.fd], 5);
      const r = await dup;
      expect(r).toMatchObject({ kind: 'error', errno: 17 });
      expect(r.kind === 'error' && r.extack).toMatch(/request id \(nlmsg_seq\) 5 is already in flight/);
      conn2.waiters.set(5, saved);
      release();
      expect(await first).toMatchObject({ kind: 'done', status: 0 });
    } finally {
      pair.close();
    }
  });

  test('AgentConnection.handshake turns NLMSG_ERROR into AgentRequestError', async () => {
    agent = await Agent.start();
    conn = await AgentConnection.connect(agent.name);
    const [u1, u2] = socketpair(AF_UNIX, 1 | SOCK_CLOEXEC);
    try {
      const e = await conn.handshake(u1, { role: 'client', auth: 'unauth' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(AgentRequestError);
      expect(e).toMatchObject({ errno: 95, code: 'EOPNOTSUPP' });
    } finally {
      close(u1);
      close(u2);
    }
  });
});

describe('unix transport: who may connect, and who may name key serials', () => {
  const NOBODY = 65534;

  /** A consumer in python3 running as uid/gid NOBODY: sends READY with a TCP fd, prints the reply hex. */
  function foreignConsumer(name: string, packet: Buffer, port: number): Promise<Buffer> {
    const script = `
import os, socket, sys, array
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.connect(("127.0.0.1", ${port}))
os.setgroups([]); os.setgid(${NOBODY}); os.setuid(${NOBODY})
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect("\\0" + sys.argv[1])
s.sendmsg([bytes.fromhex(sys.argv[2])], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [t.fileno()]))])
s.settimeout(20)
print(s.recv(4096).hex())
`;
    return new Promise((resolve, reject) => {
      const p = spawn('/usr/bin/python3', ['-c', script, name.slice(1), packet.toString('hex')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(Buffer.from(out.trim(), 'hex')) : reject(new Error(`python consumer failed (${code}): ${err}`))));
    });
  }

  async function withListener<T>(f: (port: number) => Promise<T>): Promise<T> {
    const server = net.createServer((s) => s.on('error', () => undefined));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      return await f((server.address() as net.AddressInfo).port);
    } finally {
      server.close();
    }
  }

  const { decodeMessages, unixTransportFamilies } = jest.requireActual('../../src/netlink/message') as typeof import('../../src/netlink/message');
  const decode = (b: Buffer) => decodeMessages(b, { families: unixTransportFamilies() })[0];

  test('a uid not in the allow list gets EPERM naming its uid (python consumer as nobody)', async () => {
    agent = await Agent.start({ allowUids: [0] });
    const reply = decode(await withListener((port) => foreignConsumer(agent.name, ready(3), port)));
    expect(reply.kind).toBe('error');
    if (reply.kind !== 'error') return;
    expect(reply.error).toBe(-1);
    expect(reply.request.seq).toBe(3);
    expect(reply.extack.msg).toMatch(new RegExp(`uid ${NOBODY} / gid ${NOBODY} is not in the agent's allow list`));
    expect(agent.seen).toHaveLength(0);
  });

  test('an allowed gid gets through, but its key serials are not honoured', async () => {
    agent = await Agent.start({ allowUids: [0], allowGids: [NOBODY] });
    const packet = ready(4, { messageType: 'serverhello', authMode: 'x509', certificate: [{ cert: 5, privkey: 6 }] });
    const reply = decode(await withListener((port) => foreignConsumer(agent.name, packet, port)));
    expect(reply.kind).toBe('genl');
    expect(reply.kind === 'genl' && reply.attrs.status).toBe(0);
    expect(agent.seen[0].req).toMatchObject({ certificate: { cert: 5, privkey: 6 }, keySerialsAllowed: false });
  });

  test('the allow list is read per connection: this process refused when its uid is not listed', async () => {
    const me = process.getuid!();
    agent = await Agent.start({ allowUids: [me + 4242] });
    conn = await AgentConnection.connect(agent.name);
    const pair = await tcpPair();
    try {
      const e = await conn.handshake(pair.fd, { role: 'client', auth: 'unauth' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(AgentRequestError);
      expect(e).toMatchObject({ errno: 1, code: 'EPERM' });
      expect((e as AgentRequestError).extack).toMatch(new RegExp(`uid ${me} `));
      expect(agent.seen).toHaveLength(0);
    } finally {
      pair.close();
    }
  });

  test('root (this process) may name key serials', async () => {
    agent = await Agent.start();
    conn = await AgentConnection.connect(agent.name);
    const pair = await tcpPair();
    try {
      await conn.handshake(pair.fd, { role: 'client', auth: 'psk', peerIdentities: [101, 102] });
      expect(agent.seen[0].req).toMatchObject({ auth: 'psk', peerIdentities: [101, 102], keySerialsAllowed: true });
    } finally {
      pair.close();
    }
  });
});
