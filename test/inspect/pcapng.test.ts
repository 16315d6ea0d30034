import { parseInput, parseHex, writePcap } from '../../src/netlink/inspect/input';
import { inspectDecode } from '../../src/netlink/inspect/decode';
import { NetlinkFormatError } from '../../src/netlink';
import { buildFixtures, FIXTURE_FAMILY_ID } from '../../src/netlink/fixtures';

/** A minimal pcapng (SHB, IDB with link type 253, one EPB per packet) built by hand. */
function pcapng(packets: Buffer[]): Buffer {
  const block = (type: number, body: Buffer) => {
    const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
    const len = 12 + padded.length;
    const h = Buffer.alloc(8);
    h.writeUInt32LE(type, 0);
    h.writeUInt32LE(len, 4);
    const t = Buffer.alloc(4);
    t.writeUInt32LE(len, 0);
    return Buffer.concat([h, padded, t]);
  };
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeBigInt64LE(-1n, 8);
  const idb = Buffer.alloc(8);
  idb.writeUInt16LE(253, 0);
  idb.writeUInt32LE(65535, 4);
  const epbs = packets.map((p) => {
    const cooked = Buffer.alloc(16);
    cooked.writeUInt16BE(824, 2);
    cooked.writeUInt16BE(16, 14);
    const data = Buffer.concat([cooked, p]);
    const hdr = Buffer.alloc(20);
    hdr.writeUInt32LE(0, 0);
    hdr.writeUInt32LE(data.length, 12);
    hdr.writeUInt32LE(data.length, 16);
    return block(6, Buffer.concat([hdr, data]));
  });
  return Buffer.concat([block(0x0a0d0d0a, shb), block(1, idb), ...epbs]);
}

describe('capture and hex input', () => {
  const fx = buildFixtures();
  const ready = fx.find((f) => f.name === 'ready')!.bytes;
  const done = fx.find((f) => f.name === 'done-eacces')!.bytes;

  it('reads pcapng from an nlmon interface', () => {
    const input = parseInput(pcapng([ready, done]));
    expect(input.format).toBe('pcapng');
    expect(input.chunks.map((c) => [c.packet, c.protocol, c.bytes.length])).toEqual([
      [1, 16, ready.length],
      [2, 16, done.length],
    ]);
    const out = inspectDecode(pcapng([ready, done]), { format: 'json', familyId: FIXTURE_FAMILY_ID }).map((l) => JSON.parse(l));
    expect(out.map((o) => o.cmd)).toEqual(['ready', 'done']);
    expect(out[1].attrs.status).toBe(13);
  });

  it('refuses captures of other link types', () => {
    const p = writePcap([{ bytes: ready }]);
    p.writeUInt32LE(1, 20); // Ethernet
    expect(() => parseInput(p)).toThrow(/not NETLINK \(253\)/);
  });

  it('messages of other netlink protocols stay at the nlmsghdr level', () => {
    const p = writePcap([{ bytes: ready }]);
    p.writeUInt16BE(0, 24 + 16 + 14); // NETLINK_ROUTE
    const [line] = inspectDecode(p, { format: 'json', familyId: FIXTURE_FAMILY_ID });
    expect(JSON.parse(line)).toMatchObject({ message: `nlmsg_type ${FIXTURE_FAMILY_ID}`, payload: ready.subarray(16).toString('hex') });
  });

  it('hex allows 0x prefixes, separators and comments', () => {
    expect(parseHex('# c\n0x1c, 0x00:ff  # tail\n0A')).toEqual(Buffer.from([0x1c, 0x00, 0xff, 0x0a]));
    expect(() => parseHex('abc')).toThrow(NetlinkFormatError);
  });
});
