/** Connected loopback TCP pairs for tests that need a real consumer socket fd. */
import net from 'node:net';
import { socketFd } from '../../src/sys/socket-fd';

export interface TcpPair {
  client: net.Socket;
  server: net.Socket;
  /** The client's fd (owned by its net.Socket; dups of it are independent). */
  fd: number;
  close(): Promise<void>;
}

export async function tcpPair(): Promise<TcpPair> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const port = (listener.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => client.once('connect', r).once('error', j));
  const server = await accepted;
  listener.close();
  const fd = socketFd(client);
  return {
    client,
    server,
    fd,
    close: async () => {
      client.destroy();
      server.destroy();
      await new Promise<void>((r) => listener.close(() => r()));
    },
  };
}
