/**
 * Raw netlink attribute bytes for tests that must send what the codec's encoder refuses to
 * build (a u32 carrying NLA_F_NESTED, a single-valued attribute twice): header and value by hand.
 */

/** One u32 attribute: length 8, `type | flags`, the value little-endian. */
export function u32Attr(type: number, v: number, flags = 0): Buffer {
  const a = Buffer.alloc(8);
  a.writeUInt16LE(8, 0);
  a.writeUInt16LE(type | flags, 2);
  a.writeUInt32LE(v, 4);
  return a;
}

/** A netlink message with raw attribute bytes appended and its nlmsg_len grown to cover them. */
export function appendAttrs(message: Buffer, extra: Buffer): Buffer {
  const b = Buffer.concat([message, extra]);
  b.writeUInt32LE(b.length, 0);
  return b;
}
