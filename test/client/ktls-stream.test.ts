/**
 * The kTLS stream's record handling, against a simulated record stream (test/helpers/sim-records):
 * what a peer's tickets, alerts, KeyUpdate and close_notify do to the reader, and that writes,
 * backpressure, end(), half-close, pipe(), setTimeout and destroy() behave as on a net.Socket.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KtlsSocket, KtlsStreamError, adoptKtlsSocket, kTlsState, type RecordSource } from '../../src/client/ktls-stream';
import { Errno } from '../../src/sys/errno';
import { SysError, tcpLoopbackPair } from '../../src/sys/libc';
import { takeSocketFd } from '../../src/client/socket-handoff';
import { SimPeer, SimSource, closeQuietly, simPair } from '../helpers/sim-records';
import { openFds } from '../helpers/fds';

const HANDSHAKE = 22;
const ALERT = 21;
const DATA = 23;
/** A NewSessionTicket the way OpenSSL sends them: type 4, 24-bit length, body. */
const ticket = (n = 200): Buffer => {
  const body = randomBytes(n);
  const h = Buffer.alloc(4);
  h[0] = 4;
  h.writeUIntBE(n, 1, 3);
  return Buffer.concat([h, body]);
};
const KEY_UPDATE = Buffer.from([24, 0, 0, 1, 0]);

function collect(s: NodeJS.ReadableStream): { chunks: Buffer[]; text: () => string } {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return { chunks, text: () => Buffer.concat(chunks).toString() };
}

function settled(s: KtlsSocket | net.Socket): Promise<{ ended: boolean; error?: Error }> {
  return new Promise((resolve) => {
    let ended = false;
    s.on('end', () => (ended = true));
    s.on('error', (error: Error) => resolve({ ended, error }));
    s.on('close', () => resolve({ ended }));
  });
}

/** A simulated kernel whose recvmsg (`recv`) or sendmsg (`sendRecord`) fails with errno. */
function failingSource(method: 'recv' | 'sendRecord', errno: number): (fd: number) => SimSource {
  return (fd) => {
    const s = new SimSource(fd);
    s[method] = () => {
      throw new SysError(method === 'recv' ? 'recvmsg' : 'sendmsg', errno, 'simulated');
    };
    return s;
  };
}

describe('KtlsSocket over a simulated record stream', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const f of cleanup.splice(0)) f();
  });
  function open(opts: { allowHalfOpen?: boolean; source?: (fd: number) => RecordSource } = {}): { stream: KtlsSocket; peer: SimPeer; source: SimSource } {
    const { fd, source, peer } = simPair();
    const stream = new KtlsSocket(fd, { source: opts.source ? opts.source(fd) : source, allowHalfOpen: opts.allowHalfOpen });
    cleanup.push(() => {
      stream.destroy();
      peer.socket.destroy();
    });
    return { stream, peer, source };
  }

  /** open(), with what the stream delivers (`got`) and how it ends (`done`) watched from the start. */
  function openWatched(opts: Parameters<typeof open>[0] = {}) {
    const opened = open(opts);
    return { ...opened, got: collect(opened.stream), done: settled(opened.stream) };
  }

  it('delivers application data and drops NewSessionTickets, also one split across records', async () => {
    const { stream, peer } = open();
    const got = collect(stream);
    const t2 = ticket(300);
    peer.write(HANDSHAKE, Buffer.concat([ticket(), t2.subarray(0, 100)]));
    peer.write(HANDSHAKE, t2.subarray(100));
    peer.write(DATA, 'hello ');
    peer.write(HANDSHAKE, ticket(50));
    peer.write(DATA, 'world');
    await peer.until(() => got.text() === 'hello world', 'the data');
    expect(stream.stats.handshakeMessagesDropped).toBe(3);
    expect(stream.stats.bytesIn).toBe(11);
  });

  it('close_notify ends the readable side and is answered with a close_notify before the FIN', async () => {
    const { stream, peer, got, done } = openWatched();
    peer.write(DATA, 'bye');
    peer.write(ALERT, Buffer.from([1, 0]));
    const r = await done;
    expect(r.error).toBeUndefined();
    expect(r.ended).toBe(true);
    expect(got.text()).toBe('bye');
    expect(stream.closeNotifyReceived).toBe(true);
    await peer.until(() => peer.ended, 'our FIN');
    expect(peer.records.map((x) => [x.type, ...x.payload])).toEqual([[ALERT, 1, 0]]);
  });

  it('half-close: with allowHalfOpen the application writes after the peer\'s close_notify, and end() sends ours', async () => {
    const { stream, peer } = open({ allowHalfOpen: true });
    const ended = new Promise<void>((r) => stream.once('end', r));
    stream.resume();
    peer.write(ALERT, Buffer.from([1, 0]));
    await ended;
    stream.write('late reply');
    await peer.until(() => peer.data().toString() === 'late reply', 'the reply after their close_notify');
    expect(peer.ended).toBe(false);
    stream.end();
    await peer.until(() => peer.ended, 'our FIN');
    expect(peer.records.at(-1)).toEqual({ type: ALERT, payload: Buffer.from([1, 0]) });
  });

  it('our end() first: close_notify and FIN go out, and reading goes on until the peer\'s close_notify', async () => {
    const { stream, peer, got, done } = openWatched({ allowHalfOpen: true });
    stream.end('request');
    await peer.until(() => peer.ended, 'our FIN');
    expect(peer.records.map((r) => r.type)).toEqual([DATA, ALERT]);
    peer.write(DATA, 'response');
    peer.write(ALERT, Buffer.from([1, 0]));
    expect((await done).error).toBeUndefined();
    expect(got.text()).toBe('response');
  });

  it.each([
    ['after the peer\'s close_notify, a peer that is gone (EPIPE) does not turn the clean end into an error', true],
    ['without the peer\'s close_notify, EPIPE on our close_notify is an error', false],
  ])('%s', async (_what, peerClosesFirst) => {
    const { stream, peer } = open({ source: failingSource('sendRecord', Errno.EPIPE) });
    const done = settled(stream);
    stream.resume();
    if (peerClosesFirst) peer.write(ALERT, Buffer.from([1, 0]));
    else stream.end();
    const r = await done;
    if (peerClosesFirst) {
      expect(r.error).toBeUndefined();
      expect(r.ended).toBe(true);
    } else expect((r.error as SysError).code).toBe('EPIPE');
  });

  it('a fatal alert mid-stream is an error whose code and message name the alert, after the data before it', async () => {
    const { peer, got, done } = openWatched();
    peer.write(DATA, 'partial');
    peer.write(ALERT, Buffer.from([2, 80]));
    peer.write(DATA, 'never');
    const { error } = await done;
    expect(error).toBeInstanceOf(KtlsStreamError);
    expect((error as KtlsStreamError).code).toBe('ERR_TLS_ALERT_INTERNAL_ERROR');
    expect(error!.message).toContain('internal_error (80)');
    expect((error as KtlsStreamError).alert).toEqual({ name: 'internal_error', code: 80, level: 2 });
    expect(got.text()).toBe('partial');
  });

  it('an alert this library has no name for is named by its number', async () => {
    const { stream, peer } = open();
    const done = settled(stream);
    stream.resume();
    peer.write(ALERT, Buffer.from([2, 200]));
    const { error } = await done;
    expect((error as KtlsStreamError).code).toBe('ERR_TLS_ALERT_ALERT_200');
  });

  it('user_canceled is not an error; the close_notify after it ends the stream', async () => {
    const { stream, peer } = open();
    const done = settled(stream);
    stream.resume();
    peer.write(ALERT, Buffer.from([1, 90]));
    peer.write(ALERT, Buffer.from([1, 0]));
    const r = await done;
    expect(r.error).toBeUndefined();
    expect(r.ended).toBe(true);
  });

  it('a KeyUpdate fails the stream with ERR_KTLS_KEY_UPDATE; nothing after it is delivered', async () => {
    const { peer, got, done } = openWatched();
    peer.write(DATA, 'before');
    peer.write(HANDSHAKE, KEY_UPDATE);
    peer.write(DATA, 'garbage under the new key');
    const { error } = await done;
    expect((error as KtlsStreamError).code).toBe('ERR_KTLS_KEY_UPDATE');
    expect(error!.message).toMatch(/KeyUpdate/);
    expect(got.text()).toBe('before');
  });

  /** The error a flowing stream ends with when the kernel's recvmsg fails with `errno`. */
  async function errorWhenRecvFails(errno: number): Promise<Error | undefined> {
    const { stream } = open({ source: failingSource('recv', errno) });
    const done = settled(stream);
    stream.resume();
    return (await done).error;
  }

  it('a kernel that paused reading after a KeyUpdate (EKEYEXPIRED) gives the same named error', async () => {
    const error = await errorWhenRecvFails(Errno.EKEYEXPIRED);
    expect((error as KtlsStreamError).code).toBe('ERR_KTLS_KEY_UPDATE');
  });

  it('a record that failed authentication (EBADMSG) is an error that says so', async () => {
    const error = await errorWhenRecvFails(Errno.EBADMSG);
    expect((error as SysError).code).toBe('EBADMSG');
    expect(error!.message).toMatch(/failed authentication/);
  });

  it.each([
    ['a record type TLS 1.3 does not allow there', 20, Buffer.from([1]), 'ERR_KTLS_UNEXPECTED_RECORD'],
    ['an alert record of the wrong size', ALERT, Buffer.from([2, 80, 0]), 'ERR_KTLS_UNEXPECTED_RECORD'],
    ['a handshake message longer than any ticket', HANDSHAKE, Buffer.from([4, 0x10, 0, 0]), 'ERR_KTLS_MESSAGE_TOO_LONG'],
  ])('%s is a named error', async (_what, type, payload, code) => {
    const { stream, peer } = open();
    const done = settled(stream);
    stream.resume();
    peer.write(type, payload);
    const { error } = await done;
    expect((error as KtlsStreamError).code).toBe(code);
  });

  it('the TCP stream ending without close_notify ends the stream, and closeNotifyReceived says so', async () => {
    const { stream, peer } = open();
    const done = settled(stream);
    stream.resume();
    peer.write(DATA, 'x');
    peer.socket.end();
    const r = await done;
    expect(r.error).toBeUndefined();
    expect(r.ended).toBe(true);
    expect(stream.closeNotifyReceived).toBe(false);
  });

  it('the TCP stream ending inside a handshake message is ERR_KTLS_TRUNCATED', async () => {
    const { stream, peer } = open();
    const done = settled(stream);
    stream.resume();
    peer.write(HANDSHAKE, ticket(100).subarray(0, 40));
    peer.socket.end();
    const { error } = await done;
    expect((error as KtlsStreamError).code).toBe('ERR_KTLS_TRUNCATED');
  });

  it('does not read while idle: one readiness wait, no polling', async () => {
    const { stream, peer, source } = open();
    const got = collect(stream);
    await new Promise((r) => setTimeout(r, 300));
    const idleCalls = source.recvCalls;
    expect(idleCalls).toBeLessThanOrEqual(2);
    peer.write(DATA, 'wake');
    await peer.until(() => got.text() === 'wake', 'the data');
    expect(source.recvCalls - idleCalls).toBeLessThanOrEqual(3);
  });

  it('stops reading while the consumer is paused, and reads the rest on resume', async () => {
    const { stream, peer, source } = open();
    stream.pause();
    const blob = randomBytes(4 << 20);
    peer.writeData(blob);
    await new Promise((r) => setTimeout(r, 300));
    // highWaterMark (16 KiB) and one read of up to a record: far less than was sent.
    expect(stream.readableLength).toBeLessThan(64 * 1024);
    const callsWhilePaused = source.recvCalls;
    await new Promise((r) => setTimeout(r, 200));
    expect(source.recvCalls).toBe(callsWhilePaused);
    const got = collect(stream);
    stream.resume();
    await peer.until(() => Buffer.concat(got.chunks).length === blob.length, 'all data after resume', 15000);
    expect(Buffer.concat(got.chunks).equals(blob)).toBe(true);
  });

  it('backpressure on writes: write() returns false while the peer does not read, and everything arrives in order', async () => {
    const { stream, peer } = open();
    peer.socket.pause();
    const blob = randomBytes(8 << 20);
    let sawFalse = false;
    let off = 0;
    const writeAll = new Promise<void>((resolve) => {
      const more = (): void => {
        while (off < blob.length) {
          const ok = stream.write(blob.subarray(off, off + 65536));
          off += 65536;
          if (!ok) {
            sawFalse = true;
            stream.once('drain', more);
            return;
          }
        }
        resolve();
      };
      more();
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(sawFalse).toBe(true);
    expect(off).toBeLessThan(blob.length);
    peer.socket.resume();
    await writeAll;
    await peer.until(() => peer.data().length === blob.length, 'all data', 20000);
    expect(createHash('sha256').update(peer.data()).digest('hex')).toBe(createHash('sha256').update(blob).digest('hex'));
  });

  it('pipe(): a 16 MiB round trip through an echoing peer keeps its checksum', async () => {
    const { stream, peer } = open();
    // The peer echoes every data record back as it comes.
    peer.socket.on('data', () => {
      for (const r of peer.records.splice(0)) if (r.type === DATA) peer.write(DATA, r.payload);
    });
    const blob = randomBytes(16 << 20);
    const source = new PassThrough();
    const hash = createHash('sha256');
    let got = 0;
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        got += chunk.length;
        if (got === blob.length) stream.end();
        cb();
      },
    });
    const piped = pipeline(stream, sink);
    source.pipe(stream, { end: false });
    source.end(blob);
    // The peer answers our close_notify with its own, which ends the readable side.
    peer.socket.on('end', () => undefined);
    const fin = peer.until(() => peer.ended, 'our FIN', 60000).then(() => peer.write(ALERT, Buffer.from([1, 0])));
    await Promise.all([piped, fin]);
    expect(got).toBe(blob.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(blob).digest('hex'));
  }, 90000);

  it('setTimeout emits timeout after idle time, and activity postpones it', async () => {
    const { stream, peer } = open();
    stream.resume();
    let fired = 0;
    stream.setTimeout(300, () => fired++);
    expect(stream.timeout).toBe(300);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      peer.write(DATA, 'tick');
    }
    expect(fired).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(fired).toBe(1);
  });

  it('destroy() closes the fd it owns and stops watching it; writes after it fail', async () => {
    const before = openFds();
    const { fd, source, peer } = simPair();
    const stream = new KtlsSocket(fd, { source });
    stream.resume();
    const closed = new Promise<void>((r) => stream.once('close', r));
    stream.destroy();
    await closed;
    peer.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(openFds()).toBe(before);
    await expect(new Promise((resolve, reject) => stream.write('x', (e) => (e ? reject(e) : resolve(undefined))))).rejects.toThrow();
  });

  it('ownsFd: false leaves the fd open', async () => {
    const { fd, source, peer } = simPair();
    const stream = new KtlsSocket(fd, { source, ownsFd: false });
    const closed = new Promise<void>((r) => stream.once('close', r));
    stream.destroy();
    await closed;
    expect(fs.existsSync(`/proc/self/fd/${fd}`)).toBe(true);
    closeQuietly(fd);
    peer.socket.destroy();
  });
});

describe('adoptKtlsSocket: a net.Socket that reads records after the handshake', () => {
  it('the docs/client.md usage (on data, write a string, the peer closes) works through tickets and close_notify', async () => {
    const [a, b] = tcpLoopbackPair();
    const peer = new SimPeer(new net.Socket({ fd: b, readable: true, writable: true }));
    // What requestHandshake does around the agent's work, with simulated records for the kernel's.
    const sock = new net.Socket({ fd: a, readable: true, writable: true });
    const taken = takeSocketFd(sock);
    expect(taken.fd).toBe(a);
    const engine = taken.restore(new SimSource(a))!;
    const got: Buffer[] = [];
    const closed = new Promise<boolean>((r) => sock.once('close', r));
    let error: Error | undefined;
    sock.on('error', (e) => (error = e));
    peer.write(HANDSHAKE, ticket());
    peer.write(HANDSHAKE, ticket());
    sock.write('GET / HTTP/1.1\r\n\r\n');
    sock.on('data', (d: Buffer) => got.push(d));
    await peer.until(() => peer.data().toString() === 'GET / HTTP/1.1\r\n\r\n', 'the request');
    peer.write(DATA, 'HTTP/1.0 200 ok\r\n\r\npage');
    peer.write(ALERT, Buffer.from([1, 0]));
    // allowHalfOpen is false on net.connect sockets: their end answers ours, then the socket closes.
    expect(await closed).toBe(false);
    expect(error).toBeUndefined();
    expect(Buffer.concat(got).toString()).toBe('HTTP/1.0 200 ok\r\n\r\npage');
    expect(engine.stats.handshakeMessagesDropped).toBe(2);
    expect(engine.closeNotifyReceived).toBe(true);
    expect(kTlsState(sock)).toMatchObject({ closeNotifyReceived: true, closeNotifySent: true, stats: { handshakeMessagesDropped: 2 } });
    expect(kTlsState(peer.socket)).toBeUndefined();
    await peer.until(() => peer.ended, 'the FIN');
    expect(peer.records.at(-1)).toEqual({ type: ALERT, payload: Buffer.from([1, 0]) });
    peer.socket.destroy();
  });

  it('a fatal alert destroys the net.Socket with the named error', async () => {
    const [a, b] = tcpLoopbackPair();
    const peer = new SimPeer(new net.Socket({ fd: b, readable: true, writable: true }));
    const sock = new net.Socket({ fd: a, readable: true, writable: true });
    takeSocketFd(sock).restore(new SimSource(a));
    const err = new Promise<Error>((r) => sock.once('error', r));
    sock.resume();
    peer.write(ALERT, Buffer.from([2, 40]));
    const e = (await err) as KtlsStreamError;
    expect(e.code).toBe('ERR_TLS_ALERT_HANDSHAKE_FAILURE');
    expect(sock.destroyed).toBe(true);
    peer.socket.destroy();
  });
});

describe('adoptKtlsSocket refuses a socket Node still reads', () => {
  it('ERR_KTLS_BUSY, the socket destroyed, instead of a second watcher on the fd', async () => {
    const [a, b] = tcpLoopbackPair();
    const sock = new net.Socket({ fd: a, readable: true, writable: true });
    sock.on('error', () => undefined);
    await new Promise((r) => setImmediate(r));
    expect((sock as unknown as { _handle: { reading: boolean } })._handle.reading).toBe(true);
    expect(() => adoptKtlsSocket(sock, new SimSource(a))).toThrow(expect.objectContaining({ code: 'ERR_KTLS_BUSY' }));
    expect(sock.destroyed).toBe(true);
    closeQuietly(b);
  });
});
