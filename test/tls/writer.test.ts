import { Reader, Writer } from '../../src/tls/wire/bytes';

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

  test('own buffers are not slices of the shared slab', () => {
    const out = new Writer(8, true).raw(Buffer.alloc(100, 3)).finish();
    expect(out.buffer.byteLength).toBeLessThan(4096);
    expect(out.equals(Buffer.alloc(100, 3))).toBe(true);
  });
});
