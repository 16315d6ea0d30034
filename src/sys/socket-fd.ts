/**
 * The file descriptor under a Node socket. Node exposes it only through the private `_handle`
 * (libuv's stream wrap): this module is the one place that reads it, so a Node release that
 * changes the handle breaks here, with a clear error, and nowhere else.
 */
import type net from 'node:net';

/** The parts of libuv's stream wrap that the agent and its tests rely on. */
export interface SocketHandle {
  fd?: number;
  /** True while libuv reads into Node's buffer. */
  reading?: boolean;
  readStop?: () => number;
  readStart?: () => number;
}

/** The libuv handle of a socket or server; undefined before connect/listen and after destroy. */
export function socketHandle(socket: net.Socket | net.Server): SocketHandle | undefined {
  return (socket as unknown as { _handle?: SocketHandle | null })._handle ?? undefined;
}

/** The fd of a connected socket (or listening server); throws ENOSOCKFD when there is none. */
export function socketFd(socket: net.Socket | net.Server): number {
  const fd = socketHandle(socket)?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw Object.assign(new Error('the socket has no file descriptor (not connected or listening, destroyed, or not a TCP/unix socket)'), { code: 'ENOSOCKFD' });
  }
  return fd;
}

/**
 * Stop Node reading a socket: pause() alone lets libuv keep reading into Node's buffer, so the
 * libuv read is stopped too. Returns whether libuv was reading, for a caller that restarts it.
 */
export function stopReading(socket: net.Socket): boolean {
  socket.pause();
  const handle = socketHandle(socket);
  const wasReading = handle?.reading === true;
  if (wasReading && handle?.readStop) {
    handle.readStop();
    handle.reading = false;
  }
  return wasReading;
}
