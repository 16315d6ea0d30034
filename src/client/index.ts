/**
 * The client library: ask a running handshaked (unix transport) to run the TLS 1.3 handshake on
 * a connected TCP socket. On status 0 the socket carries kTLS in both directions, so the program
 * reads and writes plaintext on it without linking a TLS library. See docs/client.md.
 */
import type net from 'node:net';
import { hasKtls } from '../sys/tls-record';
import { AgentConnection, type HandshakeOutcome, type HandshakeParams } from './agent-connection';
import { kernelRecordSource } from './ktls-stream';
import { takeSocketFd } from './socket-handoff';

export {
  AgentConnection,
  AgentConnectionError,
  AgentRequestError,
  DEFAULT_AGENT_SOCKET,
  type AgentReply,
  type HandshakeOutcome,
  type HandshakeParams,
} from './agent-connection';
export {
  KtlsSocket,
  KtlsStreamError,
  kTlsState,
  kTlsStream,
  type KtlsSocketOptions,
  type KtlsStats,
  type KtlsStreamErrorCode,
} from './ktls-stream';

export interface RequestOptions {
  /** The agent's socket (default /run/handshaked/upcall.sock; '@name' for the abstract namespace). */
  agentSocket?: string;
  /** Reuse an open connection (many requests may share one) instead of opening one for this call. */
  connection?: AgentConnection;
}

export interface RequestOutcome extends HandshakeOutcome {
  /**
   * For a net.Socket: the same socket, ready for plaintext. When kTLS is on it reads record by
   * record (tickets dropped, close_notify = end, alerts = errors; see kTlsStream). For an fd:
   * undefined; wrap the fd with kTlsStream(fd) to get the same behaviour.
   */
  socket?: net.Socket;
}

/**
 * Run a TLS handshake on `socket` (a connected net.Socket, or the fd of a connected TCP socket)
 * through the agent. Resolves with the agent's DONE: status 0 = success. Rejects with
 * AgentRequestError when the agent refused the request (malformed, not allowed), and with
 * AgentConnectionError when the agent cannot be reached or went away.
 *
 * A net.Socket must not have been read from since the peer could start sending TLS (create it
 * with `pauseOnConnect`, or call this right after 'connect'); it is paused during the handshake
 * and resumed afterwards if it was reading. On status 0 with kTLS installed, the socket's reads
 * and writes go through the record-aware engine of kTlsStream from then on.
 */
export async function requestHandshake(socket: net.Socket | number, params: HandshakeParams, opts: RequestOptions = {}): Promise<RequestOutcome> {
  const taken = typeof socket === 'number' ? { fd: socket, restore: () => undefined } : takeSocketFd(socket);
  const restore = (ok: boolean): unknown => taken.restore(ok && hasKtls(taken.fd) ? kernelRecordSource(taken.fd) : undefined);
  let outcome: HandshakeOutcome | undefined;
  try {
    const conn = opts.connection ?? (await AgentConnection.connect(opts.agentSocket));
    try {
      outcome = await conn.handshake(taken.fd, params);
    } finally {
      if (!opts.connection) conn.close();
    }
  } finally {
    restore(outcome?.status === 0);
  }
  return typeof socket === 'number' || outcome.status !== 0 ? outcome : { ...outcome, socket };
}
