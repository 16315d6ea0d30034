/**
 * The record reader consumes exactly the records it has handed out, whatever else is queued
 * behind them, and the handshake hands kTLS a socket that starts right after the peer's
 * Finished. Every test here looks at the socket from outside the reader (FIONREAD and recv on
 * the original fd), so a reader that consumes one byte too many or too few fails it (a reader
 * that peeks and consumes lazily was measured against these, docs/bench.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SocketReader, SocketReaderError } from '../../src/agent/socket-reader';
import { MSG_DONTWAIT, bytesReadable, close, dup, recv, tcpLoopbackPair } from '../../src/sys/libc';
import { MAX_RECORD_BODY } from '../../src/tls/api';
import { Daemon } from '../../src/agent/daemon';
import { kernelTransport } from '../../src/agent/kernel-transport';
import { captureTransport } from '../../src/agent/logging';
import { Status } from '../../src/agent/request';
import { defaultHandshakeEnv } from '../../src/agent/runtime';
import { FakeHandshakeLink, FakeKernel } from '../../src/netlink/fake-kernel';
import { configText, consumerListener, tlsClient } from './harness';
import { rejectedWith } from '../helpers/thrown';
import { record } from '../helpers/tls-bytes';

const bodyOf = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff));
/** recv(2) flag: look at the queued bytes without consuming them (Linux). */
const MSG_PEEK = 0x2;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Wait until `n` bytes are queued on fd (the peer's writes have arrived), then one more turn. */
async function arrived(fd: number, n: number): Promise<void> {
  for (let i = 0; i < 500 && bytesReadable(fd) < n; i++) await new Promise((r) => setTimeout(r, 10));
  expect(bytesReadable(fd)).toBeGreaterThanOrEqual(n);
  await tick();
}

/** Everything queued on fd, read (consumed) by someone other than the reader. */
function drain(fd: number): Buffer {
  const out: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = recv(fd, buf, MSG_DONTWAIT);
    } catch {
      break; // EAGAIN: nothing more queued
    }
    if (n <= 0) break;
    out.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(out);
}

/** Write all of data to a blocking fd. */
function send(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off);
}

describe('SocketReader consumes exactly what it handed out', () => {
  let agentFd: number;
  let peerFd: number;
  let reader: SocketReader;
  beforeEach(() => {
    [agentFd, peerFd] = tcpLoopbackPair();
    reader = new SocketReader(dup(agentFd));
  });
  afterEach(() => {
    reader.close();
    close(agentFd);
    if (peerFd >= 0) close(peerFd);
  });
  const closePeer = (): void => {
    close(peerFd);
    peerFd = -1;
  };

  test('several records and trailing application bytes: records one by one, then detach leaves the trailing bytes byte-exact', async () => {
    const recs = [record(22, bodyOf(120, 1)), record(20, Buffer.from([1])), record(23, bodyOf(53, 2))];
    const trailing = Buffer.concat([record(23, bodyOf(700, 3)), Buffer.from('partial-app')]);
    send(peerFd, Buffer.concat([...recs, trailing]));
    await arrived(agentFd, recs.reduce((n, r) => n + r.length, 0) + trailing.length);
    for (const r of recs) expect(await reader.readRecord()).toEqual(r);
    await reader.detach();
    expect(bytesReadable(agentFd)).toBe(trailing.length);
    expect(drain(agentFd)).toEqual(trailing);
  });

  test.each([0, 1, 2, 3])('detach after %i of 4 queued records leaves the others queued, byte-exact', async (n) => {
    const recs = [record(22, bodyOf(90, 4)), record(22, bodyOf(4000, 5)), record(20, Buffer.from([1])), record(23, bodyOf(40, 6))];
    send(peerFd, Buffer.concat(recs));
    await arrived(agentFd, recs.reduce((s, r) => s + r.length, 0));
    for (let i = 0; i < n; i++) expect(await reader.readRecord()).toEqual(recs[i]);
    await reader.detach();
    expect(drain(agentFd)).toEqual(Buffer.concat(recs.slice(n)));
  });

  test('close() right after the last record (what the handshake does before kTLS) consumes it and nothing else', async () => {
    const fin = record(23, bodyOf(53, 7));
    const app = record(23, bodyOf(300, 8));
    send(peerFd, Buffer.concat([record(20, Buffer.from([1])), fin, app]));
    await arrived(agentFd, 6 + fin.length + app.length);
    await reader.readRecord();
    expect(await reader.readRecord()).toEqual(fin);
    reader.close(); // synchronously: no turn of the loop in between
    expect(drain(agentFd)).toEqual(app);
  });

  test('left alone after two records, only the third is queued, and the next read still hands it out', async () => {
    const recs = [record(22, bodyOf(50, 9)), record(22, bodyOf(60, 10))];
    const rest = record(23, bodyOf(70, 11));
    send(peerFd, Buffer.concat([...recs, rest]));
    await arrived(agentFd, recs[0].length + recs[1].length + rest.length);
    expect(await reader.readRecord()).toEqual(recs[0]);
    expect(await reader.readRecord()).toEqual(recs[1]);
    await tick();
    expect(bytesReadable(agentFd)).toBe(rest.length);
    expect(await reader.readRecord()).toEqual(rest);
  });

  test('a record that arrives in two parts is assembled; what follows it stays queued', async () => {
    const first = record(22, bodyOf(200, 12));
    const second = record(22, bodyOf(3000, 13));
    const after = record(23, bodyOf(25, 14));
    send(peerFd, Buffer.concat([first, second.subarray(0, 1000)]));
    await arrived(agentFd, first.length + 1000);
    expect(await reader.readRecord()).toEqual(first);
    const read = reader.readRecord();
    await new Promise((r) => setTimeout(r, 20));
    send(peerFd, Buffer.concat([second.subarray(1000), after]));
    expect(await read).toEqual(second);
    await reader.detach();
    await arrived(agentFd, after.length);
    expect(drain(agentFd)).toEqual(after);
  });

  test('three maximum-size records and forty small ones in one write, then trailing bytes', async () => {
    const big = [0, 1, 2].map((i) => record(23, bodyOf(MAX_RECORD_BODY, 20 + i)));
    const small = Array.from({ length: 40 }, (_, i) => record(22, bodyOf(i % 3, i)));
    const trailing = record(23, bodyOf(33, 30));
    const all = Buffer.concat([...big, ...small, trailing]);
    send(peerFd, all);
    await arrived(agentFd, all.length);
    for (const r of [...big, ...small]) expect(await reader.readRecord()).toEqual(r);
    await reader.detach();
    expect(drain(agentFd)).toEqual(trailing);
  });

  test('EOF in the middle of a record queued behind complete ones: those are handed out, then EOF_MID_RECORD', async () => {
    const first = record(22, bodyOf(40, 15));
    const cut = record(22, bodyOf(100, 16)).subarray(0, 5 + 30);
    send(peerFd, Buffer.concat([first, cut]));
    closePeer(); // FIN: nothing unread on the peer's side
    expect(await reader.readRecord()).toEqual(first);
    const err = await rejectedWith(SocketReaderError, reader.readRecord());
    expect(err.code).toBe('EOF_MID_RECORD');
    expect(err.message).toContain('after 30 of 100 body bytes');
  });

  test('EOF right after complete records: each is handed out, then EOF', async () => {
    const recs = [record(22, bodyOf(10, 17)), record(23, bodyOf(20, 18))];
    send(peerFd, Buffer.concat(recs));
    closePeer(); // FIN: nothing unread on the peer's side
    for (const r of recs) expect(await reader.readRecord()).toEqual(r);
    expect((await rejectedWith(SocketReaderError, reader.readRecord())).code).toBe('EOF');
  });

  test('an oversized header behind a good record: the good one is handed out, then RECORD_OVERFLOW with the body unread', async () => {
    const good = record(22, bodyOf(64, 19));
    const header = Buffer.from([22, 3, 3, 0, 0]);
    header.writeUInt16BE(MAX_RECORD_BODY + 1, 3);
    const body = bodyOf(100, 20);
    send(peerFd, Buffer.concat([good, header, body]));
    await arrived(agentFd, good.length + 5 + body.length);
    expect(await reader.readRecord()).toEqual(good);
    const err = await rejectedWith(SocketReaderError, reader.readRecord());
    expect(err.code).toBe('RECORD_OVERFLOW');
    expect(err.message).toContain(`${MAX_RECORD_BODY + 1}`);
    expect(drain(agentFd)).toEqual(body);
  });
});

describe('a finished handshake hands kTLS a socket that starts right after the peer Finished', () => {
  test('server: at kTLS install the queue holds only the client application data, none of its handshake records', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-peek-'));
    const configPath = path.join(dir, 'config');
    fs.writeFileSync(configPath, configText());
    const kernel = new FakeKernel();
    const link = new FakeHandshakeLink(kernel, { privileged: true });
    const atInstall: Buffer[] = [];
    const daemon = await Daemon.start({
      configPath,
      transports: [kernelTransport(link, { allowKtlsOff: true })],
      ktls: 'on',
      // An overridden environment runs handshakes on this thread, where the hook can look.
      env: defaultHandshakeEnv({
        ktls: {
          available: () => true,
          install: (fd) => {
            const buf = Buffer.alloc(64 * 1024);
            let n = 0;
            try {
              n = recv(fd, buf, MSG_PEEK | MSG_DONTWAIT);
            } catch {
              n = 0; // nothing queued yet
            }
            atInstall.push(Buffer.from(buf.subarray(0, n)));
          },
        },
      }),
      logTransports: [captureTransport().transport],
      overrides: { logLevel: 'info' },
    });
    const l = await consumerListener();
    try {
      const appData = Buffer.alloc(1000, 0x61);
      const p = await l.accept(tlsClient());
      // The client's first application data, sent the moment its Finished is out.
      p.peer.once('secureConnect', () => p.peer.write(appData));
      const r = await kernel.submit({ sock: p.fd, messageType: 'serverhello', authMode: 'x509' });
      expect(r.status).toBe(Status.OK);
      expect(atInstall).toHaveLength(1);
      // Every record queued at install is the client's application data: one record of
      // 1000 bytes + content type + 16-byte tag, never its change_cipher_spec or Finished.
      const seen = atInstall[0];
      for (let off = 0; off + 5 <= seen.length; off += 5 + seen.readUInt16BE(off + 3)) {
        expect(seen[off]).toBe(23);
        expect(seen.readUInt16BE(off + 3)).toBe(1017);
      }
      // And all of it arrives for the consumer, consumed by no one.
      await arrived(p.fd, 5 + 1017);
      expect(bytesReadable(p.fd)).toBe(5 + 1017);
    } finally {
      await l.close();
      await daemon.stop();
      kernel.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
