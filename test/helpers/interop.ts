/**
 * One interop scenario = our engine in one role over a real socket against a real peer in the
 * other, then (on success) the key proof: one application-data record each way, protected and
 * unprotected by the test's own record layer with the keys the engine exported.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { createClient, createServer } from '../../src/tls';
import type { ClientConfig, ServerConfig } from '../../src/tls/api';
import { AppDataChannel, uniqueLine } from './app-data';
import { startGnutlsClient, startGnutlsServer, startOpensslClient, startOpensslServer, type PeerOptions } from './cli-peers';
import { driveHandshake, type DriveResult } from './driver';
import { connect, LoopbackListener } from './loopback';
import { nodeConnect, NodeTlsServer, readSome } from './node-peers';
import type { ProcessPeer } from './process-peer';
import { SocketRecordIO } from './record-io';

export type PeerKind = 'node' | 'openssl' | 'gnutls';

/** Every peer kind, for describe.each over the interop matrix. */
export const PEER_KINDS: PeerKind[] = ['node', 'openssl', 'gnutls'];

export interface ScenarioOutcome {
  result: DriveResult;
  /**
   * Set when the key proof ran: `sent` went out under our tx keys and the peer read it; `expected`
   * is what the peer sent back (an echo of `sent`, or a line typed into the peer's stdin), and
   * `received` is what our rx keys decrypted.
   */
  proof?: { sent: string; expected: string; received: string; postHandshakeRecords: number };
  /** What the peer said about the connection (its output, or Node's error), for assertions and failures. */
  peerReport: string;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

export interface ScenarioOptions {
  /** Run the standard key proof after a successful handshake (default true). */
  keyProof?: boolean;
  /** Instead of the key proof: what to do with the application-data channel after 'done'. */
  afterHandshake?: (ch: AppDataChannel) => Promise<void>;
}

/** Gives a failed peer time to report: s_server exits after its one connection, gnutls-serv logs. */
async function settle(proc: ProcessPeer): Promise<void> {
  if (proc.name === 'gnutls-serv') await proc.waitFor(/Error in handshake|alert/i, 5000).catch(() => undefined);
  else await proc.waitExit(10000).catch(() => undefined);
}

/** Our client against a server peer. */
export async function ourClientAgainst(kind: PeerKind, peer: PeerOptions, cfg: ClientConfig, opts: ScenarioOptions = {}): Promise<ScenarioOutcome> {
  let proc: ProcessPeer | undefined;
  let nodeServer: NodeTlsServer | undefined;
  let sock: net.Socket | undefined;
  try {
    let port: number;
    if (kind === 'node') {
      nodeServer = await NodeTlsServer.start(peer);
      port = nodeServer.port;
    } else {
      ({ peer: proc, port } = kind === 'openssl' ? await startOpensslServer(peer) : await startGnutlsServer(peer));
    }
    sock = await connect(port);
    const io = new SocketRecordIO(sock);
    const result = await driveHandshake(createClient(cfg), io);
    const out: ScenarioOutcome = { result, peerReport: '' };
    if (result.status === 'done' && opts.afterHandshake) {
      await opts.afterHandshake(new AppDataChannel(io, result.secrets));
    } else if (result.status === 'done' && opts.keyProof !== false) {
      const ch = new AppDataChannel(io, result.secrets);
      const sent = uniqueLine('to-server');
      await ch.send(`${sent}\n`);
      let expect = sent; // the echo servers (Node, gnutls-serv) send our line back
      if (proc && kind === 'openssl') {
        await proc.waitFor(sent, 15000, 'stdout');
        expect = uniqueLine('from-server');
        proc.writeLine(expect);
      }
      const received = await ch.receive((t) => t.includes(expect));
      out.proof = { sent, expected: expect, received, postHandshakeRecords: ch.postHandshakeRecords };
    }
    if (nodeServer) {
      out.peerReport = nodeServer.tlsErrors.map((e) => e.message).join('\n');
      if (result.status === 'failed' && !out.peerReport) {
        out.peerReport = await nodeServer.nextTlsError(2000).then((e) => e.message, () => '');
      }
    }
    if (proc) {
      if (result.status === 'failed') await settle(proc);
      out.peerReport = proc.describe();
    }
    return out;
  } finally {
    sock?.destroy();
    await nodeServer?.close();
    await proc?.stop();
  }
}

/** Our server against a client peer. */
export async function ourServerAgainst(kind: PeerKind, peer: PeerOptions, cfg: ServerConfig, opts: ScenarioOptions = {}): Promise<ScenarioOutcome> {
  const listener = await LoopbackListener.open();
  let proc: ProcessPeer | undefined;
  let nodeClient: Promise<tls.TLSSocket> | undefined;
  let nodeSocket: tls.TLSSocket | undefined;
  let sock: net.Socket | undefined;
  try {
    if (kind === 'node') {
      nodeClient = nodeConnect(listener.port, peer);
      nodeClient.then((s) => (nodeSocket = s)).catch(() => undefined);
    } else {
      proc = kind === 'openssl' ? startOpensslClient(listener.port, peer) : startGnutlsClient(listener.port, peer);
    }
    sock = await listener.accept();
    const io = new SocketRecordIO(sock);
    const result = await driveHandshake(createServer(cfg), io);
    const out: ScenarioOutcome = { result, peerReport: '' };
    if (result.status === 'done' && opts.afterHandshake) {
      await opts.afterHandshake(new AppDataChannel(io, result.secrets));
    } else if (result.status === 'done' && opts.keyProof !== false) {
      const ch = new AppDataChannel(io, result.secrets);
      const sent = uniqueLine('to-client');
      const reply = uniqueLine('from-client');
      await ch.send(`${sent}\n`);
      if (nodeClient) {
        const s = await withTimeout(nodeClient, 15000, 'Node client secureConnect');
        await readSome(s, (d) => d.toString('latin1').includes(sent));
        s.write(`${reply}\n`);
      } else if (proc) {
        await proc.waitFor(sent, 15000, 'stdout');
        proc.writeLine(reply);
      }
      const received = await ch.receive((t) => t.includes(reply));
      out.proof = { sent, expected: reply, received, postHandshakeRecords: ch.postHandshakeRecords };
    }
    if (nodeClient) {
      out.peerReport = await withTimeout(nodeClient, 5000, 'Node client outcome').then(
        () => 'secureConnect',
        (e: Error) => `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`,
      );
    }
    if (proc) {
      if (result.status === 'failed') await settle(proc);
      out.peerReport = proc.describe();
    }
    return out;
  } finally {
    sock?.destroy();
    nodeSocket?.destroy();
    await proc?.stop();
    await listener.close();
  }
}
