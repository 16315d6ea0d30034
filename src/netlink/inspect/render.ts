/**
 * Three views of decoded messages for `handshaked inspect`: a readable tree, one JSON object per
 * message (attributes keyed like the kernel's YNL CLI prints them), and an annotated hex dump.
 */
import type { Annotation } from '../attributes';
import type { AttrObject, AttrValue } from '../codec';
import { errnoName } from '../errors';
import { type DecodedMessage, type GenlMessage, flagNames, typeName } from '../message';
import { type AttrSet, type FamilySpec, enumValue } from '../spec';

export interface Context {
  /** The network namespace the message was heard in (`inspect monitor`): `netns=LABEL` first in the tree, a leading "netns" key in JSON. */
  netns?: string;
  /** Capture packet number, when the input was a capture. */
  packet?: number;
  families: ReadonlyMap<number, FamilySpec>;
}

const hexOf = (b: Buffer) => b.toString('hex');

function header(m: DecodedMessage, ctx: Context): string {
  const h = m.header;
  const flags = flagNames(h.type, h.flags);
  const where = `${ctx.packet !== undefined ? `packet ${ctx.packet}, ` : ''}offset ${m.offset}, ${h.len} bytes`;
  let what: string;
  if (m.kind === 'genl') {
    const fam = m.family ? m.family.name : `family 0x${h.type.toString(16)}`;
    what = `${fam} ${m.cmdName ?? `cmd ${m.cmd}`}`;
  } else if (m.kind === 'other') what = otherName(h.type);
  else what = typeName(h.type, ctx.families);
  return `${ctx.netns !== undefined ? `netns=${ctx.netns} ` : ''}${what}  (${where})\n  flags ${flags.length ? flags.join('|') : '0'} (0x${h.flags.toString(16)})  seq ${h.seq}  port ${h.pid}  type 0x${h.type.toString(16).padStart(4, '0')}`;
}

/** NOOP/OVERRUN by name; a message of another netlink protocol by its bare type (not a genl family). */
function otherName(type: number): string {
  return type < 16 ? typeName(type) : `nlmsg_type ${type}`;
}

/** The readable tree of one message. */
export function renderTree(m: DecodedMessage, ctx: Context): string {
  const lines = [header(m, ctx)];
  switch (m.kind) {
    case 'genl':
      lines.push(`  genl version ${m.version}${m.reserved ? `  reserved ${m.reserved}` : ''}`);
      if (m.family && m.cmdName) {
        const set = m.family.attrSets.get(m.family.opsByName.get(m.cmdName)!.attrSet)!;
        treeAttrs(lines, m.attrs, m.family, set, '  ');
      } else {
        for (const a of m.rawAttrs ?? []) lines.push(`  attr ${a.type}${a.flags & 0x8000 ? ' (nested)' : ''}: ${hexOf(a.data) || '(empty)'}`);
      }
      break;
    case 'error':
      lines.push(m.error === 0 ? '  ack (error 0)' : `  error ${m.error} ${m.code}`);
      lines.push(`  request: type 0x${m.request.type.toString(16).padStart(4, '0')} ${typeName(m.request.type, ctx.families)}, flags 0x${m.request.flags.toString(16)}, seq ${m.request.seq}, port ${m.request.pid}, len ${m.request.len}`);
      extackLines(lines, m.extack);
      break;
    case 'done':
      lines.push(`  error ${m.error}${m.error ? ` ${errnoName(m.error)}` : ''}`);
      extackLines(lines, m.extack);
      break;
    case 'other':
      if (m.payload.length) lines.push(`  payload: ${hexOf(m.payload)}`);
      break;
  }
  return lines.join('\n');
}

function extackLines(lines: string[], x: import('../message').Extack): void {
  if (x.msg !== undefined) lines.push(`  extack msg: ${JSON.stringify(x.msg)}`);
  if (x.offset !== undefined) lines.push(`  extack offset: ${x.offset}`);
  if (x.missType !== undefined) lines.push(`  extack missing attribute type: ${x.missType}`);
  if (x.missNest !== undefined) lines.push(`  extack missing in nest at: ${x.missNest}`);
  if (x.cookie) lines.push(`  extack cookie: ${hexOf(x.cookie)}`);
  if (x.policy) lines.push(`  extack policy: ${hexOf(x.policy)}`);
}

function scalar(v: AttrValue, spec: FamilySpec, enumDef: string | undefined): string {
  if (Buffer.isBuffer(v)) return v.length ? hexOf(v) : '(empty)';
  if (typeof v === 'string') {
    if (enumDef) {
      const n = enumValue(spec, enumDef, v);
      if (n !== undefined) return `${v} (${n})`;
    }
    return JSON.stringify(v);
  }
  if (typeof v === 'number' && enumDef) return `${v} (not in enum ${enumDef})`;
  return String(v);
}

function treeAttrs(lines: string[], obj: AttrObject, spec: FamilySpec, set: AttrSet, indent: string): void {
  for (const [key, v] of Object.entries(obj)) {
    const def = set.byName.get(key);
    const items = def?.multi || (!def && Array.isArray(v)) ? (v as AttrValue[]) : [v];
    items.forEach((item, i) => {
      const label = def?.multi || items.length > 1 ? `${key}[${i}]` : key;
      treeValue(lines, label, item, spec, def?.type, def?.nested, def?.enum, def?.typeValue?.length ?? 1, indent);
    });
  }
}

function treeValue(lines: string[], label: string, v: AttrValue, spec: FamilySpec, type: string | undefined, nested: string | undefined, enumDef: string | undefined, levels: number, indent: string): void {
  const set = nested ? spec.attrSets.get(nested) : undefined;
  if (type === 'nest' && set && isObj(v)) {
    lines.push(`${indent}${label}:`);
    treeAttrs(lines, v, spec, set, indent + '  ');
  } else if (type === 'indexed-array' && set && Array.isArray(v)) {
    lines.push(`${indent}${label}:`);
    v.forEach((item, i) => {
      lines.push(`${indent}  [${i}]:`);
      if (isObj(item)) treeAttrs(lines, item, spec, set, indent + '    ');
    });
  } else if (type === 'nest-type-value' && set && isObj(v)) {
    lines.push(`${indent}${label}:`);
    for (const [k, inner] of Object.entries(v)) {
      if (levels > 1) treeValue(lines, `[${k}]`, inner, spec, type, nested, undefined, levels - 1, indent + '  ');
      else if (isObj(inner)) {
        lines.push(`${indent}  [${k}]:`);
        treeAttrs(lines, inner, spec, set, indent + '    ');
      }
    }
  } else {
    lines.push(`${indent}${label}: ${scalar(v, spec, enumDef)}`);
  }
}

function isObj(v: AttrValue): v is AttrObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** JSON-safe copy: Buffers become hex strings, bigints decimal strings. */
export function jsonValue(v: AttrValue): unknown {
  if (Buffer.isBuffer(v)) return hexOf(v);
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(jsonValue);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonValue(x)]));
  return v;
}

/** One JSON object per message. */
export function renderJson(m: DecodedMessage, ctx: Context): string {
  const h = m.header;
  const o: Record<string, unknown> = {};
  if (ctx.netns !== undefined) o.netns = ctx.netns;
  if (ctx.packet !== undefined) o.packet = ctx.packet;
  Object.assign(o, { offset: m.offset, len: h.len, type: h.type, flags: flagNames(h.type, h.flags), seq: h.seq, port: h.pid });
  switch (m.kind) {
    case 'genl':
      Object.assign(o, genlJson(m));
      break;
    case 'error':
      Object.assign(o, { message: m.error === 0 ? 'ack' : 'error', error: m.error, code: m.code, request: m.request, extack: extackJson(m.extack) });
      break;
    case 'done':
      Object.assign(o, { message: 'done', error: m.error, extack: extackJson(m.extack) });
      break;
    case 'other':
      Object.assign(o, { message: otherName(h.type), payload: hexOf(m.payload) });
      break;
  }
  return JSON.stringify(o);
}

function genlJson(m: GenlMessage): Record<string, unknown> {
  const o: Record<string, unknown> = { family: m.family?.name ?? null, cmd: m.cmdName ?? m.cmd, version: m.version };
  if (m.family && m.cmdName) o.attrs = jsonValue(m.attrs);
  else o.rawAttrs = (m.rawAttrs ?? []).map((a) => ({ type: a.type, nested: (a.flags & 0x8000) !== 0, data: hexOf(a.data) }));
  return o;
}

function extackJson(x: import('../message').Extack): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (x.msg !== undefined) o.msg = x.msg;
  if (x.offset !== undefined) o.offset = x.offset;
  if (x.missType !== undefined) o['miss-type'] = x.missType;
  if (x.missNest !== undefined) o['miss-nest'] = x.missNest;
  if (x.cookie) o.cookie = hexOf(x.cookie);
  if (x.policy) o.policy = hexOf(x.policy);
  return o;
}

/**
 * A hex dump of `bytes` (whose first byte is at input offset `base`) with every annotated field
 * on its own line: offset, up to 16 bytes of hex, label = value. Unlabelled bytes are shown too.
 */
export function renderAnnotated(bytes: Buffer, base: number, anns: Annotation[]): string {
  const lines: string[] = [];
  const sorted = [...anns].sort((a, b) => a.offset - b.offset || b.length - a.length);
  let pos = base;
  const end = base + bytes.length;
  const dump = (from: number, len: number, label: string, depth: number) => {
    for (let o = 0; o < Math.max(len, 1); o += 16) {
      const slice = bytes.subarray(from - base + o, from - base + Math.min(o + 16, len));
      const hex = [...slice].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      lines.push(`${(from + o).toString(16).padStart(6, '0')}  ${hex.padEnd(47)}  ${'  '.repeat(depth)}${o === 0 ? label : '  …'}`);
      if (len === 0) break;
    }
  };
  for (const a of sorted) {
    if (a.offset + a.length <= pos && a.length > 0) continue; // covered by an earlier, wider field
    if (a.offset > pos) dump(pos, a.offset - pos, '(unlabelled)', 0);
    const label = a.value !== undefined ? `${a.label} = ${a.value}` : a.label;
    if (a.length === 0) lines.push(`${a.offset.toString(16).padStart(6, '0')}  ${''.padEnd(47)}  ${'  '.repeat(a.depth)}${label} (empty)`);
    else dump(a.offset, a.length, label, a.depth);
    pos = Math.max(pos, a.offset + a.length);
  }
  if (pos < end) dump(pos, end - pos, '(unlabelled)', 0);
  return lines.join('\n');
}
