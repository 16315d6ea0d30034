import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { SocketReader, SocketReaderError } from '../../src/agent/socket-reader';
import {
  AF_UNIX,
  MSG_DONTWAIT,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  bytesReadable,
  close,
  dup,
  isFdOpen,
  recv,
  socketpair,
  tcpLoopbackPair,
} from '../../src/sys/libc';
import { recvmsg, sendmsg } from '../../src/sys/unix';
import { MAX_RECORD_BODY } from '../../src/tls/api';
import { socketFd } from '../../src/sys/socket-fd';
import { rejectedWith } from '../helpers/thrown';

interface Harness {
  /** The agent side: Node never reads this socket; its fd plays the kernel's fd. */
  agent: net.Socket;
  agentFd: number;
  /** The TLS peer, a plain Node socket. */
  peer: net.Socket;
  reader: SocketReader;
  cleanup: () => Promise<void>;
}

async function harness(): Promise<Harness> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const agent = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  agent.pause(); // before connect completes: Node never issues a read on this socket
  await new Promise<void>((r) => agent.once('connect', () => r()));
  const peer = await accepted;
  peer.on('error', () => undefined);
  peer.setNoDelay(true); // dribbled writes must leave as separate segments
  const agentFd = socketFd(agent);
  const reader = new SocketReader(dup(agentFd));
  return {
    agent,
    agentFd,
    peer,
    reader,
    cleanup: async () => {
      reader.close();
      await reader.whenClosed();
      agent.destroy();
      peer.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const record = (type: number, body: Buffer): Buffer => {
  const h = Buffer.alloc(5);
  h[0] = type;
  h.writeUInt16BE(0x0303, 1);
  h.writeUInt16BE(body.length, 3);
  return Buffer.concat([h, body]);
};
const bodyOf = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

/** Wait until the agent's socket has `n` bytes queued (the peer's write has fully arrived). */
async function queued(fd: number, n: number): Promise<number> {
  for (let i = 0; i < 500 && bytesReadable(fd) < n; i++) await new Promise((r) => setTimeout(r, 10));
  // one more turn of the loop: a stray read(2) would have happened by now
  await new Promise((r) => setImmediate(r));
  return bytesReadable(fd);
}

const rejection = (p: Promise<unknown>): Promise<SocketReaderError> => rejectedWith(SocketReaderError, p);

describe('SocketReader', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  test('reads exactly one handshake record and leaves the application record in the kernel', async () => {
    const hs = record(22, bodyOf(300, 1));
    const app = record(23, bodyOf(200, 2));
    h.peer.write(Buffer.concat([hs, app])); // ONE write
    const got = await h.reader.readRecord();
    h.reader.pause();
    expect(got).toEqual(hs);
    expect(await queued(h.agentFd, app.length)).toBe(app.length);
    // a fresh recv on the original fd gets the application record, byte for byte
    const buf = Buffer.alloc(1000);
    const n = recv(h.agentFd, buf, MSG_DONTWAIT);
    expect(buf.subarray(0, n)).toEqual(app);
  });

  test('several records in one write, read one at a time; the rest stays queued', async () => {
    const recs = [record(22, bodyOf(90, 3)), record(22, bodyOf(16384, 4)), record(20, Buffer.from([1])), record(23, bodyOf(40, 5))];
    h.peer.write(Buffer.concat(recs));
    for (let i = 0; i < 3; i++) expect(await h.reader.readRecord()).toEqual(recs[i]);
    h.reader.pause();
    expect(await queued(h.agentFd, recs[3].length)).toBe(recs[3].length);
  });

  test('a maximum-size body and an empty body', async () => {
    const big = record(23, bodyOf(MAX_RECORD_BODY, 6));
    const empty = record(23, Buffer.alloc(0));
    h.peer.write(Buffer.concat([big, empty, record(22, bodyOf(10, 7))]));
    expect(await h.reader.readRecord()).toEqual(big);
    expect(await h.reader.readRecord()).toEqual(empty);
    expect(await queued(h.agentFd, 15)).toBe(15);
  });

  test('dribbled bytes (short reads) still assemble exact records', async () => {
    const hs = record(22, bodyOf(250, 8));
    const next = record(23, bodyOf(60, 9));
    const all = Buffer.concat([hs, next]);
    const pieces = [3, 2, 100, 1, 99, 50, all.length - 255];
    const read = h.reader.readRecord();
    let off = 0;
    for (const len of pieces) {
      h.peer.write(all.subarray(off, off + len));
      off += len;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await read).toEqual(hs);
    h.reader.pause();
    expect(await queued(h.agentFd, next.length)).toBe(next.length);
  });

  test('an oversized length is rejected before any body byte is read', async () => {
    const header = Buffer.from([22, 3, 3, 0, 0]);
    header.writeUInt16BE(MAX_RECORD_BODY + 1, 3);
    h.peer.write(Buffer.concat([header, bodyOf(100, 10)]));
    const err = await rejection(h.reader.readRecord());
    expect(err.code).toBe('RECORD_OVERFLOW');
    expect(err.message).toContain(`${MAX_RECORD_BODY + 1}`);
    expect(await queued(h.agentFd, 100)).toBe(100);
    // the failure is sticky
    expect((await rejection(h.reader.readRecord())).code).toBe('RECORD_OVERFLOW');
  });

  test('EOF in the middle of the header', async () => {
    h.peer.end(Buffer.from([22, 3, 3]));
    const err = await rejection(h.reader.readRecord());
    expect(err.code).toBe('EOF_MID_RECORD');
    expect(err.message).toContain('after 3 of 5 header bytes');
  });

  test('EOF in the middle of the body', async () => {
    h.peer.end(record(22, bodyOf(100, 11)).subarray(0, 5 + 40));
    const err = await rejection(h.reader.readRecord());
    expect(err.code).toBe('EOF_MID_RECORD');
    expect(err.message).toContain('after 40 of 100 body bytes');
  });

  test('EOF between records', async () => {
    const hs = record(22, bodyOf(20, 12));
    h.peer.end(hs);
    expect(await h.reader.readRecord()).toEqual(hs);
    expect((await rejection(h.reader.readRecord())).code).toBe('EOF');
  });

  test('peer reset', async () => {
    const read = h.reader.readRecord();
    h.peer.write(Buffer.from([22, 3]));
    await new Promise((r) => setTimeout(r, 20));
    h.peer.resetAndDestroy();
    expect((await rejection(read)).code).toBe('ECONNRESET');
  });

  test('write reaches the peer; concurrent reads are refused', async () => {
    const got = new Promise<Buffer>((r) => h.peer.once('data', r));
    await h.reader.write(Buffer.from('client hello'));
    expect((await got).toString()).toBe('client hello');
    const first = h.reader.readRecord();
    expect((await rejection(h.reader.readRecord())).code).toBe('BUSY');
    const hs = record(22, bodyOf(5, 13));
    h.peer.write(hs);
    expect(await first).toEqual(hs);
  });

  test('pause() while a read is pending rejects it and keeps the partial record', async () => {
    const hs = record(22, bodyOf(80, 14));
    const read = h.reader.readRecord();
    h.peer.write(hs.subarray(0, 30));
    for (let i = 0; i < 500 && h.reader.buffered < 30; i++) await new Promise((r) => setTimeout(r, 10));
    h.reader.pause();
    expect((await rejection(read)).code).toBe('PAUSED');
    h.peer.write(hs.subarray(30));
    expect(await queued(h.agentFd, 55)).toBe(55); // paused: nothing read
    expect(await h.reader.readRecord()).toEqual(hs);
  });

  test('detach() closes only the dup: the connection stays open, no FIN is sent', async () => {
    let peerEnded = false;
    h.peer.on('end', () => (peerEnded = true));
    const hs = record(22, bodyOf(10, 15));
    const app = record(23, bodyOf(10, 16));
    h.peer.write(Buffer.concat([hs, app]));
    expect(await h.reader.readRecord()).toEqual(hs);
    const finished = h.reader.write(Buffer.from('finished'));
    await h.reader.detach();
    await finished;
    expect(isFdOpen(h.agentFd)).toBe(true);
    expect(await queued(h.agentFd, app.length)).toBe(app.length);
    // the connection still works both ways through the original fd
    const got = new Promise<Buffer>((r) => h.peer.on('data', (d: Buffer) => d.toString().includes('after') && r(d)));
    const extra = dup(h.agentFd);
    try {
      fs.writeSync(extra, 'after detach');
    } finally {
      close(extra);
    }
    expect((await got).toString()).toContain('after detach');
    expect(peerEnded).toBe(false);
    expect((await rejection(h.reader.readRecord())).code).toBe('CLOSED');
  });

  test('an fd that arrived over SCM_RIGHTS (the unix transport path) reads exactly too', async () => {
    const [consumer, peerFd] = tcpLoopbackPair();
    const [ua, ub] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK);
    let reader: SocketReader | undefined;
    let received = -1;
    try {
      sendmsg(ua, Buffer.from('request'), [consumer]);
      const m = recvmsg(ub);
      received = m!.fds[0];
      const hs = record(22, bodyOf(120, 17));
      const app = record(23, bodyOf(33, 18));
      fs.writeSync(peerFd, Buffer.concat([hs, app]));
      reader = new SocketReader(dup(received));
      expect(await reader.readRecord()).toEqual(hs);
      await reader.detach();
      expect(await queued(consumer, app.length)).toBe(app.length);
    } finally {
      reader?.close();
      for (const fd of [consumer, peerFd, ua, ub, received]) if (fd >= 0) close(fd);
    }
  });
  test('a write larger than the socket buffer waits for the peer and arrives whole and in order', async () => {
    const big = randomBytes(8 * 1024 * 1024);
    const tail = Buffer.from('tail');
    const chunks: Buffer[] = [];
    h.peer.pause(); // the peer reads nothing yet: the kernel's buffers fill up
    const first = h.reader.write(big);
    const second = h.reader.write(tail);
    let settled = false;
    void first.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    const all = new Promise<Buffer>((resolve) => {
      let got = 0;
      h.peer.on('data', (d: Buffer) => {
        chunks.push(d);
        got += d.length;
        if (got >= big.length + tail.length) resolve(Buffer.concat(chunks));
      });
    });
    h.peer.resume();
    await Promise.all([first, second]);
    expect((await all).equals(Buffer.concat([big, tail]))).toBe(true);
  });

  test('a write after the peer reset the connection fails with ECONNRESET', async () => {
    h.peer.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 20));
    const err = await rejection(h.reader.write(Buffer.from('too late')));
    expect(err.code).toBe('ECONNRESET');
  });
});

describe('SocketReader on a blocking socket', () => {
  test('never blocks the thread and closes its dup, not the connection', async () => {
    const [agentFd, peerFd] = tcpLoopbackPair(); // blocking sockets, as a consumer may pass them
    const mine = dup(agentFd);
    const reader = new SocketReader(mine);
    try {
      const read = reader.readRecord(); // nothing queued yet: must wait, not block the thread
      let done = false;
      void read.then(() => (done = true));
      await new Promise((r) => setTimeout(r, 20));
      expect(done).toBe(false);
      const hs = record(22, bodyOf(64, 20));
      const app = record(23, bodyOf(20, 21));
      fs.writeSync(peerFd, Buffer.concat([hs, app]));
      expect(await read).toEqual(hs);
      await reader.write(Buffer.from('reply'));
      const buf = Buffer.alloc(16);
      expect(recv(peerFd, buf).valueOf()).toBe(5);
      await reader.detach();
      expect(isFdOpen(mine)).toBe(false);
      expect(await queued(agentFd, app.length)).toBe(app.length);
    } finally {
      reader.close();
      close(agentFd);
      close(peerFd);
    }
  });
});
