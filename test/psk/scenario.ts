/**
 * One PSK interop run: our engine in one role over loopback against a command-line peer from
 * ./peers, then (on success) the key proof of test/helpers/interop.ts — one application-data
 * record each way under the exported traffic keys, which the peer must read and answer.
 */
import type net from 'node:net';
import { createClient, createServer } from '../../src/tls';
import type { ClientConfig, ServerConfig } from '../../src/tls/api';
import { AppDataChannel, echoAnswer, keyProof, typedAnswer, type KeyProof, type ProofAnswer } from '../helpers/app-data';
import { driveHandshake, type DriveResult } from '../helpers/driver';
import { connect, LoopbackListener } from '../helpers/loopback';
import { settleFailed, type ProcessPeer } from '../helpers/process-peer';
import { SocketRecordIO } from '../helpers/record-io';
import { pskClient, pskServer, type CliKind, type PskPeerOptions } from './peers';

export interface PskOutcome {
  result: DriveResult;
  /** Set when the key proof ran: `received` (decrypted with our rx keys) must contain `expected`. */
  proof?: KeyProof;
  /** The peer's output, for assertions on what it said about a failure. */
  peerReport: string;
}

/** After the handshake: the key proof on success, else time for the peer to say why; then its report. */
async function finish(out: PskOutcome, io: SocketRecordIO, proc: ProcessPeer, tag: string, answer: ProofAnswer): Promise<void> {
  if (out.result.status === 'done') out.proof = await keyProof(new AppDataChannel(io, out.result.secrets), tag, answer);
  else await settleFailed(proc);
  out.peerReport = proc.describe();
}

/** Our client (engine) against a PSK server peer. */
export async function clientAgainst(kind: CliKind, peer: PskPeerOptions, cfg: ClientConfig): Promise<PskOutcome> {
  let proc: ProcessPeer | undefined;
  let sock: net.Socket | undefined;
  try {
    const started = await pskServer(kind, peer);
    proc = started.peer;
    sock = await connect(started.port);
    const io = new SocketRecordIO(sock);
    const result = await driveHandshake(createClient(cfg), io);
    const out: PskOutcome = { result, peerReport: '' };
    // gnutls-serv --echo sends our line back; s_server is typed an answer.
    await finish(out, io, proc, 'to-server', kind === 'openssl' ? typedAnswer(proc, 'from-server') : echoAnswer);
    return out;
  } finally {
    sock?.destroy();
    await proc?.stop();
  }
}

/** Our server (engine) against a PSK client peer. */
export async function serverAgainst(kind: CliKind, peer: PskPeerOptions, cfg: ServerConfig): Promise<PskOutcome> {
  const listener = await LoopbackListener.open();
  let proc: ProcessPeer | undefined;
  let sock: net.Socket | undefined;
  try {
    proc = pskClient(kind, listener.port, peer);
    sock = await listener.accept();
    const io = new SocketRecordIO(sock);
    const result = await driveHandshake(createServer(cfg), io);
    const out: PskOutcome = { result, peerReport: '' };
    await finish(out, io, proc, 'to-client', typedAnswer(proc, 'from-client'));
    return out;
  } finally {
    sock?.destroy();
    await proc?.stop();
    await listener.close();
  }
}
