import fc from 'fast-check';
import {
  AttributeDecoder,
  AttributeEncoder,
  type AttrObject,
  NLA_F_NESTED,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_REQUEST,
  NetlinkEncodeError,
  NetlinkFormatError,
  UNIX_TRANSPORT_FAMILY_ID,
  decodeAttrs,
  decodeMessages,
  decodeUnixPacket,
  defineFamily,
  attr,
  encodeAttrs,
  encodeDone,
  encodeError,
  encodeMessage,
  encodeUnixDone,
  encodeUnixError,
  encodeUnixReady,
  handshakeFamily,
  nlctrlFamily,
  toAcceptReply,
} from '../../src/netlink';
import { thrownBy } from '../helpers/thrown';

const HS_ID = 0x1d;
const families = () => new Map([[HS_ID, handshakeFamily]]);

const formatError = (fn: () => unknown): NetlinkFormatError => thrownBy(NetlinkFormatError, fn);

describe('handshake family codec', () => {
  const reply: AttrObject = {
    sockfd: 5,
    'message-type': 'clienthello',
    peername: 'server.example',
    timeout: 10000,
    keyring: 0x2a,
    'auth-mode': 'x509',
    'peer-identity': [1, 2],
    certificate: [{ cert: 1, privkey: 2 }],
  };

  it('encodes the ACCEPT request exactly as the kernel expects it', () => {
    const b = encodeMessage({ type: HS_ID, flags: NLM_F_REQUEST | NLM_F_ACK, seq: 7, pid: 0, cmd: 'accept', attrs: { 'handler-class': 'tlshd' } }, handshakeFamily);
    expect(b.toString('hex')).toBe(
      '1c000000' + '1d00' + '0500' + '07000000' + '00000000' + '02010000' + '0800' + '0200' + '01000000',
    );
  });

  it('round-trips an ACCEPT reply with every attribute', () => {
    const b = encodeMessage({ type: HS_ID, seq: 9, pid: 1234, cmd: 'accept', attrs: reply }, handshakeFamily);
    const [m] = decodeMessages(b, { families: families() });
    expect(m.kind).toBe('genl');
    if (m.kind !== 'genl') return;
    expect(m.cmdName).toBe('accept');
    expect(m.version).toBe(1);
    expect(m.header).toMatchObject({ len: b.length, type: HS_ID, seq: 9, pid: 1234 });
    expect(m.attrs).toEqual(reply);
    expect(toAcceptReply(m.attrs)).toEqual({
      sockfd: 5,
      messageType: 'clienthello',
      authMode: 'x509',
      timeout: 10000,
      peerIdentity: [1, 2],
      certificate: [{ cert: 1, privkey: 2 }],
      peername: 'server.example',
      keyring: 0x2a,
    });
  });

  it('sets NLA_F_NESTED on the certificate nest and masks it when reading', () => {
    const b = encodeAttrs({ certificate: [{ cert: 3, privkey: -1 }] }, handshakeFamily, 'accept');
    expect(b.readUInt16LE(2)).toBe(7 | NLA_F_NESTED);
    expect(decodeAttrs(b, 0, handshakeFamily, 'accept')).toEqual({ certificate: [{ cert: 3, privkey: -1 }] });
  });

  it('reads NLA_F_NET_BYTEORDER integers as big-endian', () => {
    const e = new AttributeEncoder().raw(4, Buffer.from([0, 0, 0x27, 0x10]), 0x4000).encode();
    expect(decodeAttrs(e, 0, handshakeFamily, 'accept')).toEqual({ timeout: 10000 });
  });

  it('keeps unknown attributes as unknown-<type> and re-encodes them, or rejects them on request', () => {
    const b = encodeAttrs({ status: 0, sockfd: 4, 'unknown-4': Buffer.from('74616700', 'hex') }, handshakeFamily, 'done');
    expect(decodeAttrs(b, 0, handshakeFamily, 'done')).toEqual({ status: 0, sockfd: 4, 'unknown-4': Buffer.from('74616700', 'hex') });
    const err = formatError(() => decodeAttrs(b, 100, handshakeFamily, 'done', { unknown: 'reject' }));
    expect(err.offset).toBe(116);
    expect(err.message).toMatch(/attribute type 4.*unknown attribute/);
  });

  it('numbers outside an enum stay numbers', () => {
    const b = encodeAttrs({ 'message-type': 7 }, handshakeFamily, 'accept');
    expect(decodeAttrs(b, 0, handshakeFamily, 'accept')).toEqual({ 'message-type': 7 });
  });

  it('refuses values it cannot encode, naming the field', () => {
    expect(() => encodeAttrs({ status: -1 }, handshakeFamily, 'done')).toThrow(/done\.status.*out of range for u32/);
    expect(() => encodeAttrs({ bogus: 1 }, handshakeFamily, 'done')).toThrow(NetlinkEncodeError);
    expect(() => encodeAttrs({ 'auth-mode': 'kerberos' }, handshakeFamily, 'accept')).toThrow(/not a value of enum auth/);
    expect(() => encodeAttrs({ 'peer-identity': 5 }, handshakeFamily, 'accept')).toThrow(/takes an array/);
    expect(() => encodeMessage({ type: HS_ID, cmd: 'nope' }, handshakeFamily)).toThrow(/no command nope/);
  });
});

describe('malformed input names the offset and the field', () => {
  const good = encodeMessage({ type: HS_ID, cmd: 'done', attrs: { status: 13, sockfd: 5, 'remote-auth': [7] } }, handshakeFamily);

  it('a truncated header', () => {
    const e = formatError(() => decodeMessages(good.subarray(0, 10)));
    expect([e.offset, e.field]).toEqual([0, 'nlmsghdr']);
  });
  it('a truncated message', () => {
    const e = formatError(() => decodeMessages(good.subarray(0, good.length - 4), { families: families() }));
    expect(e.field).toBe('nlmsghdr.nlmsg_len');
    expect(e.message).toMatch(/truncated/);
  });
  it('nlmsg_len below the header size', () => {
    const b = Buffer.from(good);
    b.writeUInt32LE(8, 0);
    expect(formatError(() => decodeMessages(b)).message).toMatch(/smaller than the 16-byte header/);
  });
  it('a missing genl header', () => {
    const b = Buffer.from(good.subarray(0, 18));
    b.writeUInt32LE(18, 0);
    expect(formatError(() => decodeMessages(b, { families: families() })).field).toBe('genlmsghdr');
  });
  it('an attribute overrunning its parent', () => {
    const b = Buffer.from(good);
    b.writeUInt16LE(40, 20); // first attribute (status) claims 40 bytes
    const e = formatError(() => decodeMessages(b, { families: families() }));
    expect(e.offset).toBe(20);
    expect(e.field).toMatch(/status nla_len/);
    expect(e.message).toMatch(/overruns its parent/);
  });
  it('a nested attribute overrunning its nest', () => {
    const b = encodeMessage({ type: HS_ID, cmd: 'accept', attrs: { certificate: [{ cert: 1, privkey: 2 }] } }, handshakeFamily);
    b.writeUInt16LE(20, 24); // cert inside the nest claims 20 of the nest's 16 bytes
    const e = formatError(() => decodeMessages(b, { families: families() }));
    expect(e.offset).toBe(24);
    expect(e.field).toMatch(/cert nla_len/);
  });
  it('a u32 with the wrong size', () => {
    const b = new AttributeEncoder().raw(1, Buffer.from([1, 2])).encode();
    const e = formatError(() => decodeAttrs(b, 0, handshakeFamily, 'done'));
    expect(e.offset).toBe(0);
    expect(e.message).toMatch(/done\.status.*2 byte\(s\), a u32 needs 4/);
  });
  it('an empty integer as the last attribute is reported at its header, inside the message', () => {
    const b = Buffer.concat([new AttributeEncoder().u32(1, 5).encode(), new AttributeEncoder().raw(1, Buffer.alloc(0)).encode()]);
    const e = formatError(() => decodeAttrs(b, 0, handshakeFamily, 'done'));
    expect(e.offset).toBe(8);
    expect(e.offset).toBeLessThan(b.length);
    expect(e.message).toMatch(/0 byte\(s\), a u32 needs 4/);
  });
  it('an unknown command of a known family', () => {
    const b = Buffer.from(good);
    b.writeUInt8(9, 16);
    const e = formatError(() => decodeMessages(b, { families: families() }));
    expect([e.offset, e.field]).toEqual([16, 'genlmsghdr.cmd']);
  });
  it('stray bytes after the attributes', () => {
    const b = Buffer.concat([good, Buffer.alloc(0)]);
    const bad = Buffer.from(b);
    bad.writeUInt32LE(b.length - 2, 0);
    const e = formatError(() => decodeMessages(bad.subarray(0, b.length - 2), { families: families() }));
    expect(e.message).toMatch(/trailing byte|nla_len/);
  });
});

describe('NLMSG_ERROR, extended ack, NLMSG_DONE and multipart', () => {
  const req = encodeMessage({ type: HS_ID, flags: NLM_F_REQUEST | NLM_F_ACK, seq: 42, pid: 99, cmd: 'done', attrs: { status: 0 } }, handshakeFamily);

  it('round-trips an error with message and offset', () => {
    const b = encodeError({ error: -22, request: req, extack: { msg: 'missing attribute: sockfd', offset: 20 } });
    const [m] = decodeMessages(b);
    expect(m).toMatchObject({ kind: 'error', error: -22, code: 'EINVAL', request: { seq: 42, pid: 99, len: req.length }, extack: { msg: 'missing attribute: sockfd', offset: 20 } });
    expect(m.header.flags).toBe(NLM_F_CAPPED | NLM_F_ACK_TLVS);
  });

  it('decodes an error that echoes the whole request (no CAP_ACK)', () => {
    const b = encodeError({ error: -1, request: req, echoPayload: true, extack: { msg: 'x' } });
    const [m] = decodeMessages(b);
    if (m.kind !== 'error') throw new Error('not an error');
    expect(m.code).toBe('EPERM');
    expect(m.requestPayload).toEqual(req.subarray(16));
    expect(m.extack.msg).toBe('x');
  });

  it('decodes an ACK and a multipart reply ending in DONE in one buffer', () => {
    const ack = encodeError({ error: 0, request: req });
    const part = (n: number) => encodeMessage({ type: 0x10, flags: 2, seq: 5, cmd: 'newfamily', attrs: { 'family-id': n, 'family-name': `f${n}` } }, nlctrlFamily);
    const msgs = decodeMessages(Buffer.concat([ack, part(20), part(21), encodeDone({ seq: 5, pid: 0 })]));
    expect(msgs.map((m) => m.kind)).toEqual(['error', 'genl', 'genl', 'done']);
    expect(msgs[0]).toMatchObject({ error: 0, code: 'OK' });
  });

  it('learns the handshake family id from a GETFAMILY reply', () => {
    const fam = encodeMessage(
      { type: 0x10, seq: 1, cmd: 'newfamily', attrs: { 'family-id': 0x22, 'family-name': 'handshake', version: 1, 'mcast-groups': [{ name: 'none', id: 9 }, { name: 'tlshd', id: 10 }] } },
      nlctrlFamily,
    );
    const ready = encodeMessage({ type: 0x22, cmd: 'ready', attrs: { 'handler-class': 'tlshd' } }, handshakeFamily);
    const map = new Map();
    const msgs = decodeMessages(Buffer.concat([fam, ready]), { families: map, learnFamilies: true });
    expect(msgs[0]).toMatchObject({ attrs: { 'mcast-groups': [{ name: 'none', id: 9 }, { name: 'tlshd', id: 10 }] } });
    expect(msgs[1]).toMatchObject({ kind: 'genl', cmdName: 'ready', attrs: { 'handler-class': 'tlshd' } });
    expect(map.get(0x22)).toBe(handshakeFamily);
  });

  it('shows messages of unknown families with raw attributes', () => {
    const b = encodeMessage({ type: 0x30, cmd: 'done', attrs: { status: 1 } }, handshakeFamily);
    const [m] = decodeMessages(b);
    expect(m).toMatchObject({ kind: 'genl', family: undefined, cmd: 3, rawAttrs: [{ type: 1, data: Buffer.from([1, 0, 0, 0]) }] });
  });

  it('decodes a GETPOLICY reply (nest-type-value)', () => {
    const attrs = { 'family-id': 0x22, policy: { '0': { '1': { type: 'u32', 'max-value-u': 4095, 'min-value-u': 0 }, '2': { type: 's32' } } }, 'op-policy': { '3': { do: 0 } } };
    const b = encodeMessage({ type: 0x10, cmd: 'getpolicy', attrs }, nlctrlFamily);
    const [m] = decodeMessages(b);
    expect(m).toMatchObject({ kind: 'genl', attrs });
  });
});

describe('unix transport helpers', () => {
  it('READY carries the context; DONE the result; errors an extack message', () => {
    const ready = decodeUnixPacket(encodeUnixReady(77, { messageType: 'clienthello', authMode: 'psk', peerIdentity: [5, 6], timeout: 3000 }));
    expect(ready).toMatchObject({ kind: 'genl', header: { type: UNIX_TRANSPORT_FAMILY_ID, seq: 77, flags: NLM_F_REQUEST }, cmdName: 'ready' });
    if (ready.kind === 'genl') expect(ready.attrs).toEqual({ 'handler-class': 'tlshd', 'message-type': 'clienthello', timeout: 3000, 'auth-mode': 'psk', 'peer-identity': [5, 6] });
    const done = decodeUnixPacket(encodeUnixDone(77, 13, [9]));
    expect(done).toMatchObject({ kind: 'genl', cmdName: 'done', header: { seq: 77 }, attrs: { status: 13, 'remote-auth': [9] } });
    const err = decodeUnixPacket(encodeUnixError({ seq: 77 }, 22, { msg: 'no fd in SCM_RIGHTS' }));
    expect(err).toMatchObject({ kind: 'error', error: -22, request: { seq: 77, type: UNIX_TRANSPORT_FAMILY_ID }, extack: { msg: 'no fd in SCM_RIGHTS' } });
  });
  it('rejects a packet with two messages or unknown attributes', () => {
    const one = encodeUnixDone(1, 0);
    expect(() => decodeUnixPacket(Buffer.concat([one, one]))).toThrow(/exactly one/);
    const extra = encodeMessage({ type: UNIX_TRANSPORT_FAMILY_ID, cmd: 'done', attrs: { status: 0, 'unknown-9': '00' } }, handshakeFamily);
    expect(() => decodeUnixPacket(extra)).toThrow(/unknown attribute/);
  });
});

// --- property tests over random attribute trees --------------------------------------------

const spec = defineFamily({
  name: 'prop',
  version: 1,
  enums: { colour: { entries: ['red', 'green', 'blue'] } },
  attrSets: {
    top: [
      attr(1, 'a-u8', 'u8'),
      attr(2, 'a-u16', 'u16'),
      attr(3, 'a-u32', 'u32', { multi: true }),
      attr(4, 'a-s32', 's32'),
      attr(5, 'a-u64', 'u64'),
      attr(6, 'a-s64', 's64'),
      attr(7, 'a-str', 'string'),
      attr(8, 'a-bin', 'binary'),
      attr(9, 'a-flag', 'flag'),
      attr(10, 'a-enum', 'u32', { enum: 'colour' }),
      attr(11, 'a-nest', 'nest', { nested: 'top', multi: true }),
      attr(12, 'a-arr', 'indexed-array', { nested: 'leaf' }),
    ],
    leaf: [attr(1, 'x', 'u32'), attr(2, 'y', 'string')],
  },
  ops: [{ name: 'op', value: 1, attrSet: 'top', kind: 'do' }],
  mcastGroups: [],
});

const str = fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0'));
const leaf = fc.record({ x: fc.nat({ max: 0xffffffff }), y: str }, { requiredKeys: [] });
const tree: fc.Arbitrary<AttrObject> = fc.letrec<{ node: AttrObject }>((tie) => ({
  node: fc.record(
    {
      'a-u8': fc.nat({ max: 0xff }),
      'a-u16': fc.nat({ max: 0xffff }),
      'a-u32': fc.array(fc.nat({ max: 0xffffffff }), { minLength: 1, maxLength: 4 }),
      'a-s32': fc.integer({ min: -0x80000000, max: 0x7fffffff }),
      'a-u64': fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }).map((b) => (b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b)),
      'a-s64': fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((b) => (b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b)),
      'a-str': str,
      'a-bin': fc.uint8Array({ maxLength: 9 }).map((u) => Buffer.from(u)),
      'a-flag': fc.constant(true),
      'a-enum': fc.constantFrom('red', 'green', 'blue'),
      'a-nest': fc.array(tie('node'), { minLength: 1, maxLength: 2 }),
      'a-arr': fc.array(leaf, { maxLength: 3 }),
    },
    { requiredKeys: [] },
  ) as fc.Arbitrary<AttrObject>,
}), ).node;

describe('property: decode(encode(x)) = x', () => {
  it('holds for random attribute trees', () => {
    fc.assert(
      fc.property(tree, fc.nat({ max: 0xffffffff }), (attrs, seq) => {
        const b = encodeMessage({ type: 0x40, seq, cmd: 'op', attrs }, spec);
        expect(b.length % 4).toBe(0);
        const [m] = decodeMessages(b, { families: new Map([[0x40, spec]]) });
        expect(m).toMatchObject({ kind: 'genl', header: { seq, len: b.length } });
        if (m.kind === 'genl') expect(m.attrs).toEqual(attrs);
      }),
      { numRuns: 300 },
    );
  });

  it('truncating a message anywhere gives a NetlinkFormatError inside the input, never another exception', () => {
    fc.assert(
      fc.property(tree, fc.nat(), (attrs, cut) => {
        const b = encodeMessage({ type: 0x40, cmd: 'op', attrs }, spec);
        const n = cut % b.length;
        try {
          decodeMessages(b.subarray(0, n), { families: new Map([[0x40, spec]]) });
          expect(n).toBe(0);
        } catch (e) {
          expect(e).toBeInstanceOf(NetlinkFormatError);
          expect((e as NetlinkFormatError).offset).toBeLessThanOrEqual(n);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('corrupting any byte either decodes or gives a NetlinkFormatError', () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.integer({ min: 0, max: 255 }), (attrs, pos, byte) => {
        const b = encodeMessage({ type: 0x40, cmd: 'op', attrs }, spec);
        const i = pos % b.length;
        b[i] = byte;
        try {
          decodeMessages(b, { families: new Map([[0x40, spec]]) });
        } catch (e) {
          expect(e).toBeInstanceOf(NetlinkFormatError);
          expect((e as NetlinkFormatError).offset).toBeLessThan(b.length);
        }
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 500) },
    );
  });
});

describe('AttributeDecoder', () => {
  it('keeps the first error (sticky) and stops', () => {
    const b = Buffer.concat([new AttributeEncoder().u32(1, 5).encode(), Buffer.from([0xff, 0x00, 0x01, 0x00])]);
    const d = new AttributeDecoder(b, 0, 'test');
    const seen: number[] = [];
    while (d.next()) seen.push(d.u32());
    expect(seen).toEqual([5]);
    expect(d.err?.offset).toBe(8);
    d.fail(0, 'later', 'ignored');
    expect(d.err?.field).toMatch(/nla_len/);
  });
});
