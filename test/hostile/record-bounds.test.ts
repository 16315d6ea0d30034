/**
 * Cost per byte: a peer that cuts its handshake into tiny records is cut off at a stated bound
 * (MAX_RECORDS_PER_MESSAGE for one message, MAX_HANDSHAKE_RECORDS in all before its Finished),
 * with unexpected_message; below the bounds tiny records still work.
 */
import { createServer } from '../../src/tls';
import { nodeCrypto } from '../../src/tls/crypto/node';
import { MAX_HANDSHAKE_RECORDS, MAX_RECORDS_PER_MESSAGE, RecordLayer } from '../../src/tls/record/layer';
import { scenario, serverConfig, serverHooks } from '../fuzz/targets/tls-scenario';

function plain(type: number, body: Buffer): Buffer {
  const h = Buffer.from([type, 3, 3, 0, 0]);
  h.writeUInt16BE(body.length, 3);
  return Buffer.concat([h, body]);
}

/** The ClientHello's handshake bytes re-framed as records of `size` bytes each. */
function chunked(size: number): Buffer[] {
  const body = scenario().clientHello.subarray(5);
  const out: Buffer[] = [];
  for (let off = 0; off < body.length; off += size) out.push(plain(22, body.subarray(off, off + size)));
  return out;
}

function feed(records: Buffer[]) {
  const server = createServer(serverConfig(), serverHooks);
  server.start();
  let last;
  for (const r of records) {
    last = server.receiveRecord(r);
    if (last.status !== 'continue') break;
  }
  return last!;
}

describe('records per handshake message', () => {
  it('states its bounds', () => {
    expect(MAX_RECORDS_PER_MESSAGE).toBe(256);
    expect(MAX_HANDSHAKE_RECORDS).toBe(1024);
  });

  it('a ClientHello in records small enough to stay under the bound is served', () => {
    const size = Math.ceil((scenario().clientHello.length - 5) / MAX_RECORDS_PER_MESSAGE);
    const records = chunked(size);
    expect(records.length).toBeLessThanOrEqual(MAX_RECORDS_PER_MESSAGE);
    const step = feed(records);
    expect(step.status).toBe('continue');
    expect(step.send.length).toBeGreaterThan(0); // the server flight
  });

  it('a ClientHello in 1-byte records is refused at record 257 with unexpected_message', () => {
    // A 60 KB ClientHello announced, then sent one byte per record: refused long before its end.
    const records = [Buffer.from([1, 0, 0xea, 0x60]), ...Array.from({ length: 60_000 }, () => Buffer.from([0]))].map((b) => plain(22, b));
    let fed = 0;
    const server = createServer(serverConfig(), serverHooks);
    server.start();
    let step = server.receiveRecord(records[0]);
    while (step.status === 'continue') step = server.receiveRecord(records[++fed]);
    expect(fed + 1).toBe(MAX_RECORDS_PER_MESSAGE + 1);
    expect(step.status).toBe('failed');
    expect(step.error?.alert).toBe('unexpected_message');
    expect(step.error?.message).toMatch(/a handshake message spans more than 256 records/);
    expect(step.send.equals(Buffer.from([21, 3, 3, 0, 2, 2, 10]))).toBe(true); // fatal unexpected_message, in the clear
  });
});

describe('handshake records in all', () => {
  it('1024 one-record messages are read; the 1025th record is refused with unexpected_message', () => {
    const layer = new RecordLayer(nodeCrypto, 65536, false);
    const tiny = plain(22, Buffer.from([0xfe, 0, 0, 0])); // an empty handshake message of an unknown type
    for (let i = 0; i < MAX_HANDSHAKE_RECORDS; i++) {
      expect(layer.receive(tiny).kind).toBe('handshake');
      expect(layer.nextMessage()?.type).toBe(0xfe);
    }
    expect(() => layer.receive(tiny)).toThrow(/more than 1024 handshake records before the peer's Finished/);
  });

  it('a record finishing one message and starting the next counts once for the next', () => {
    const layer = new RecordLayer(nodeCrypto, 65536, false);
    // Message A (8 bytes) whole, then 4 bytes of message B's header+body start.
    layer.receive(plain(22, Buffer.from([0xfe, 0, 0, 4, 1, 2, 3, 4, 0xfd, 0, 1, 0])));
    expect(layer.nextMessage()?.body.equals(Buffer.from([1, 2, 3, 4]))).toBe(true);
    expect(layer.nextMessage()).toBeUndefined();
    for (let i = 0; i < MAX_RECORDS_PER_MESSAGE - 1; i++) layer.receive(plain(22, Buffer.from([0])));
    expect(() => layer.receive(plain(22, Buffer.from([0])))).toThrow(/spans more than 256 records/);
  });

  it('messages split across records come out byte-exact', () => {
    const layer = new RecordLayer(nodeCrypto, 65536, false);
    const msg = Buffer.concat([Buffer.from([0xfe, 0, 0, 200]), Buffer.from(Array.from({ length: 200 }, (_, i) => i))]);
    const got = [];
    for (let off = 0; off < msg.length; off += 7) {
      layer.receive(plain(22, msg.subarray(off, off + 7)));
      for (let m = layer.nextMessage(); m; m = layer.nextMessage()) got.push(m);
    }
    expect(got).toHaveLength(1);
    expect(got[0].raw.equals(msg)).toBe(true);
    expect(layer.buffered).toBe(0);
  });
});
