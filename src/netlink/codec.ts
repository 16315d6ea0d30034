/**
 * Spec-driven attribute codec: plain objects keyed by the spec's attribute names (the shape the
 * kernel's YNL CLI prints), to and from attribute bytes. One walker for every family in ./families.
 *
 *   { "sockfd": 5, "message-type": "clienthello", "peer-identity": [1, 2],
 *     "certificate": [{ "cert": 1, "privkey": 2 }] }
 *
 * Enums decode to names (numbers outside the enum stay numbers) and encode from either.
 * Attributes the spec does not know decode to `unknown-<type>` with the raw payload, and that key
 * encodes back to the same attribute, so tests can build messages a strict kernel must refuse.
 */
import { AttributeDecoder, AttributeEncoder, type Annotator, intSize, readInt, writeInt } from './attributes';
import { NLA_F_NESTED, NLA_F_NET_BYTEORDER } from './constants';
import { NetlinkEncodeError, NetlinkFormatError } from './errors';
import { type AttrDef, type AttrSet, type FamilySpec, type IntType, attrSetOf, enumName, enumValue } from './spec';

export type AttrScalar = number | bigint | string | boolean | Buffer;
export type AttrValue = AttrScalar | AttrObject | AttrValue[];
export interface AttrObject {
  [name: string]: AttrValue;
}

export interface AttrDecodeOptions {
  /** 'keep' (default): unknown attributes become `unknown-<type>`; 'reject': a NetlinkFormatError at the attribute. */
  unknown?: 'keep' | 'reject';
  annotate?: Annotator;
  /**
   * The kernel's strict policy reading (what nla_parse with NL_VALIDATE_STRICT and a YNL-generated
   * policy refuses): NLA_F_NESTED on a non-nest, a nest without NLA_F_NESTED, a single-valued
   * attribute repeated (only the spec's multi-attr ones may repeat), a string without its
   * terminating NUL. 'reject' fails the decode at the first such attribute; a function is told of
   * each one and the lenient reading goes on (a peer we must stay tolerant of, like the kernel);
   * unset (default): no check.
   */
  strict?: StrictPolicy;
}

export type StrictPolicy = 'reject' | ((violation: NetlinkFormatError) => void);

const UNKNOWN_KEY = /^unknown-(\d+)$/;

export function unknownKey(type: number): string {
  return `unknown-${type}`;
}

function isInt(t: AttrDef['type']): t is IntType {
  return /^[us](8|16|32|64)$/.test(t);
}

/**
 * Decode the attributes in `buf` (absolute input offset `base`) as attribute set `setName`.
 * Throws NetlinkFormatError naming the byte offset and the field.
 */
export function decodeAttrs(buf: Buffer, base: number, spec: FamilySpec, setName: string, opts: AttrDecodeOptions = {}): AttrObject {
  const set = attrSetOf(spec, setName);
  const d = new AttributeDecoder(buf, base, `${setName} attributes`, namer(set));
  const out = walk(d, spec, set, opts, setName, 0);
  if (d.err) throw d.err;
  return out;
}

function walk(d: AttributeDecoder, spec: FamilySpec, set: AttrSet, opts: AttrDecodeOptions, path: string, depth: number): AttrObject {
  const out: AttrObject = {};
  const seen = opts.strict ? new Set<number>() : undefined;
  while (d.next()) {
    const def = set.byValue.get(d.type);
    const field = `${path}.${def?.name ?? `type ${d.type}`}`;
    annotateHeader(opts.annotate, d, field, def, depth);
    if (!def) {
      if (opts.unknown === 'reject') {
        d.fail(d.offset, `${path}: attribute type ${d.type}`, `unknown attribute (this ${set.name} set knows ${[...set.byValue.keys()].join(', ')})`);
        break;
      }
      const key = unknownKey(d.type);
      // One unknown attribute is a value; a repeated one becomes an array (we cannot know if it is multi-attr).
      const prev = out[key];
      const data = Buffer.from(d.data);
      if (prev === undefined) out[key] = data;
      else if (Array.isArray(prev)) prev.push(data);
      else out[key] = [prev, data];
      opts.annotate?.({ offset: d.dataOffset, length: d.data.length, label: `${field} (unknown)`, value: hex(d.data), depth });
      annotatePad(opts.annotate, d, depth);
      continue;
    }
    if (seen && !checkPolicy(d, def, seen, field, opts.strict!)) break;
    const v = value(d, spec, def, opts, field, depth);
    if (d.err) break;
    if (v !== undefined) put(out, def.name, v, def.multi === true);
    annotatePad(opts.annotate, d, depth);
  }
  return out;
}

/** The strict checks of one attribute; false when it was refused (d.err set). */
function checkPolicy(d: AttributeDecoder, def: AttrDef, seen: Set<number>, field: string, policy: StrictPolicy): boolean {
  let problem: string | undefined;
  const nestedFlag = (d.typeFlags & NLA_F_NESTED) !== 0;
  const isNest = def.type === 'nest' || def.type === 'indexed-array' || def.type === 'nest-type-value';
  if (nestedFlag && !isNest) problem = `NLA_F_NESTED is set on a ${def.type} attribute; only nests carry it`;
  else if (!nestedFlag && isNest) problem = 'a nested attribute without NLA_F_NESTED';
  else if (seen.has(def.value) && def.multi !== true) problem = 'given more than once; it is single-valued (only multi-attr attributes repeat)';
  else if (def.type === 'string' && (d.data.length === 0 || d.data[d.data.length - 1] !== 0)) problem = 'string without its terminating NUL';
  seen.add(def.value);
  if (problem === undefined) return true;
  if (policy === 'reject') {
    d.fail(d.offset, field, problem);
    return false;
  }
  policy(new NetlinkFormatError(d.offset, field, problem));
  return true;
}

/** Errors from a decoder over set `set` name its attributes. */
function namer(set: AttrSet): (type: number) => string {
  return (t) => set.byValue.get(t)?.name ?? `attribute type ${t}`;
}

function put(out: AttrObject, key: string, v: AttrValue, multi: boolean): void {
  if (multi) {
    const prev = out[key];
    if (Array.isArray(prev)) prev.push(v);
    else out[key] = [v];
  } else {
    // The kernel's nla_parse keeps the last of repeated single attributes; so do we.
    out[key] = v;
  }
}

function value(d: AttributeDecoder, spec: FamilySpec, def: AttrDef, opts: AttrDecodeOptions, field: string, depth: number): AttrValue | undefined {
  const ann = opts.annotate;
  if (isInt(def.type)) {
    const bigEndian = def.byteOrder === 'big-endian' || (d.typeFlags & NLA_F_NET_BYTEORDER) !== 0;
    if (d.data.length !== intSize(def.type)) {
      d.fail(d.offset, field, `payload is ${d.data.length} byte(s), a ${def.type} needs ${intSize(def.type)}`);
      return undefined;
    }
    const n = readInt(d.data, def.type, bigEndian);
    let v: AttrValue = n;
    let shown = String(n);
    if (def.enum) {
      const name = enumName(spec, def.enum, Number(n));
      if (name !== undefined) {
        v = name;
        shown = `${name} (${n})`;
      }
    }
    ann?.({ offset: d.dataOffset, length: d.data.length, label: `${field} (${def.type})`, value: shown, depth });
    return v;
  }
  switch (def.type) {
    case 'string': {
      const s = d.string();
      ann?.({ offset: d.dataOffset, length: d.data.length, label: `${field} (string)`, value: JSON.stringify(s), depth });
      return s;
    }
    case 'binary':
      ann?.({ offset: d.dataOffset, length: d.data.length, label: `${field} (binary)`, value: hex(d.data), depth });
      return Buffer.from(d.data);
    case 'flag':
      d.flag(field);
      return true;
    case 'pad':
      if (d.data.length) ann?.({ offset: d.dataOffset, length: d.data.length, label: `${field} (pad)`, depth });
      return undefined;
    case 'nest': {
      const set = attrSetOf(spec, def.nested!);
      const child = d.nested(field, namer(set));
      const v = walk(child, spec, set, opts, field, depth + 1);
      d.adopt(child);
      return v;
    }
    case 'indexed-array': {
      const arr: AttrValue[] = [];
      const outer = d.nested(field, (t) => `entry ${t}`);
      while (outer.next()) {
        const efield = `${field}[${arr.length}]`;
        annotateHeader(ann, outer, efield, undefined, depth + 1);
        const set = attrSetOf(spec, def.nested!);
        const inner = outer.nested(efield, namer(set));
        arr.push(walk(inner, spec, set, opts, efield, depth + 2));
        outer.adopt(inner);
        if (outer.err) break;
        annotatePad(ann, outer, depth + 1);
      }
      d.adopt(outer);
      return arr;
    }
    case 'nest-type-value':
      return typeValue(d, spec, def, def.typeValue?.length ?? 1, opts, field, depth + 1);
  }
  return undefined;
}

function typeValue(d: AttributeDecoder, spec: FamilySpec, def: AttrDef, levels: number, opts: AttrDecodeOptions, field: string, depth: number): AttrObject {
  const out: AttrObject = {};
  const outer = d.nested(field, (t) => `key ${t}`);
  while (outer.next()) {
    const kfield = `${field}[${outer.type}]`;
    annotateHeader(opts.annotate, outer, kfield, undefined, depth);
    out[String(outer.type)] =
      levels > 1 ? typeValue(outer, spec, def, levels - 1, opts, kfield, depth + 1) : walkNested(outer, spec, def, opts, kfield, depth + 1);
    if (outer.err) break;
    annotatePad(opts.annotate, outer, depth);
  }
  d.adopt(outer);
  return out;
}

function walkNested(d: AttributeDecoder, spec: FamilySpec, def: AttrDef, opts: AttrDecodeOptions, field: string, depth: number): AttrObject {
  const set = attrSetOf(spec, def.nested!);
  const inner = d.nested(field, namer(set));
  const v = walk(inner, spec, set, opts, field, depth);
  d.adopt(inner);
  return v;
}

function annotateHeader(ann: Annotator | undefined, d: AttributeDecoder, field: string, def: AttrDef | undefined, depth: number): void {
  if (!ann) return;
  ann({ offset: d.offset, length: 2, label: `${field} nla_len`, value: String(d.length), depth });
  const flags: string[] = [];
  if (d.typeFlags & NLA_F_NESTED) flags.push('NLA_F_NESTED');
  if (d.typeFlags & NLA_F_NET_BYTEORDER) flags.push('NLA_F_NET_BYTEORDER');
  const name = def ? ` ${def.name}` : '';
  ann({ offset: d.offset + 2, length: 2, label: `${field} nla_type`, value: `${d.type}${name}${flags.length ? ` | ${flags.join(' | ')}` : ''}`, depth });
}

function annotatePad(ann: Annotator | undefined, d: AttributeDecoder, depth: number): void {
  const pad = d.padding;
  if (ann && pad > 0) ann({ offset: d.offset + d.length, length: pad, label: 'padding', depth });
}

export function hex(b: Buffer): string {
  return b.toString('hex');
}

/** Encode `obj` as attribute set `setName`, in the object's key order. Throws NetlinkEncodeError. */
export function encodeAttrs(obj: AttrObject, spec: FamilySpec, setName: string): Buffer {
  const e = new AttributeEncoder();
  fill(e, obj, spec, attrSetOf(spec, setName), setName);
  return e.encode();
}

function fill(e: AttributeEncoder, obj: AttrObject, spec: FamilySpec, set: AttrSet, path: string): void {
  for (const [key, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    const field = `${path}.${key}`;
    const unknown = UNKNOWN_KEY.exec(key);
    if (unknown) {
      try {
        for (const item of Array.isArray(v) ? v : [v]) e.raw(Number(unknown[1]), rawPayload(item, field), 0, field);
      } catch (err) {
        e.err ??= err as NetlinkEncodeError;
      }
      if (e.err) return;
      continue;
    }
    const def = set.byName.get(key);
    if (!def) {
      e.err ??= new NetlinkEncodeError(field, `no such attribute in set ${set.name} (known: ${[...set.byName.keys()].join(', ')})`);
      return;
    }
    if (def.multi) {
      if (!Array.isArray(v)) {
        e.err ??= new NetlinkEncodeError(field, 'a repeated (multi-attr) attribute takes an array');
        return;
      }
      v.forEach((item, i) => one(e, item, spec, def, `${field}[${i}]`));
    } else {
      one(e, v, spec, def, field);
    }
    if (e.err) return;
  }
}

function one(e: AttributeEncoder, v: AttrValue, spec: FamilySpec, def: AttrDef, field: string): void {
  if (e.err) return;
  const fail = (problem: string) => {
    e.err ??= new NetlinkEncodeError(field, problem);
  };
  if (isInt(def.type)) {
    let n: number | bigint | undefined;
    if (typeof v === 'number' || typeof v === 'bigint') n = v;
    else if (typeof v === 'string' && def.enum) {
      n = enumValue(spec, def.enum, v);
      if (n === undefined) return fail(`"${v}" is not a value of enum ${def.enum} (${spec.enums.get(def.enum)!.entries.join(', ')})`);
    } else return fail(`expected a ${def.type}${def.enum ? ` or a ${def.enum} name` : ''}, got ${describe(v)}`);
    try {
      e.raw(def.value, writeInt(def.type, n, field, def.byteOrder === 'big-endian'), 0, field);
    } catch (err) {
      e.err ??= err as NetlinkEncodeError;
    }
    return;
  }
  switch (def.type) {
    case 'string':
      if (typeof v !== 'string') return fail(`expected a string, got ${describe(v)}`);
      e.string(def.value, v, field);
      return;
    case 'binary':
      try {
        e.raw(def.value, rawPayload(v, field), 0, field);
      } catch (err) {
        e.err ??= err as NetlinkEncodeError;
      }
      return;
    case 'flag':
      if (v !== true) return fail(`a flag is encoded from true, got ${describe(v)}`);
      e.flag(def.value, field);
      return;
    case 'pad':
      e.raw(def.value, Buffer.alloc(0), 0, field);
      return;
    case 'nest':
      if (!isObject(v)) return fail(`expected an object of ${def.nested} attributes, got ${describe(v)}`);
      e.nested(def.value, (c) => fill(c, v, spec, attrSetOf(spec, def.nested!), field), field);
      return;
    case 'indexed-array':
      if (!Array.isArray(v)) return fail(`expected an array, got ${describe(v)}`);
      e.nested(
        def.value,
        (c) =>
          v.forEach((item, i) => {
            if (!isObject(item)) c.err ??= new NetlinkEncodeError(`${field}[${i}]`, `expected an object, got ${describe(item)}`);
            else c.nested(i + 1, (cc) => fill(cc, item, spec, attrSetOf(spec, def.nested!), `${field}[${i}]`));
          }),
        field,
      );
      return;
    case 'nest-type-value':
      if (!isObject(v)) return fail(`expected an object keyed by ${(def.typeValue ?? ['type']).join('/')}, got ${describe(v)}`);
      e.nested(def.value, (c) => fillTypeValue(c, v, spec, def, def.typeValue?.length ?? 1, field), field);
      return;
  }
}

function fillTypeValue(e: AttributeEncoder, obj: AttrObject, spec: FamilySpec, def: AttrDef, levels: number, field: string): void {
  for (const [k, v] of Object.entries(obj)) {
    const kfield = `${field}[${k}]`;
    const type = Number(k);
    if (!Number.isInteger(type) || !isObject(v)) {
      e.err ??= new NetlinkEncodeError(kfield, 'keys must be attribute numbers and values objects');
      return;
    }
    e.nested(type, (c) => (levels > 1 ? fillTypeValue(c, v, spec, def, levels - 1, kfield) : fill(c, v, spec, attrSetOf(spec, def.nested!), kfield)), kfield);
  }
}

function rawPayload(v: AttrValue, field: string): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string' && /^([0-9a-f]{2})*$/i.test(v)) return Buffer.from(v, 'hex');
  throw new NetlinkEncodeError(field, `expected a Buffer or a hex string, got ${describe(v)}`);
}

function isObject(v: AttrValue): v is AttrObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function describe(v: AttrValue): string {
  if (Array.isArray(v)) return 'an array';
  if (Buffer.isBuffer(v)) return 'a Buffer';
  return `${typeof v} ${typeof v === 'object' ? '' : JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`.trim();
}

export { NetlinkFormatError };
