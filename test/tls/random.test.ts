import { nodeCrypto } from '../../src/tls/crypto/node';

describe('nodeCrypto.random (small values cut from a pooled randomFillSync)', () => {
  test('values across several pool refills are all distinct, of the asked length, in buffers of their own', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const r = nodeCrypto.random(32);
      expect(r.length).toBe(32);
      expect(r.buffer.byteLength).toBe(32);
      seen.add(r.toString('hex'));
    }
    expect(seen.size).toBe(500);
  });

  test('odd sizes straddling a refill and sizes above the pooled limit', () => {
    const sizes = [1, 7, 31, 100, 511, 512, 513, 4096];
    for (let round = 0; round < 20; round++) {
      for (const n of sizes) expect(nodeCrypto.random(n).length).toBe(n);
    }
    // Not all-zero: the pool erases what it hands out, so a value served after its erasure would be zeros.
    const big = Array.from({ length: 200 }, () => nodeCrypto.random(48));
    for (const b of big) expect(b.equals(Buffer.alloc(48))).toBe(false);
  });
});
