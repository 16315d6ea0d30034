/**
 * The client library: ask a running handshaked (unix transport) to run the TLS 1.3 handshake on
 * a connected TCP socket. On status 0 the socket carries kTLS in both directions, so the program
 * reads and writes plaintext on it without linking a TLS library. See docs/client.md.
 */
import type net from 'node:net';
import { AgentConnection, type HandshakeOutcome, type HandshakeParams } from './agent-connection';

export {
  AgentConnection,
  AgentConnectionError,
  AgentRequestError,
  DEFAULT_AGENT_SOCKET,
  type AgentReply,
  type HandshakeOutcome,
  type HandshakeParams,
} from './agent-connection';
import { socketHandle } from '../sys/socket-fd';

export interface RequestOptions {
  /** The agent's socket (default /run/handshaked/upcall.sock; '@name' for the abstract namespace). */
  agentSocket?: string;
  /** Reuse an open connection (many requests may share one) instead of opening one for this call. */
  connection?: AgentConnection;
}

/**
 * The fd of a connected net.Socket, with Node's reading stopped: every byte the peer sends
 * during the handshake belongs to the agent, and after it to kTLS.
 */
function takeSocketFd(socket: net.Socket): { fd: number; restore: () => void } {
  const handle = socketHandle(socket);
  const fd = handle?.fd;
  if (!handle || typeof fd !== 'number' || fd < 0) {
    throw new TypeError('requestHandshake: the socket has no file descriptor (not connected, destroyed, or not a TCP socket)');
  }
  // A client calling this from its 'connect' listener (the documented way) runs before Node
  // starts reading: remember whether the caller had paused it, not only whether libuv read.
  const wasPaused = socket.isPaused();
  socket.pause();
  const wasReading = handle.reading === true;
  if (wasReading && handle.readStop) {
    // net.Socket#pause() alone lets libuv keep reading into Node's buffer; stop the read itself.
    handle.readStop();
    handle.reading = false;
  }
  return {
    fd,
    restore: () => {
      // resume() alone does not restart a libuv read stopped above (the stream still counts its
      // earlier read as pending), and a socket left paused is never read: either way the
      // docs/client.md example printed nothing and exited 0 on the real kernel.
      if (wasReading && handle.readStart && !handle.reading && !socket.destroyed) {
        handle.reading = true;
        const err = handle.readStart();
        if (err) socket.destroy(new Error(`cannot restart reading the socket after the handshake (${err})`));
      }
      if (!wasPaused) socket.resume();
    },
  };
}

/**
 * Run a TLS handshake on `socket` (a connected net.Socket, or the fd of a connected TCP socket)
 * through the agent. Resolves with the agent's DONE: status 0 = success. Rejects with
 * AgentRequestError when the agent refused the request (malformed, not allowed), and with
 * AgentConnectionError when the agent cannot be reached or went away.
 *
 * A net.Socket must not have been read from since the peer could start sending TLS (create it
 * with `pauseOnConnect`, or call this right after 'connect'); it is paused during the handshake
 * and resumed afterwards if it was reading.
 */
export async function requestHandshake(socket: net.Socket | number, params: HandshakeParams, opts: RequestOptions = {}): Promise<HandshakeOutcome> {
  const taken = typeof socket === 'number' ? { fd: socket, restore: () => undefined } : takeSocketFd(socket);
  const conn = opts.connection ?? (await AgentConnection.connect(opts.agentSocket));
  try {
    return await conn.handshake(taken.fd, params);
  } finally {
    if (!opts.connection) conn.close();
    taken.restore();
  }
}
