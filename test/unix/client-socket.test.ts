/**
 * The client library hands a net.Socket to the agent and gives it back: Node must not read while
 * the agent owns the socket, and must read again afterwards. The VM showed the second half
 * failing: called from 'connect', as docs/client.md does, the socket stayed paused for good.
 */
import net from 'node:net';
import { requestHandshake } from '../../src/client';
import { Agent } from './harness';

describe('requestHandshake with a net.Socket', () => {
  let agent: Agent;
  beforeAll(async () => {
    agent = await Agent.start();
  });
  afterAll(async () => {
    await agent.stop();
  });

  it('called from the connect listener: nothing is read during the handshake, and the socket reads afterwards', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const received: Buffer[] = [];
    sock.on('data', (d) => received.push(d));
    sock.on('error', () => undefined); // the peer's destroy() may reset a socket that still holds unread bytes
    try {
      const peer = await accepted;
      peer.on('error', () => undefined);
      // The agent "owns" the socket while this behaviour runs: the peer writes now, and the
      // bytes must stay in the kernel for the agent rather than reach Node.
      agent.behaviour = async () => {
        peer.write('during');
        await new Promise((r) => setTimeout(r, 200));
        expect(received).toHaveLength(0);
        return { status: 0, remoteAuth: [] };
      };
      const reply = await new Promise<Awaited<ReturnType<typeof requestHandshake>>>((resolve, reject) => {
        const go = () => requestHandshake(sock, { role: 'client', auth: 'unauth', peername: 'localhost' }, { agentSocket: agent.name }).then(resolve, reject);
        if (sock.connecting) sock.once('connect', go);
        else go();
      });
      expect(reply.status).toBe(0);
      peer.write('after');
      const deadline = Date.now() + 5000;
      while (Buffer.concat(received).toString() !== 'duringafter' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // Everything the agent left unread, then what came later: the caller reads its socket again.
      expect(Buffer.concat(received).toString()).toBe('duringafter');
      peer.destroy();
    } finally {
      sock.destroy();
      server.close();
    }
  });
});
