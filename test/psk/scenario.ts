/**
 * One PSK interop run: our engine in one role over loopback against a command-line peer from
 * ./peers, then (on success) the key proof of test/helpers/interop.ts — one application-data
 * record each way under the exported traffic keys, which the peer must read and answer.
 */
import type net from 'node:net';
import { createClient, createServer } from '../../src/tls';
import type { ClientConfig, ServerConfig } from '../../src/tls/api';
import { echoAnswer, typedAnswer } from '../helpers/app-data';
import { driveScenario, type ScenarioOutcome } from '../helpers/interop';
import { connect, LoopbackListener } from '../helpers/loopback';
import type { ProcessPeer } from '../helpers/process-peer';
import { pskClient, pskServer, type CliKind, type PskPeerOptions } from './peers';

/** What one run gave: the handshake, the key proof when it ran, and the peer's output. */
export type PskOutcome = ScenarioOutcome;

/** Our client (engine) against a PSK server peer. */
export async function clientAgainst(kind: CliKind, peer: PskPeerOptions, cfg: ClientConfig): Promise<PskOutcome> {
  let proc: ProcessPeer | undefined;
  let sock: net.Socket | undefined;
  try {
    const started = await pskServer(kind, peer);
    proc = started.peer;
    sock = await connect(started.port);
    // gnutls-serv --echo sends our line back; s_server is typed an answer.
    const answer = kind === 'openssl' ? typedAnswer(proc, 'from-server') : echoAnswer;
    return await driveScenario(sock, createClient(cfg), { proofTag: 'to-server', answer, proc });
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
    return await driveScenario(sock, createServer(cfg), { proofTag: 'to-client', answer: typedAnswer(proc, 'from-client'), proc });
  } finally {
    sock?.destroy();
    await proc?.stop();
    await listener.close();
  }
}
