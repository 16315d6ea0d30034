/**
 * One PSK interop run: our engine in one role over loopback against a command-line peer from
 * ./peers, then (on success) the key proof of test/helpers/interop.ts — one application-data
 * record each way under the exported traffic keys, which the peer must read and answer.
 */
import type net from 'node:net';
import { createClient, createServer } from '../../src/tls';
import type { ClientConfig, ServerConfig } from '../../src/tls/api';
import { AppDataChannel, uniqueLine } from '../helpers/app-data';
import { driveHandshake, type DriveResult } from '../helpers/driver';
import { connect, LoopbackListener } from '../helpers/loopback';
import type { ProcessPeer } from '../helpers/process-peer';
import { SocketRecordIO } from '../helpers/record-io';
import { pskClient, pskServer, type CliKind, type PskPeerOptions } from './peers';

export interface PskOutcome {
  result: DriveResult;
  /** Set when the key proof ran: `received` (decrypted with our rx keys) must contain `expected`. */
  proof?: { sent: string; expected: string; received: string };
  /** The peer's output, for assertions on what it said about a failure. */
  peerReport: string;
}

/** Gives a failed peer time to say why: s_server exits after its one connection, gnutls-serv logs. */
async function settle(proc: ProcessPeer): Promise<void> {
  if (proc.command === 'gnutls-serv') await proc.waitFor(/Error in handshake|alert/i, 5000).catch(() => undefined);
  else await proc.waitExit(10000).catch(() => undefined);
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
    if (result.status === 'done') {
      const ch = new AppDataChannel(io, result.secrets);
      const sent = uniqueLine('to-server');
      await ch.send(`${sent}\n`);
      let expected = sent; // gnutls-serv --echo sends our line back
      if (kind === 'openssl') {
        await proc.waitFor(sent, 15000, 'stdout');
        expected = uniqueLine('from-server');
        proc.writeLine(expected);
      }
      out.proof = { sent, expected, received: await ch.receive((t) => t.includes(expected)) };
    } else {
      await settle(proc);
    }
    out.peerReport = proc.describe();
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
    if (result.status === 'done') {
      const ch = new AppDataChannel(io, result.secrets);
      const sent = uniqueLine('to-client');
      const expected = uniqueLine('from-client');
      await ch.send(`${sent}\n`);
      await proc.waitFor(sent, 15000, 'stdout');
      proc.writeLine(expected);
      out.proof = { sent, expected, received: await ch.receive((t) => t.includes(expected)) };
    } else {
      await settle(proc);
    }
    out.peerReport = proc.describe();
    return out;
  } finally {
    sock?.destroy();
    await proc?.stop();
    await listener.close();
  }
}
