import { Reader, Writer } from '../../src/tls/wire/bytes';
import { encodeCertificate, encodeCertificateVerify } from '../../src/tls/wire/handshake';

describe('Writer (one growing buffer, length prefixes filled in when a scope closes)', () => {
  test('nested scopes across several growths read back field for field', () => {
    const w = new Writer(4);
    const items = Array.from({ length: 300 }, (_, i) => Buffer.alloc(i % 7, i & 0xff));
    w.u8(0xab).scope(3, (x) => {
      x.u24(0x123456);
      x.scope(2, (y) => items.forEach((b) => y.vector(1, b).u16(0xbeef)));
    });
    const out = w.finish();
    expect(out.length).toBe(w.length);
    const r = new Reader(out);
    expect(r.u8('type')).toBe(0xab);
    r.scope(3, 'outer', () => {
      expect(r.u24('x')).toBe(0x123456);
      r.scope(2, 'inner', () => {
        for (const b of items) {
          expect(r.vector(1, 'item').equals(b)).toBe(true);
          expect(r.u16('tag')).toBe(0xbeef);
        }
      });
    });
    r.end();
  });

  test('a scope or vector too long for its prefix is refused', () => {
    expect(() => new Writer().scope(1, (x) => x.raw(Buffer.alloc(256)))).toThrow('vector of 256 bytes exceeds 1-byte length prefix');
    expect(() => new Writer().vector(2, Buffer.alloc(65536))).toThrow('vector of 65536 bytes exceeds 2-byte length prefix');
    expect(new Writer().scope(1, (x) => x.raw(Buffer.alloc(255, 1))).finish().length).toBe(256);
  });

  test('reset() starts over in the same buffer', () => {
    const w = new Writer(4).raw(Buffer.alloc(100, 1));
    w.reset().u16(0x0102);
    expect(w.finish().toString('hex')).toBe('0102');
  });

  test('messages encoded through the shared scratch writer are copies: a later message leaves an earlier one alone', () => {
    const first = encodeCertificateVerify(0x0403, Buffer.alloc(70, 0xaa));
    const before = Buffer.from(first.raw);
    const second = encodeCertificateVerify(0x0804, Buffer.alloc(300, 0xbb));
    expect(first.raw.equals(before)).toBe(true);
    expect(first.raw.toString('hex')).toBe('0f00004a' + '0403' + '0046' + 'aa'.repeat(70));
    expect(second.raw.length).toBe(4 + 2 + 2 + 300);
    expect(first.body.buffer).not.toBe(second.body.buffer);
  });

  test('a chain\'s Certificate message is encoded once, and again when a certificate in the array changes or a context is set', () => {
    const chain = [Buffer.alloc(10, 1), Buffer.alloc(20, 2)];
    const a = encodeCertificate(Buffer.alloc(0), chain);
    expect(a.raw.toString('hex')).toBe('0b00002c' + '00' + '000028' + '00000a' + '01'.repeat(10) + '0000' + '000014' + '02'.repeat(20) + '0000');
    expect(encodeCertificate(Buffer.alloc(0), chain)).toBe(a);
    chain[1] = Buffer.alloc(20, 3);
    const b = encodeCertificate(Buffer.alloc(0), chain);
    expect(b).not.toBe(a);
    expect(b.raw.subarray(-22).toString('hex')).toBe('03'.repeat(20) + '0000');
    const withContext = encodeCertificate(Buffer.from([9]), chain);
    expect(withContext.raw.subarray(4, 6).toString('hex')).toBe('0109');
  });
});
