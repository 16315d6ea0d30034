/**
 * Netlink messages: nlmsghdr + genlmsghdr + attributes, NLMSG_ERROR with extended ack,
 * NLMSG_DONE, and runs of messages (multipart replies, several messages per datagram).
 *
 * One codec for both transports: the kernel family (id resolved through nlctrl) and the unix
 * transport (fixed id 0x0100, see UNIX_TRANSPORT_FAMILY_ID).
 *
 *   const bytes = encodeMessage({ type: id, flags: NLM_F_REQUEST, seq: 7, cmd: 'accept',
 *                                 attrs: { 'handler-class': 'tlshd' } }, handshakeFamily);
 *   const [msg] = decodeMessages(bytes, { families: new Map([[id, handshakeFamily]]) });
 */
import { type Annotator } from './attributes';
import { type AttrObject, type StrictPolicy, decodeAttrs, encodeAttrs, hex } from './codec';
import {
  GENL_HDRLEN,
  GENL_ID_CTRL,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_MIN_TYPE,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_ATOMIC,
  NLM_F_CAPPED,
  NLM_F_DUMP_FILTERED,
  NLM_F_DUMP_INTR,
  NLM_F_ECHO,
  NLM_F_MATCH,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLM_F_ROOT,
  UNIX_TRANSPORT_FAMILY_ID,
  align4,
} from './constants';
import { NetlinkEncodeError, NetlinkFormatError, errnoName } from './errors';
import { extackSpec } from './families/extack';
import { handshakeFamily } from './families/handshake';
import { KNOWN_FAMILIES, nlctrlFamily } from './families';
import type { FamilySpec } from './spec';

export interface NlHeader {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

/** What encodeMessage needs; `cmd` by name or number, `version` defaults to the family's. */
export interface GenlMessageInit {
  /** nlmsg_type: the family id (0x10 nlctrl, a resolved id, or 0x0100 on the unix transport). */
  type: number;
  flags?: number;
  seq?: number;
  pid?: number;
  cmd: number | string;
  version?: number;
  attrs?: AttrObject;
}

/** Extended-ack fields (NLMSGERR_ATTR_*). */
export interface Extack {
  msg?: string;
  /** Byte offset of the offending attribute, from the start of the request message. */
  offset?: number;
  cookie?: Buffer;
  missType?: number;
  missNest?: number;
  policy?: Buffer;
}

interface Base {
  /** Offset of this message in the decoded input. */
  offset: number;
  header: NlHeader;
}

/** A generic-netlink message. `family` is undefined when its id is not known; then only rawAttrs is filled. */
export interface GenlMessage extends Base {
  kind: 'genl';
  family?: FamilySpec;
  cmd: number;
  cmdName?: string;
  version: number;
  reserved: number;
  attrs: AttrObject;
  /** Attributes of a family whose id is unknown: type, flags and payload, top level only. */
  rawAttrs?: Array<{ offset: number; type: number; flags: number; data: Buffer }>;
}

/** NLMSG_ERROR: `error` is 0 for an ACK, else a negative errno. */
export interface ErrorMessage extends Base {
  kind: 'error';
  error: number;
  /** 'EAGAIN', ... ; 'OK' for an ACK. */
  code: string;
  /** Header of the request this answers. */
  request: NlHeader;
  /** The request's payload when the kernel echoed it (no NLM_F_CAPPED). */
  requestPayload?: Buffer;
  extack: Extack;
}

export interface DoneMessage extends Base {
  kind: 'done';
  error: number;
  extack: Extack;
}

/** NOOP, OVERRUN, or any non-generic-netlink type. */
export interface OtherMessage extends Base {
  kind: 'other';
  payload: Buffer;
}

export type DecodedMessage = GenlMessage | ErrorMessage | DoneMessage | OtherMessage;

export interface DecodeOptions {
  /**
   * Family id → spec. nlctrl (0x10) is always known. The map is updated in place when
   * `learnFamilies` is set and a GETFAMILY reply names a family handshaked knows.
   */
  families?: Map<number, FamilySpec>;
  learnFamilies?: boolean;
  /** Unknown attributes: 'keep' (default, as `unknown-<type>`) or 'reject'. */
  unknown?: 'keep' | 'reject';
  /** Unknown commands of a known family: 'reject' (default) or 'keep' (cmdName undefined, attrs raw). */
  unknownCommands?: 'keep' | 'reject';
  annotate?: Annotator;
  /** False for captures of other netlink protocols (rtnetlink, ...): no genl header is parsed. Default true. */
  genericNetlink?: boolean;
  /** Added to every reported offset (when `buf` is part of a larger input, e.g. a pcap). */
  base?: number;
  /** The kernel's strict policy reading of attributes (see AttrDecodeOptions.strict). */
  strict?: StrictPolicy;
  /**
   * Families `strict` applies to (by name; default all). nlctrl's own replies build some nests
   * without NLA_F_NESTED, so a reader of the kernel checks only the family it cares about.
   */
  strictFamilies?: readonly string[];
}

/** The family map of the unix transport: handshake at 0x0100. */
export function unixTransportFamilies(): Map<number, FamilySpec> {
  return new Map([[UNIX_TRANSPORT_FAMILY_ID, handshakeFamily]]);
}

// --- encoding ----------------------------------------------------------------------------

export function encodeHeader(h: Omit<NlHeader, 'len'>, payloadLen: number): Buffer {
  const b = Buffer.alloc(NLMSG_HDRLEN);
  const len = NLMSG_HDRLEN + payloadLen;
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(h.type, 4);
  b.writeUInt16LE(h.flags, 6);
  b.writeUInt32LE(h.seq >>> 0, 8);
  b.writeUInt32LE(h.pid >>> 0, 12);
  return b;
}

/** A whole message from a header and a payload (padded to 4 bytes). */
export function encodeRaw(h: Omit<NlHeader, 'len'>, payload: Buffer): Buffer {
  const pad = Buffer.alloc(align4(payload.length) - payload.length);
  return Buffer.concat([encodeHeader(h, payload.length), payload, pad]);
}

function opOf(spec: FamilySpec, cmd: number | string) {
  const op = typeof cmd === 'string' ? spec.opsByName.get(cmd) : spec.opsByValue.get(cmd);
  if (!op) throw new NetlinkEncodeError('genlmsghdr.cmd', `family ${spec.name} has no command ${cmd} (known: ${spec.ops.map((o) => `${o.name}=${o.value}`).join(', ')})`);
  return op;
}

/** Encode one generic-netlink message of family `spec`. Throws NetlinkEncodeError. */
export function encodeMessage(msg: GenlMessageInit, spec: FamilySpec): Buffer {
  const op = opOf(spec, msg.cmd);
  const attrs = encodeAttrs(msg.attrs ?? {}, spec, op.attrSet);
  const genl = Buffer.alloc(GENL_HDRLEN);
  genl.writeUInt8(op.value, 0);
  genl.writeUInt8(msg.version ?? spec.version, 1);
  return encodeRaw({ type: msg.type, flags: msg.flags ?? 0, seq: msg.seq ?? 0, pid: msg.pid ?? 0 }, Buffer.concat([genl, attrs]));
}

export interface ErrorInit {
  /** 0 (ACK) or a negative errno. */
  error: number;
  /** The message being answered: its bytes (header read from it) or its header. */
  request: Buffer | Omit<NlHeader, 'len'> & { len?: number };
  /** Echo the request's payload (what a kernel does without NETLINK_CAP_ACK). Default: capped. */
  echoPayload?: boolean;
  /** nlmsg_pid of the error message (the receiver's port; 0 from the unix transport). */
  pid?: number;
  extack?: Extack;
}

/** NLMSG_ERROR answering `request`, with extack TLVs (and NLM_F_ACK_TLVS) when given. */
export function encodeError(e: ErrorInit): Buffer {
  const req = Buffer.isBuffer(e.request) ? e.request : undefined;
  let rh: NlHeader;
  if (Buffer.isBuffer(e.request)) rh = readHeader(e.request, 0);
  else rh = { ...e.request, len: e.request.len ?? NLMSG_HDRLEN };
  const echo = e.echoPayload === true && e.error !== 0 && req !== undefined;
  const reqHdr = req ? req.subarray(0, NLMSG_HDRLEN) : encodeHeader(rh, rh.len - NLMSG_HDRLEN);
  const errBuf = Buffer.alloc(4);
  errBuf.writeInt32LE(e.error, 0);
  const parts = [errBuf, echo ? req!.subarray(0, align4(rh.len)) : reqHdr];
  const tlvs = encodeExtack(e.extack);
  let flags = echo ? 0 : NLM_F_CAPPED;
  if (tlvs.length) {
    flags |= NLM_F_ACK_TLVS;
    parts.push(tlvs);
  }
  return encodeRaw({ type: NLMSG_ERROR, flags, seq: rh.seq, pid: e.pid ?? rh.pid }, Buffer.concat(parts));
}

/** NLMSG_DONE ending a multipart reply. */
export function encodeDone(h: { seq: number; pid: number; error?: number; extack?: Extack }): Buffer {
  const errBuf = Buffer.alloc(4);
  errBuf.writeInt32LE(h.error ?? 0, 0);
  const tlvs = encodeExtack(h.extack);
  return encodeRaw(
    { type: NLMSG_DONE, flags: NLM_F_MULTI | (tlvs.length ? NLM_F_ACK_TLVS : 0), seq: h.seq, pid: h.pid },
    Buffer.concat([errBuf, tlvs]),
  );
}

function encodeExtack(x: Extack | undefined): Buffer {
  if (!x) return Buffer.alloc(0);
  const o: AttrObject = {};
  if (x.msg !== undefined) o.msg = x.msg;
  if (x.offset !== undefined) o.offs = x.offset;
  if (x.cookie !== undefined) o.cookie = x.cookie;
  if (x.policy !== undefined) o.policy = x.policy;
  if (x.missType !== undefined) o['miss-type'] = x.missType;
  if (x.missNest !== undefined) o['miss-nest'] = x.missNest;
  return encodeAttrs(o, extackSpec, 'extack');
}

// --- decoding ----------------------------------------------------------------------------

function readHeader(buf: Buffer, at: number): NlHeader {
  return {
    len: buf.readUInt32LE(at),
    type: buf.readUInt16LE(at + 4),
    flags: buf.readUInt16LE(at + 6),
    seq: buf.readUInt32LE(at + 8),
    pid: buf.readUInt32LE(at + 12),
  };
}

function annotateHeader(ann: Annotator | undefined, at: number, h: NlHeader, typeName: string, flagText: string): void {
  if (!ann) return;
  ann({ offset: at, length: 4, label: 'nlmsghdr.nlmsg_len', value: String(h.len), depth: 0 });
  ann({ offset: at + 4, length: 2, label: 'nlmsghdr.nlmsg_type', value: `0x${h.type.toString(16).padStart(4, '0')} ${typeName}`, depth: 0 });
  ann({ offset: at + 6, length: 2, label: 'nlmsghdr.nlmsg_flags', value: `0x${h.flags.toString(16).padStart(4, '0')}${flagText ? ` ${flagText}` : ''}`, depth: 0 });
  ann({ offset: at + 8, length: 4, label: 'nlmsghdr.nlmsg_seq', value: String(h.seq), depth: 0 });
  ann({ offset: at + 12, length: 4, label: 'nlmsghdr.nlmsg_pid', value: String(h.pid), depth: 0 });
}

/** Names of the set flags; the 0x100–0x400 bits mean different things on requests and acks. */
export function flagNames(type: number, flags: number): string[] {
  const out: string[] = [];
  const table: Array<[number, string]> = [
    [NLM_F_REQUEST, 'REQUEST'],
    [NLM_F_MULTI, 'MULTI'],
    [NLM_F_ACK, 'ACK'],
    [NLM_F_ECHO, 'ECHO'],
    [NLM_F_DUMP_INTR, 'DUMP_INTR'],
    [NLM_F_DUMP_FILTERED, 'DUMP_FILTERED'],
  ];
  if (type === NLMSG_ERROR || type === NLMSG_DONE) table.push([NLM_F_CAPPED, 'CAPPED'], [NLM_F_ACK_TLVS, 'ACK_TLVS']);
  else if (flags & NLM_F_REQUEST) table.push([NLM_F_ROOT, 'ROOT'], [NLM_F_MATCH, 'MATCH'], [NLM_F_ATOMIC, 'ATOMIC']);
  let rest = flags;
  for (const [bit, name] of table) {
    if (flags & bit) {
      out.push(name);
      rest &= ~bit;
    }
  }
  if (rest) out.push(`0x${rest.toString(16)}`);
  return out;
}

export function typeName(type: number, families?: ReadonlyMap<number, FamilySpec>): string {
  switch (type) {
    case NLMSG_NOOP:
      return 'NLMSG_NOOP';
    case NLMSG_ERROR:
      return 'NLMSG_ERROR';
    case NLMSG_DONE:
      return 'NLMSG_DONE';
    case NLMSG_OVERRUN:
      return 'NLMSG_OVERRUN';
  }
  if (type === GENL_ID_CTRL) return 'nlctrl';
  const f = families?.get(type);
  return f ? f.name : type < NLMSG_MIN_TYPE ? `reserved type ${type}` : `family ${type}`;
}

/**
 * Decode every message in `buf`. Throws NetlinkFormatError (offset + field) on the first
 * malformed byte; nothing is returned for a partly valid buffer.
 */
export function decodeMessages(buf: Buffer, opts: DecodeOptions = {}): DecodedMessage[] {
  const families = opts.families ?? new Map<number, FamilySpec>();
  const base = opts.base ?? 0;
  const ann = opts.annotate;
  const out: DecodedMessage[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const at = base + pos;
    const left = buf.length - pos;
    if (left < NLMSG_HDRLEN) throw new NetlinkFormatError(at, 'nlmsghdr', `only ${left} byte(s) left, a message header needs ${NLMSG_HDRLEN}`);
    const h = readHeader(buf, pos);
    if (h.len < NLMSG_HDRLEN) throw new NetlinkFormatError(at, 'nlmsghdr.nlmsg_len', `length ${h.len} is smaller than the ${NLMSG_HDRLEN}-byte header`);
    if (h.len > left) throw new NetlinkFormatError(at, 'nlmsghdr.nlmsg_len', `length ${h.len} overruns the input (${left} byte(s) left): truncated message`);
    const fam = h.type === GENL_ID_CTRL ? nlctrlFamily : families.get(h.type);
    annotateHeader(ann, at, h, typeName(h.type, families), flagNames(h.type, h.flags).join(' | '));
    const body = buf.subarray(pos + NLMSG_HDRLEN, pos + h.len);
    const bodyAt = at + NLMSG_HDRLEN;
    let msg: DecodedMessage;
    if (h.type === NLMSG_ERROR) msg = decodeError(h, body, at, ann);
    else if (h.type === NLMSG_DONE) msg = decodeDone(h, body, at, ann);
    else if (h.type < NLMSG_MIN_TYPE || opts.genericNetlink === false) {
      msg = { kind: 'other', offset: at, header: h, payload: Buffer.from(body) };
      if (ann && body.length) ann({ offset: bodyAt, length: body.length, label: 'payload', depth: 0 });
    } else msg = decodeGenl(h, body, at, fam, opts);
    out.push(msg);
    if (opts.learnFamilies && msg.kind === 'genl') learn(msg, families);
    const next = align4(h.len);
    if (ann && next > h.len && pos + next <= buf.length) ann({ offset: at + h.len, length: next - h.len, label: 'padding', depth: 0 });
    pos += Math.min(next, left);
  }
  return out;
}

function decodeGenl(h: NlHeader, body: Buffer, at: number, fam: FamilySpec | undefined, opts: DecodeOptions): GenlMessage {
  const ann = opts.annotate;
  const gAt = at + NLMSG_HDRLEN;
  if (body.length < GENL_HDRLEN) throw new NetlinkFormatError(gAt, 'genlmsghdr', `only ${body.length} byte(s) of payload, a generic-netlink header needs ${GENL_HDRLEN}`);
  const cmd = body.readUInt8(0);
  const version = body.readUInt8(1);
  const reserved = body.readUInt16LE(2);
  const op = fam?.opsByValue.get(cmd);
  if (fam && !op && opts.unknownCommands !== 'keep') {
    throw new NetlinkFormatError(gAt, 'genlmsghdr.cmd', `unknown command ${cmd} for family ${fam.name} (known: ${fam.ops.map((o) => `${o.name}=${o.value}`).join(', ')})`);
  }
  if (ann) {
    ann({ offset: gAt, length: 1, label: 'genlmsghdr.cmd', value: `${cmd}${op ? ` ${op.name}` : ''}`, depth: 0 });
    ann({ offset: gAt + 1, length: 1, label: 'genlmsghdr.version', value: String(version), depth: 0 });
    ann({ offset: gAt + 2, length: 2, label: 'genlmsghdr.reserved', value: String(reserved), depth: 0 });
  }
  const attrBuf = body.subarray(GENL_HDRLEN);
  const attrAt = gAt + GENL_HDRLEN;
  const msg: GenlMessage = { kind: 'genl', offset: at, header: h, family: fam, cmd, cmdName: op?.name, version, reserved, attrs: {} };
  if (fam && op) {
    const strict = opts.strict && (!opts.strictFamilies || opts.strictFamilies.includes(fam.name)) ? opts.strict : undefined;
    msg.attrs = decodeAttrs(attrBuf, attrAt, fam, op.attrSet, { unknown: opts.unknown, annotate: ann, ...(strict ? { strict } : {}) });
  } else {
    msg.rawAttrs = rawAttrs(attrBuf, attrAt, ann);
  }
  return msg;
}

function rawAttrs(buf: Buffer, at: number, ann: Annotator | undefined): GenlMessage['rawAttrs'] {
  // Reuse the strict framing checks of the attribute decoder, without a spec.
  const out: NonNullable<GenlMessage['rawAttrs']> = [];
  let pos = 0;
  while (pos < buf.length) {
    const left = buf.length - pos;
    if (left < 4) throw new NetlinkFormatError(at + pos, 'attributes', `${left} trailing byte(s), too few for a 4-byte attribute header`);
    const len = buf.readUInt16LE(pos);
    const rt = buf.readUInt16LE(pos + 2);
    if (len < 4) throw new NetlinkFormatError(at + pos, `attribute type ${rt & 0x3fff} nla_len`, `length ${len} is smaller than the 4-byte attribute header`);
    if (len > left) throw new NetlinkFormatError(at + pos, `attribute type ${rt & 0x3fff} nla_len`, `length ${len} overruns its parent (${left} byte(s) left)`);
    const data = Buffer.from(buf.subarray(pos + 4, pos + len));
    out.push({ offset: at + pos, type: rt & 0x3fff, flags: rt & 0xc000, data });
    if (ann) {
      ann({ offset: at + pos, length: 2, label: `attribute nla_len`, value: String(len), depth: 0 });
      ann({ offset: at + pos + 2, length: 2, label: `attribute nla_type`, value: `${rt & 0x3fff}${rt & 0x8000 ? ' | NLA_F_NESTED' : ''}`, depth: 0 });
      if (data.length) ann({ offset: at + pos + 4, length: data.length, label: `attribute ${rt & 0x3fff} payload`, value: hex(data), depth: 0 });
    }
    pos += Math.min(align4(len), left);
  }
  return out;
}

function decodeError(h: NlHeader, body: Buffer, at: number, ann: Annotator | undefined): ErrorMessage {
  const bAt = at + NLMSG_HDRLEN;
  if (body.length < 4 + NLMSG_HDRLEN) {
    throw new NetlinkFormatError(bAt, 'nlmsgerr', `payload is ${body.length} byte(s), an error needs 4 (error) + 16 (request header)`);
  }
  const error = body.readInt32LE(0);
  const request = readHeader(body, 4);
  ann?.({ offset: bAt, length: 4, label: 'nlmsgerr.error', value: error === 0 ? '0 (ACK)' : `${error} (-${errnoName(error)})`, depth: 0 });
  if (ann) {
    const labels: Array<[number, number, string, string]> = [
      [0, 4, 'nlmsg_len', String(request.len)],
      [4, 2, 'nlmsg_type', `0x${request.type.toString(16)}`],
      [6, 2, 'nlmsg_flags', `0x${request.flags.toString(16)}`],
      [8, 4, 'nlmsg_seq', String(request.seq)],
      [12, 4, 'nlmsg_pid', String(request.pid)],
    ];
    for (const [o, l, n, v] of labels) ann({ offset: bAt + 4 + o, length: l, label: `nlmsgerr.msg.${n}`, value: v, depth: 1 });
  }
  let pos = 4 + NLMSG_HDRLEN;
  let requestPayload: Buffer | undefined;
  const capped = (h.flags & NLM_F_CAPPED) !== 0;
  // Without NLM_F_CAPPED the kernel echoes the request; very old kernels sent bare ACKs without the flag.
  if (!capped && !(error === 0 && body.length === pos)) {
    if (request.len < NLMSG_HDRLEN) throw new NetlinkFormatError(bAt + 4, 'nlmsgerr.msg.nlmsg_len', `echoed request length ${request.len} is smaller than a header`);
    const echoed = align4(request.len) - NLMSG_HDRLEN;
    if (pos + echoed > body.length && pos + (request.len - NLMSG_HDRLEN) > body.length) {
      throw new NetlinkFormatError(bAt + pos, 'nlmsgerr.msg payload', `echoed request of ${request.len} byte(s) overruns the error message (${body.length - pos + NLMSG_HDRLEN} left)`);
    }
    requestPayload = Buffer.from(body.subarray(pos, pos + request.len - NLMSG_HDRLEN));
    ann?.({ offset: bAt + pos, length: requestPayload.length, label: 'nlmsgerr.msg payload (echoed request)', depth: 1 });
    pos = Math.min(pos + echoed, body.length);
  }
  const extack = decodeExtack(h, body.subarray(pos), bAt + pos, ann);
  return { kind: 'error', offset: at, header: h, error, code: error === 0 ? 'OK' : errnoName(error), request, requestPayload, extack };
}

function decodeDone(h: NlHeader, body: Buffer, at: number, ann: Annotator | undefined): DoneMessage {
  const bAt = at + NLMSG_HDRLEN;
  // A DONE may carry no payload at all (some families); then there is no error code.
  const error = body.length >= 4 ? body.readInt32LE(0) : 0;
  if (body.length >= 4) ann?.({ offset: bAt, length: 4, label: 'NLMSG_DONE error', value: String(error), depth: 0 });
  const extack = body.length > 4 ? decodeExtack(h, body.subarray(4), bAt + 4, ann) : {};
  return { kind: 'done', offset: at, header: h, error, extack };
}

function decodeExtack(h: NlHeader, tlvs: Buffer, at: number, ann: Annotator | undefined): Extack {
  if (!(h.flags & NLM_F_ACK_TLVS) || tlvs.length === 0) return {};
  const o = decodeAttrs(tlvs, at, extackSpec, 'extack', { annotate: ann });
  const x: Extack = {};
  if (typeof o.msg === 'string') x.msg = o.msg;
  if (typeof o.offs === 'number') x.offset = o.offs;
  if (Buffer.isBuffer(o.cookie)) x.cookie = o.cookie;
  if (Buffer.isBuffer(o.policy)) x.policy = o.policy;
  if (typeof o['miss-type'] === 'number') x.missType = o['miss-type'];
  if (typeof o['miss-nest'] === 'number') x.missNest = o['miss-nest'];
  return x;
}

/** A GETFAMILY reply naming a family we have a spec for teaches us its id. */
function learn(msg: GenlMessage, families: Map<number, FamilySpec>): void {
  if (msg.family !== nlctrlFamily || msg.cmdName !== 'newfamily') return;
  const name = msg.attrs['family-name'];
  const id = msg.attrs['family-id'];
  if (typeof name !== 'string' || typeof id !== 'number') return;
  const spec = KNOWN_FAMILIES.get(name);
  if (spec && spec !== nlctrlFamily) families.set(id, spec);
}
