/** Netlink integer attributes: every width and sign, both byte orders, at the ends of each range. */
import { readInt, writeInt } from '../../src/netlink/attributes';
import type { IntType } from '../../src/netlink/spec';

/** Node's fixed-width writer per type, little- and big-endian: the bytes each value must become. */
const NODE_WRITERS: Record<IntType, [string, string, number]> = {
  u8: ['writeUInt8', 'writeUInt8', 1],
  s8: ['writeInt8', 'writeInt8', 1],
  u16: ['writeUInt16LE', 'writeUInt16BE', 2],
  s16: ['writeInt16LE', 'writeInt16BE', 2],
  u32: ['writeUInt32LE', 'writeUInt32BE', 4],
  s32: ['writeInt32LE', 'writeInt32BE', 4],
  u64: ['writeBigUInt64LE', 'writeBigUInt64BE', 8],
  s64: ['writeBigInt64LE', 'writeBigInt64BE', 8],
};

function values(t: IntType): bigint[] {
  const bits = BigInt(NODE_WRITERS[t][2] * 8);
  const [lo, hi] = t.startsWith('s') ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
  return [lo, lo + 1n, 0n, 1n, hi >> 1n, hi - 1n, hi].filter((v) => v >= lo);
}

const cases = (Object.keys(NODE_WRITERS) as IntType[]).flatMap((t) => [false, true].map((be) => [t, be] as const));

describe('readInt / writeInt', () => {
  it.each(cases)('%s, big-endian %s: the bytes of Node’s fixed-width writer, and back', (t, be) => {
    const [le, bigEnd, size] = NODE_WRITERS[t];
    for (const v of values(t)) {
      const expected = Buffer.alloc(size);
      const method = (be ? bigEnd : le) as 'writeUInt8';
      (expected[method] as (value: number | bigint, offset?: number) => number)(size === 8 ? v : Number(v), 0);
      const written = writeInt(t, v, 'x', be);
      expect(written).toEqual(expected);
      const back = readInt(written, t, be);
      expect(BigInt(back)).toBe(v);
      expect(typeof back).toBe(Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? 'number' : 'bigint');
    }
  });

  it.each(Object.keys(NODE_WRITERS) as IntType[])('%s refuses one past either end of its range', (t) => {
    const vs = values(t);
    expect(() => writeInt(t, vs[vs.length - 1] + 1n, 'field')).toThrow(/out of range/);
    expect(() => writeInt(t, vs[0] - 1n, 'field')).toThrow(/out of range/);
  });
});
