import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { openFds } from '../helpers/fds';
import {
  SeqpacketClient,
  accept,
  bind,
  connect,
  listen,
  seqpacketSocket,
  SeqpacketConn,
  SeqpacketMessage,
  SeqpacketServer,
  recvmsg,
  recvScratch,
  sendmsg,
  unixAddress,
} from '../../src/sys/unix';
import {
  AF_UNIX,
  FD_CLOEXEC,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  close,
  getFdFlags,
  isFdOpen,
  socketpair,
} from '../../src/sys/libc';


const uniqueName = (): string => `@handshaked-test-${process.pid}-${randomBytes(6).toString('hex')}`;

function nextMessage(conn: SeqpacketConn): Promise<SeqpacketMessage> {
  return new Promise((resolve) => conn.once('message', resolve));
}
function closed(conn: SeqpacketConn): Promise<Error | undefined> {
  return new Promise((resolve) => conn.once('close', resolve));
}
function nextConnection(server: SeqpacketServer): Promise<SeqpacketConn> {
  return new Promise((resolve) => server.once('connection', resolve));
}

/** A pipe via a unix socketpair: [read end, write end] would need pipe(2); a socketpair does the job. */
function streamPair(): [number, number] {
  return socketpair(AF_UNIX, 1 | SOCK_CLOEXEC);
}

describe('raw SEQPACKET syscalls', () => {
  test('sockaddr_un for paths and abstract names', () => {
    const a = unixAddress('@abc');
    expect(a.length).toBe(2 + 1 + 3);
    expect(a.subarray(2)).toEqual(Buffer.from('\0abc', 'latin1'));
    const p = unixAddress('/run/x.sock');
    expect(p.length).toBe(2 + 11 + 1);
    expect(p[p.length - 1]).toBe(0);
    expect(() => unixAddress('/' + 'x'.repeat(200))).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
  });

  test('sendmsg/recvmsg carry several fds, received with CLOEXEC; EAGAIN is undefined', () => {
    const before = openFds();
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK);
    const [p1r, p1w] = streamPair();
    const [p2r, p2w] = streamPair();
    try {
      expect(recvmsg(b)).toBeUndefined();
      expect(sendmsg(a, Buffer.from('two fds'), [p1w, p2w])).toBe(7);
      const m = recvmsg(b);
      expect(m).toBeTruthy();
      expect(m!.data.toString()).toBe('two fds');
      expect(m!.truncated).toBe(false);
      expect(m!.fds).toHaveLength(2);
      for (const f of m!.fds) expect(getFdFlags(f) & FD_CLOEXEC).toBe(FD_CLOEXEC);
      // the received fds are the same sockets: write through them, read at the other ends
      fs.writeSync(m!.fds[0], 'one');
      fs.writeSync(m!.fds[1], 'two');
      const buf = Buffer.alloc(10);
      expect(buf.subarray(0, fs.readSync(p1r, buf)).toString()).toBe('one');
      expect(buf.subarray(0, fs.readSync(p2r, buf)).toString()).toBe('two');
      m!.fds.forEach(close);
    } finally {
      [a, b, p1r, p1w, p2r, p2w].forEach(close);
    }
    expect(openFds()).toBe(before);
  });

  test('truncated messages report truncated and close the fds they carried', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK);
    const [pr, pw] = streamPair();
    try {
      sendmsg(a, Buffer.alloc(100, 7), [pw]);
      close(pw);
      const m = recvmsg(b, recvScratch(10));
      expect(m).toMatchObject({ truncated: true, fds: [] });
      expect(m!.data.length).toBe(10);
      // the only remaining copy of the write end was the received one: it was closed → EOF
      expect(fs.readSync(pr, Buffer.alloc(4))).toBe(0);
      // control-part truncation: two fds but room for one
      const [qr, qw] = streamPair();
      sendmsg(a, Buffer.from('x'), [qw, qw]);
      close(qw);
      const m2 = recvmsg(b, recvScratch(100, 1));
      expect(m2).toMatchObject({ truncated: true, fds: [] });
      expect(fs.readSync(qr, Buffer.alloc(4))).toBe(0);
      close(qr);
    } finally {
      [a, b, pr].forEach(close);
    }
  });

  test('end of stream is null', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK);
    close(a);
    expect(recvmsg(b)).toBeNull();
    close(b);
  });
});

describe('SeqpacketServer / SeqpacketClient', () => {
  test('abstract name: connect, peer credentials, messages both ways, close', async () => {
    const name = uniqueName();
    const server = SeqpacketServer.listen(name);
    expect(server.address()).toBe(name);
    const accepted = nextConnection(server);
    const client = await SeqpacketClient.connect(name);
    const conn = await accepted;
    expect(conn.peerCred).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    expect(client.peerCred.pid).toBe(process.pid);

    const got = nextMessage(conn);
    await client.send(Buffer.from('hello'));
    expect((await got).data.toString()).toBe('hello');
    const reply = nextMessage(client);
    await conn.send(Buffer.from('world'));
    expect((await reply).data.toString()).toBe('world');

    const serverSide = closed(conn);
    client.close();
    expect(await serverSide).toBeUndefined();
    expect(conn.isClosed).toBe(true);
    expect(isFdOpen(conn.fd)).toBe(false);
    expect(isFdOpen(client.fd)).toBe(false);
    server.close();
    expect(isFdOpen(server.fd)).toBe(false);
  });

  test('a connection reads with its maxMessage and maxFds: larger messages and more fds arrive truncated, their fds closed', async () => {
    const name = uniqueName();
    const server = SeqpacketServer.listen(name, { maxMessage: 8, maxFds: 1 });
    const accepted = nextConnection(server);
    const client = await SeqpacketClient.connect(name);
    const conn = await accepted;
    const [pr, pw] = streamPair();
    const [qr, qw] = streamPair();
    try {
      const got: SeqpacketMessage[] = [];
      conn.on('message', (m: SeqpacketMessage) => got.push(m));
      await client.send(Buffer.from('exactly8'), [pw]);
      await client.send(Buffer.from('nine byte'));
      await client.send(Buffer.from('two'), [qw, qw]);
      close(qw);
      for (let i = 0; i < 200 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
      expect(got.map((m) => [m.data.toString(), m.fds.length, m.dataTruncated, m.controlTruncated, m.fdsReceived])).toEqual([
        ['exactly8', 1, false, false, 1],
        ['nine byt', 0, true, false, 0],
        ['two', 0, false, true, 1],
      ]);
      close(got[0].fds[0]);
      // the one received copy of qw was closed by the receiver: EOF at qr
      expect(fs.readSync(qr, Buffer.alloc(4))).toBe(0);
    } finally {
      [pr, pw, qr].forEach(close);
      client.close();
      conn.close();
      server.close();
    }
  });

  test('path socket: mode, stale replacement, unlink on close; missing path is ENOENT', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-unix-'));
    const sock = path.join(dir, 'upcall.sock');
    try {
      const s1 = SeqpacketServer.listen(sock, { mode: 0o660 });
      expect(fs.statSync(sock).isSocket()).toBe(true);
      expect(fs.statSync(sock).mode & 0o777).toBe(0o660);
      expect(() => SeqpacketServer.listen(sock)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
      const s2 = SeqpacketServer.listen(sock, { replace: true });
      s1.close(); // must not unlink s2's socket
      expect(fs.statSync(sock).isSocket()).toBe(true);
      const c = await SeqpacketClient.connect(sock);
      c.close();
      s2.close();
      expect(fs.existsSync(sock)).toBe(false);
      await expect(SeqpacketClient.connect(sock)).rejects.toMatchObject({ code: 'ENOENT', syscall: 'connect' });
      fs.writeFileSync(sock, 'not a socket');
      expect(() => SeqpacketServer.listen(sock, { replace: true })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('connect waits while the listen backlog is full, then completes', async () => {
    const name = uniqueName();
    const lfd = seqpacketSocket();
    const extra: number[] = [];
    try {
      bind(lfd, name);
      listen(lfd, 0);
      // fill the backlog with raw connects until the kernel says EAGAIN
      let full = false;
      for (let i = 0; i < 16 && !full; i++) {
        const fd = seqpacketSocket();
        extra.push(fd);
        try {
          await connect(fd, name, 0);
        } catch (e) {
          expect(e).toMatchObject({ code: 'ETIMEDOUT' });
          full = true;
        }
      }
      expect(full).toBe(true);
      let connected = false;
      const pending = SeqpacketClient.connect(name).then((c) => {
        connected = true;
        return c;
      });
      await new Promise((r) => setTimeout(r, 30));
      expect(connected).toBe(false);
      // make room: the retry loop gets in
      for (let fd = accept(lfd); fd !== undefined; fd = accept(lfd)) extra.push(fd);
      const conn = await pending;
      expect(conn.peerCred.pid).toBe(process.pid);
      conn.close();
    } finally {
      for (const fd of extra) close(fd);
      close(lfd);
    }
  });

  test('connect to an abstract name nobody listens on is ECONNREFUSED', async () => {
    await expect(SeqpacketClient.connect(uniqueName())).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  test('fds travel with messages through the server', async () => {
    const name = uniqueName();
    const server = SeqpacketServer.listen(name);
    const accepted = nextConnection(server);
    const client = await SeqpacketClient.connect(name);
    const conn = await accepted;
    const [pr, pw] = streamPair();
    try {
      const got = nextMessage(conn);
      await client.send(Buffer.from('take this'), [pw]);
      close(pw);
      const m = await got;
      expect(m.fds).toHaveLength(1);
      fs.writeSync(m.fds[0], 'through the passed fd');
      close(m.fds[0]);
      const buf = Buffer.alloc(64);
      expect(buf.subarray(0, fs.readSync(pr, buf)).toString()).toBe('through the passed fd');
    } finally {
      close(pr);
      client.close();
      conn.close();
      server.close();
    }
  });

  test('many connections, many messages each, echoed in order', async () => {
    const name = uniqueName();
    const server = SeqpacketServer.listen(name);
    const conns: SeqpacketConn[] = [];
    server.on('connection', (c: SeqpacketConn) => {
      conns.push(c);
      c.on('message', (m: SeqpacketMessage) => void c.send(m.data));
    });
    const N = 40;
    const M = 25;
    const clients = await Promise.all(Array.from({ length: N }, () => SeqpacketClient.connect(name)));
    const results = await Promise.all(
      clients.map(
        (cl, i) =>
          new Promise<string[]>((resolve) => {
            const seen: string[] = [];
            cl.on('message', (m: SeqpacketMessage) => {
              seen.push(m.data.toString());
              if (seen.length === M) resolve(seen);
            });
            for (let j = 0; j < M; j++) void cl.send(Buffer.from(`c${i}m${j}`));
          }),
      ),
    );
    results.forEach((seen, i) => expect(seen).toEqual(Array.from({ length: M }, (_, j) => `c${i}m${j}`)));
    expect(conns).toHaveLength(N);
    const allClosed = Promise.all(conns.map(closed));
    clients.forEach((c) => c.close());
    await allClosed;
    server.close();
    for (const c of [...conns, ...clients]) expect(c.isClosed).toBe(true);
    expect(new Set(conns.map((c) => c.fd)).size).toBe(N);
  });

  test('a consumer that stops reading does not stall the others', async () => {
    const name = uniqueName();
    const server = SeqpacketServer.listen(name);
    const conns: SeqpacketConn[] = [];
    server.on('connection', (c: SeqpacketConn) => conns.push(c));
    const stalled = await SeqpacketClient.connect(name);
    const healthy = await SeqpacketClient.connect(name);
    while (conns.length < 2) await new Promise((r) => setImmediate(r));
    stalled.pause();
    const [toStalled, toHealthy] = conns;
    // Fill the stalled peer's receive queue until a send has to wait for writability.
    const big = Buffer.alloc(32768, 1);
    let blocked: Promise<void> | undefined;
    let settled = false;
    for (let i = 0; i < 1000 && !blocked; i++) {
      const p = toStalled.send(big);
      let done = false;
      p.then(() => (done = true), () => (done = true));
      await new Promise((r) => setImmediate(r));
      if (!done) {
        blocked = p;
        p.then(() => (settled = true), () => (settled = true));
      }
    }
    expect(blocked).toBeDefined();
    // The healthy consumer still gets its replies while the stalled one has a send pending.
    for (let i = 0; i < 5; i++) {
      const got = nextMessage(healthy);
      await toHealthy.send(Buffer.from(`ping ${i}`));
      expect((await got).data.toString()).toBe(`ping ${i}`);
    }
    expect(settled).toBe(false);
    // Once the stalled consumer reads again, the queued send completes.
    let drained = 0;
    stalled.on('message', () => drained++);
    stalled.resume();
    await blocked;
    expect(drained).toBeGreaterThan(0);
    // Closing with sends queued rejects them instead of leaving them hanging.
    stalled.pause();
    let pending: Promise<unknown> | undefined;
    for (let i = 0; i < 1000 && !pending; i++) {
      let done = false;
      const p = toStalled.send(big).then(
        () => (done = true),
        (e: unknown) => e,
      );
      await new Promise((r) => setImmediate(r));
      if (!done) pending = p;
    }
    expect(pending).toBeDefined();
    toStalled.close();
    expect(await pending).toMatchObject({ code: 'EPIPE' });
    await expect(toStalled.send(big)).rejects.toMatchObject({ code: 'EBADF' });
    stalled.close();
    healthy.close();
    toHealthy.close();
    server.close();
  });
});
