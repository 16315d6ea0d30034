/**
 * One interop scenario = our engine in one role over a real socket against a real peer in the
 * other, then (on success) the key proof: one application-data record each way, protected and
 * unprotected by the test's own record layer with the keys the engine exported.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { createClient, createServer } from '../../src/tls';
import type { ClientConfig, ServerConfig } from '../../src/tls/api';
import { AppDataChannel, echoAnswer, keyProof, typedAnswer, uniqueLine, type KeyProof, type ProofAnswer } from './app-data';
import { startGnutlsClient, startGnutlsServer, startOpensslClient, startOpensslServer, type PeerOptions } from './cli-peers';
import { driveHandshake, type DriveResult } from './driver';
import { connect, LoopbackListener } from './loopback';
import { nodeConnect, NodeTlsServer, readSome } from './node-peers';
import { settleFailed, type ProcessPeer } from './process-peer';
import { SocketRecordIO } from './record-io';

export type PeerKind = 'node' | 'openssl' | 'gnutls';

/** Every peer kind, for describe.each over the interop matrix. */
export const PEER_KINDS: PeerKind[] = ['node', 'openssl', 'gnutls'];

export interface ScenarioOutcome {
  result: DriveResult;
  /** Set when the key proof ran; `expected` is an echo of `sent` or a line typed into the peer's stdin. */
  proof?: KeyProof;
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

/**
 * Our engine over a connected socket: the handshake, then on success `afterHandshake` or the key
 * proof (our `proofTag` line, the peer's `answer`); a process peer's report, with time to give
 * its reason after a failure. Other peers' reports are the caller's.
 */
export async function driveScenario(
  sock: net.Socket,
  engine: Parameters<typeof driveHandshake>[0],
  opts: ScenarioOptions & { proofTag: string; answer: ProofAnswer; proc?: ProcessPeer },
): Promise<ScenarioOutcome> {
  const io = new SocketRecordIO(sock);
  const result = await driveHandshake(engine, io);
  const out: ScenarioOutcome = { result, peerReport: '' };
  if (result.status === 'done' && opts.afterHandshake) {
    await opts.afterHandshake(new AppDataChannel(io, result.secrets));
  } else if (result.status === 'done' && opts.keyProof !== false) {
    out.proof = await keyProof(new AppDataChannel(io, result.secrets), opts.proofTag, opts.answer);
  }
  if (opts.proc) {
    if (result.status === 'failed') await settleFailed(opts.proc);
    out.peerReport = opts.proc.describe();
  }
  return out;
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
    // The echo servers (Node, gnutls-serv) send our line back; s_server is typed an answer.
    const answer = proc && kind === 'openssl' ? typedAnswer(proc, 'from-server') : echoAnswer;
    const out = await driveScenario(sock, createClient(cfg), { ...opts, proofTag: 'to-server', answer, proc });
    if (nodeServer) {
      out.peerReport = nodeServer.tlsErrors.map((e) => e.message).join('\n');
      if (out.result.status === 'failed' && !out.peerReport) {
        out.peerReport = await nodeServer.nextTlsError(2000).then((e) => e.message, () => '');
      }
    }
    return out;
  } finally {
    sock?.destroy();
    await nodeServer?.close();
    await proc?.stop();
  }
}

/** A Node TLS client reads our line and writes a fresh one back. */
const nodeClientAnswer =
  (client: Promise<tls.TLSSocket>): ProofAnswer =>
  async (sent) => {
    const s = await withTimeout(client, 15000, 'Node client secureConnect');
    await readSome(s, (d) => d.toString('latin1').includes(sent));
    const reply = uniqueLine('from-client');
    s.write(`${reply}\n`);
    return reply;
  };

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
    const answer = proc ? typedAnswer(proc, 'from-client') : nodeClientAnswer(nodeClient!);
    const out = await driveScenario(sock, createServer(cfg), { ...opts, proofTag: 'to-client', answer, proc });
    if (nodeClient) {
      out.peerReport = await withTimeout(nodeClient, 5000, 'Node client outcome').then(
        () => 'secureConnect',
        (e: Error) => `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`,
      );
    }
    return out;
  } finally {
    sock?.destroy();
    nodeSocket?.destroy();
    await proc?.stop();
    await listener.close();
  }
}
