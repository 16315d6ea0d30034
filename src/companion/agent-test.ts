/**
 * `handshaked companion agent-test`: plays the kernel against an agent that speaks the unix
 * transport. Each case makes a loopback TCP connection, hands one end to the agent (READY with
 * SCM_RIGHTS) and lets a real TLS peer drive the other; it checks the DONE's status and
 * remote-auth and then the session keys: by exchanging data through kTLS when the agent
 * installed it, else by finding the peer's traffic secrets in the agent's key log.
 */
import fs from 'node:fs';
import { AgentConnection, type AgentReply } from '../client';
import { errnoName } from '../sys/errno';
import { AF_UNIX, SOCK_CLOEXEC, close, socketpair } from '../sys/libc';
import { hasKtls } from '../sys/tls-record';
import { KtapWriter, type CaseResult } from './ktap';
import { readKtlsLine } from './ktls-read';
import { LinkFactory } from './peers';
import { Pki } from './pki';
import { type Env, type MalformedCase, type Scenario, EACCES, SUITES, X509_VERIFIED, failureScenarios, handshakeScenarios, malformedCases, pskScenarios } from './scenarios';
import { PskKeys } from './psk-keys';

const APP_SECRETS = ['CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0'];
const ALL_SECRETS = [...APP_SECRETS, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET'];

export interface AgentTestOptions {
  agentSocket: string;
  pkiDir: string;
  /** Only this cipher suite (default: all four). */
  suite?: string;
  /** The agent's --keylog file, for the key check when the socket has no kTLS. */
  agentKeylog?: string;
  /** Only cases whose name contains this. */
  filter?: string;
  write: (line: string) => void;
}

/** Runs every case; resolves with the number of failed cases (0 = exit status 0). */
export async function runAgentTest(o: AgentTestOptions): Promise<number> {
  const pki = new Pki(o.pkiDir);
  pki.check();
  if (o.suite && !(SUITES as readonly string[]).includes(o.suite)) throw new Error(`unknown suite ${o.suite} (known: ${SUITES.join(', ')})`);
  const suites = o.suite ? [o.suite] : [...SUITES];
  const match = (n: string) => !o.filter || n.includes(o.filter);
  const scenarios = [...handshakeScenarios(suites), ...pskScenarios(), ...failureScenarios()].filter((s) => match(s.name));
  const malformed = malformedCases().filter((m) => match(m.name));
  const extras = ['many_requests_in_flight', 'consumer_close_aborts'].filter(match);
  const ktap = new KtapWriter(o.write, scenarios.length + malformed.length + extras.length);
  ktap.diag(`agent socket ${o.agentSocket}; PKI ${pki.dir}; suites ${suites.join(' ')}`);
  ktap.diag(`key check: data through kTLS when the agent installed it, else the agent key log ${o.agentKeylog ?? '(none given: --agent-keylog)'}`);

  // PSKs only when a PSK case runs: creating keys is a visible change to the host's keyrings.
  let psks: PskKeys | Error | undefined;
  if (scenarios.some((s) => s.psk && !s.skip)) {
    try {
      psks = PskKeys.create();
      ktap.diag(`PSK keys: type "${psks.type}" in keyring ${psks.keyringName} (${psks.keyring}), named in each PSK request's keyring attribute; removed after the run`);
    } catch (e) {
      psks = e as Error;
      ktap.diag(`PSK cases will fail: ${psks.message}`);
    }
  }
  const links = await LinkFactory.open();
  const env: Env = {
    pki,
    links,
    psks: () => {
      if (psks instanceof PskKeys) return psks;
      throw psks ?? new Error('no PSK keys were created for this run');
    },
  };
  let conn: AgentConnection;
  try {
    conn = await AgentConnection.connect(o.agentSocket);
  } catch (e) {
    links.close();
    if (psks instanceof PskKeys) psks.remove();
    ktap.diag((e as Error).message);
    return 1;
  }
  try {
    for (const sc of scenarios) ktap.result(await runScenario(conn, env, sc, o));
    for (const m of malformed) ktap.result(await runMalformed(conn, env, m));
    if (extras.includes('many_requests_in_flight')) ktap.result(await runMany(conn, env, o));
    if (extras.includes('consumer_close_aborts')) ktap.result(await runConsumerClose(env, o));
  } finally {
    conn.close();
    links.close();
    if (psks instanceof PskKeys) psks.remove();
  }
  ktap.totals();
  return ktap.failures;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

const statusName = (s: number) => (s === 0 ? '0' : `${errnoName(s)} (${s})`);

async function runScenario(conn: AgentConnection, env: Env, sc: Scenario, o: AgentTestOptions): Promise<CaseResult> {
  const diagnostics: string[] = [];
  if (sc.skip) return { name: sc.name, ok: true, skip: sc.skip, diagnostics };
  let setup;
  try {
    setup = await sc.setup(env);
  } catch (e) {
    return { name: sc.name, ok: false, diagnostics: [`${sc.name}: cannot set up the peer: ${(e as Error).message}`] };
  }
  const { link, peer } = setup;
  const params = setup.params ?? sc.params;
  try {
    const budget = (params.timeoutMs ?? 10000) + 20000;
    const out = await withTimeout(conn.handshake(link.fd, params), budget, 'DONE');
    const fail = (msg: string): CaseResult => ({ name: sc.name, ok: false, diagnostics: [...diagnostics, `${sc.name}: ${msg}`] });
    if (out.status !== sc.status) {
      const peerSide = await withTimeout(peer.done, 3000, 'peer').catch(() => ({ ok: false, error: 'no result' }));
      return fail(`status ${statusName(out.status)}, expected ${statusName(sc.status)} (peer ${peer.label}: ${peerSide.ok ? 'handshake done' : peerSide.error})`);
    }
    const raProblem = checkRemoteAuth(out.remoteAuth, setup.remoteAuth ?? sc.remoteAuth);
    if (raProblem) return fail(raProblem);
    if (out.status === 0 && sc.keyCheck) {
      const notes: string[] = [];
      const problem = await checkKeys(link.agentEnd, link.fd, peer, o.agentKeylog, notes);
      if (problem) return fail(problem);
      const how = !hasKtls(link.fd) ? 'key logs' : peer.echo ? ['data through kTLS', ...notes].join(', ') : `key logs: kTLS is installed but ${peer.label} cannot exchange data in this companion`;
      diagnostics.push(`${sc.name}: keys agree (${how})`);
    }
    return { name: sc.name, ok: true, diagnostics };
  } catch (e) {
    return { name: sc.name, ok: false, diagnostics: [...diagnostics, `${sc.name}: ${(e as Error).message}`] };
  } finally {
    peer.destroy();
    link.close();
  }
}

function checkRemoteAuth(got: number[], want: Scenario['remoteAuth']): string | undefined {
  if (want === undefined) return undefined;
  const shown = `[${got.map((x) => `0x${x.toString(16)}`).join(', ')}]`;
  if (want === 'x509-verified') {
    if (got.length >= 1 && got.length <= 5 && got.every((x) => x === X509_VERIFIED)) return undefined;
    return `remote-auth ${shown}, expected 1 to 5 entries of 0xffffffff (one per verified client certificate)`;
  }
  if (JSON.stringify(got) !== JSON.stringify(want)) return `remote-auth ${shown}, expected [${want.map((x) => `0x${x.toString(16)}`).join(', ')}]`;
  return undefined;
}


async function checkKeys(agentEnd: import('node:net').Socket, fd: number, peer: import('./peers').Peer, agentKeylog: string | undefined, notes: string[]): Promise<string | undefined> {
  const peerResult = await withTimeout(peer.done, 10000, 'peer').catch(() => ({ ok: false, error: 'it never finished its handshake (10 s)' }));
  if (!peerResult.ok) return `the agent reported success but the peer (${peer.label}) failed: ${peerResult.error}`;
  // A peer that cannot exchange data (a command-line tool) falls back to the key logs below.
  if (hasKtls(fd) && peer.echo) {
    const line = `handshaked-companion ${process.pid} ${Date.now()}`;
    const heard = peer.echo();
    // Read with recvmsg, not Node: servers send NewSessionTickets after the handshake, which
    // kTLS fails a plain read() with (EIO); a kernel consumer skips them by record type.
    const back = readKtlsLine(fd, 10000);
    agentEnd.write(`${line}\n`);
    const [h, { line: b, skipped }] = await withTimeout(Promise.all([heard, back]), 12000, 'data through kTLS');
    if (skipped) notes.push(`${skipped} post-handshake record${skipped > 1 ? 's' : ''} skipped`);
    if (h !== line) return `the peer decrypted ${JSON.stringify(h)}, expected ${JSON.stringify(line)}`;
    if (b !== `echo:${line}`) return `kTLS decrypted ${JSON.stringify(b)} from the peer, expected ${JSON.stringify(`echo:${line}`)}`;
    return undefined;
  }
  if (!agentKeylog) return `${hasKtls(fd) ? `kTLS is installed but ${peer.label} cannot exchange data in this companion` : 'no kTLS on this socket'} and no --agent-keylog: the session keys cannot be checked`;
  // Process peers write their key log as the handshake goes: wait for the application secrets.
  let mine: string[] = [];
  for (let i = 0; i < 100; i++) {
    mine = peer.keylog().filter((l) => ALL_SECRETS.includes(l.split(' ')[0]));
    if (APP_SECRETS.every((label) => mine.some((l) => l.startsWith(`${label} `)))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!APP_SECRETS.every((label) => mine.some((l) => l.startsWith(`${label} `)))) return `${peer.label} logged no application traffic secrets`;
  let theirs: Set<string>;
  try {
    theirs = new Set(fs.readFileSync(agentKeylog, 'latin1').split('\n').map((l) => l.trim().toLowerCase()));
  } catch (e) {
    return `cannot read the agent key log ${agentKeylog}: ${(e as Error).message}`;
  }
  const missing = mine.filter((l) => !theirs.has(l.toLowerCase()));
  if (missing.length) return `the agent's key log lacks the peer's ${missing.map((l) => l.split(' ')[0]).join(', ')} for this session (keys differ, or the agent logs elsewhere)`;
  return undefined;
}

async function runMalformed(conn: AgentConnection, env: Env, m: MalformedCase): Promise<CaseResult> {
  const link = await env.links.link();
  const [u1, u2] = socketpair(AF_UNIX, 1 | SOCK_CLOEXEC);
  const diagnostics: string[] = [];
  try {
    const fds = m.fds === 'none' ? [] : m.fds === 'two' ? [link.fd, link.fd] : m.fds === 'unix' ? [u1] : [link.fd];
    const seq = conn.allocSeq();
    const packet = m.packet(seq);
    const replySeq = packet.length >= 16 ? seq : 0;
    const reply: AgentReply = await withTimeout(conn.exchange(packet, fds, replySeq), 15000, 'reply');
    if (reply.kind !== 'error') return { name: m.name, ok: false, diagnostics: [`${m.name}: expected NLMSG_ERROR, got DONE status ${statusName(reply.status)}`] };
    if (!(reply.errno > 0)) return { name: m.name, ok: false, diagnostics: [`${m.name}: NLMSG_ERROR error is ${-reply.errno}, expected a negative errno`] };
    if (!reply.extack) return { name: m.name, ok: false, diagnostics: [`${m.name}: NLMSG_ERROR -${errnoName(reply.errno)} without an extack message saying what is wrong`] };
    diagnostics.push(`${m.name}: -${errnoName(reply.errno)}: ${reply.extack}`);
    if (m.fds === 'tcp' || m.fds === 'two') {
      // Our copy goes away; if the agent closed its copy too, the peer sees the connection end.
      const ended = new Promise<void>((resolve) => {
        link.peerEnd.once('end', resolve);
        link.peerEnd.once('close', resolve);
      });
      link.agentEnd.destroy();
      link.peerEnd.resume();
      try {
        await withTimeout(ended, 5000, 'peer EOF');
      } catch {
        return { name: m.name, ok: false, diagnostics: [...diagnostics, `${m.name}: the agent kept the refused request's socket open (the peer saw no EOF)`] };
      }
    }
    return { name: m.name, ok: true, diagnostics };
  } catch (e) {
    return { name: m.name, ok: false, diagnostics: [...diagnostics, `${m.name}: ${(e as Error).message}`] };
  } finally {
    close(u1);
    close(u2);
    link.close();
  }
}

/** 16 requests at once on one connection, good and bad mixed: each DONE must match its own request. */
async function runMany(conn: AgentConnection, env: Env, o: AgentTestOptions): Promise<CaseResult> {
  const name = 'many_requests_in_flight';
  const N = 16;
  const good = handshakeScenarios([o.suite ?? SUITES[0]])[0];
  const bad = failureScenarios()[0];
  const plan = Array.from({ length: N }, (_, i) => (i % 3 === 2 ? bad : good));
  const setups = [];
  try {
    for (const sc of plan) setups.push(await sc.setup(env));
    const outs = await withTimeout(Promise.all(setups.map((s, i) => conn.handshake(s.link.fd, plan[i].params))), 60000, 'DONEs');
    const wrong = outs.map((r, i) => (r.status === plan[i].status ? undefined : `request ${i}: status ${statusName(r.status)}, expected ${statusName(plan[i].status)}`)).filter(Boolean);
    if (wrong.length) return { name, ok: false, diagnostics: wrong as string[] };
    return { name, ok: true, diagnostics: [`${name}: ${N} requests, ${plan.filter((p) => p.status === EACCES).length} expected to fail, all DONEs matched`] };
  } catch (e) {
    return { name, ok: false, diagnostics: [`${name}: ${(e as Error).message}`] };
  } finally {
    for (const s of setups) {
      s.peer.destroy();
      s.link.close();
    }
  }
}

/** A consumer that closes its connection: the agent must abort and close its copy of the socket. */
async function runConsumerClose(env: Env, o: AgentTestOptions): Promise<CaseResult> {
  const name = 'consumer_close_aborts';
  const link = await env.links.link();
  let conn2: AgentConnection | undefined;
  try {
    conn2 = await AgentConnection.connect(o.agentSocket);
    const hello = new Promise<void>((resolve) => link.peerEnd.once('data', () => resolve()));
    const ended = new Promise<void>((resolve) => {
      link.peerEnd.once('end', resolve);
      link.peerEnd.once('close', resolve);
    });
    const pending = conn2.handshake(link.fd, { role: 'client', auth: 'unauth', peername: 'localhost', timeoutMs: 60000 }).catch(() => undefined);
    await withTimeout(hello, 10000, 'ClientHello from the agent');
    conn2.close();
    link.agentEnd.destroy();
    await pending;
    await withTimeout(ended, 10000, 'the agent closing the socket after its consumer left');
    return { name, ok: true, diagnostics: [] };
  } catch (e) {
    return { name, ok: false, diagnostics: [`${name}: ${(e as Error).message}`] };
  } finally {
    conn2?.close();
    link.close();
  }
}
