/**
 * Handing a net.Socket's fd to the agent and taking it back: Node must not read while the agent
 * works on the socket, and afterwards the socket reads again, through the kTLS record engine when
 * kTLS was installed.
 */
import type net from 'node:net';
import { socketHandle } from '../sys/socket-fd';
import { type KtlsEngine, type RecordSource, adoptKtlsSocket } from './ktls-stream';

/**
 * The fd of a connected net.Socket, with Node's reading stopped: every byte the peer sends
 * during the handshake belongs to the agent, and after it to kTLS.
 */
export function takeSocketFd(socket: net.Socket): { fd: number; restore: (ktls?: RecordSource) => KtlsEngine | undefined } {
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
    restore: (ktls) => {
      if (ktls && !socket.destroyed) {
        // kTLS is on: Node's read(2) would fail at the first ticket or alert (EIO), so the
        // socket now reads and writes record by record through the engine instead.
        const engine = adoptKtlsSocket(socket, ktls);
        if (!wasPaused) socket.resume();
        return engine;
      }
      // resume() alone does not restart a libuv read stopped above (the stream still counts its
      // earlier read as pending), and a socket left paused is never read: either way the
      // docs/client.md example printed nothing and exited 0 on the real kernel.
      if (wasReading && handle.readStart && !handle.reading && !socket.destroyed) {
        handle.reading = true;
        const err = handle.readStart();
        if (err) socket.destroy(new Error(`cannot restart reading the socket after the handshake (${err})`));
      }
      if (!wasPaused) socket.resume();
      return undefined;
    },
  };
}

