import fs from 'node:fs';
import net from 'node:net';
import { socketFd, stopReading } from '../../src/sys/socket-fd';

describe('socketFd', () => {
  it('returns the fd under a connected socket and a listening server, and throws ENOSOCKFD once destroyed', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise<void>((r, j) => client.once('connect', r).once('error', j));
    const peer = await accepted;
    try {
      for (const s of [client, server]) {
        const fd = socketFd(s);
        expect(fs.fstatSync(fd).isSocket()).toBe(true);
      }
      expect(socketFd(client)).not.toBe(socketFd(server));
      expect(stopReading(peer)).toBe(true);
      expect(peer.isPaused()).toBe(true);
      client.destroy();
      expect(() => socketFd(client)).toThrow(expect.objectContaining({ code: 'ENOSOCKFD' }));
      expect(() => socketFd(new net.Socket())).toThrow(/no file descriptor/);
    } finally {
      client.destroy();
      peer.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
