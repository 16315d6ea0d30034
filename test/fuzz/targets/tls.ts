/**
 * Engine fuzz targets, both roles: raw records as they would arrive from the socket (the
 * record layer, ClientHello and ServerHello/HelloRetryRequest parsing), and the encrypted
 * flights after a deterministic key exchange (EncryptedExtensions, CertificateRequest,
 * Certificate and the X.509 path under it, CertificateVerify, Finished, and anything else a
 * peer may put there).
 */
import { createClient, createServer, type Connection, type Step } from '../../../src/tls';
import type { FuzzTarget } from './common';
import {
  checkAfter,
  checkStep,
  clientConfig,
  clientHooks,
  flightRecords,
  scenario,
  serverConfig,
  serverHooks,
  splitRecords,
} from './tls-scenario';

/** Feeds records until the engine stops; returns the last step (for the replay test's depth checks). */
function feed(target: string, conn: Connection, records: Buffer[]): Step | undefined {
  let last: Step | undefined;
  for (const r of records) {
    last = conn.receiveRecord(r);
    checkStep(target, last);
    if (last.status !== 'continue') break;
  }
  checkAfter(target, conn, last);
  return last;
}

export interface EngineTarget extends FuzzTarget {
  run(data: Buffer): Step | undefined;
}

/** A target whose fuzz() is run() with the last step dropped; the replay test calls run() for it. */
function engineTarget(name: string, about: string, run: (name: string, data: Buffer) => Step | undefined): EngineTarget {
  return {
    name,
    about,
    fuzz(data) {
      run(name, data);
    },
    run: (data) => run(name, data),
  };
}

export const tlsServerRecords = engineTarget('tls-server-records', 'a server engine fed raw records from a client (ClientHello and everything before encryption)', (name, data) => {
  const conn = createServer(serverConfig(), serverHooks);
  conn.start();
  return feed(name, conn, splitRecords(data));
});

export const tlsClientRecords = engineTarget('tls-client-records', 'a client engine, after its deterministic ClientHello, fed raw records from a server (ServerHello, HelloRetryRequest)', (name, data) => {
  const conn = createClient(clientConfig(), clientHooks);
  checkStep(name, conn.start());
  return feed(name, conn, splitRecords(data));
});

export const tlsClientFlight = engineTarget('tls-client-flight', "a client engine past the deterministic ServerHello, fed the server's encrypted flight", (name, data) => {
  const sc = scenario();
  const conn = createClient(clientConfig(), clientHooks);
  conn.start();
  let step: Step | undefined;
  for (const r of sc.serverHello) step = conn.receiveRecord(r);
  if (step?.status !== 'continue') throw new Error(`scenario drifted: client stopped after the ServerHello (${step?.error?.message})`);
  return feed(name, conn, flightRecords(data, sc.serverHandshakeSecret));
});

export const tlsServerFlight = engineTarget('tls-server-flight', "a server engine past its deterministic ServerHello and flight, fed the client's encrypted flight", (name, data) => {
  const sc = scenario();
  const conn = createServer(serverConfig(), serverHooks);
  conn.start();
  const step = conn.receiveRecord(sc.clientHello);
  if (step.status !== 'continue') throw new Error(`scenario drifted: server stopped after the ClientHello (${step.error?.message})`);
  // The client's compatibility CCS comes first, as it would on the wire.
  return feed(name, conn, [Buffer.from([20, 3, 3, 0, 1, 1]), ...flightRecords(data, sc.clientHandshakeSecret)]);
});
