/**
 * Rejected 0-RTT through the whole agent (RFC 8446 §4.2.10): a client offers early_data and sends
 * 0-RTT records the server cannot read; the agent skips them, completes the handshake, and its
 * exact reader still stops at the client's Finished, so the record the client wrote right after
 * it is left in the kernel for the consumer.
 */
import { createClient } from '../../src/tls';
import { Status } from '../../src/agent/request';
import * as libc from '../../src/sys/libc';
import { SocketRecordIO } from '../helpers/record-io';
import { trust } from '../helpers/pki';
import { record } from '../helpers/tls-bytes';
import { consumerServer, startDirectAgent, type DirectAgent } from './agent';
import { closing } from '../agent/harness';

jest.setTimeout(60000);

describe('rejected 0-RTT through the agent', () => {
  let agent: DirectAgent;
  afterEach(async () => agent?.stop());

  it('skips the early records, finishes, and leaves the bytes after the client Finished unread', async () => {
    agent = await startDirectAgent();
    await closing(await consumerServer(), async (srv) => {
      const { peer, consumer, fd } = await srv.pair();
      const result = agent.submit({ fd, role: 'server' });
      const client = createClient(
        { serverName: 'localhost', trust: trust() },
        { clientHelloExtensions: (exts, retry) => (retry ? exts : [...exts, { type: 42, body: Buffer.alloc(0) }]) },
      );
      const io = new SocketRecordIO(peer);
      let step = client.start();
      // The ClientHello, then what a 0-RTT client sends next: records under its early key.
      await io.write(Buffer.concat([step.send, record(23, Buffer.alloc(1200, 0x5a)), record(23, Buffer.alloc(400, 0x5b))]));
      while (step.status === 'continue') step = client.receiveRecord(await io.readRecord(20000));
      expect(step.status).toBe('done');
      // The client's flight and, in the same write, one record that belongs to the consumer.
      const tail = record(23, Buffer.alloc(100, 0x77));
      await io.write(Buffer.concat([step.send, tail]));
      const r = await result;
      expect(r.status).toBe(Status.OK);
      await new Promise((res) => setTimeout(res, 100));
      expect(libc.bytesReadable(fd)).toBe(tail.length);
      consumer.destroy();
    });
  });
});
