/**
 * A generic-netlink family as data, in the shape of the kernel's YNL specs
 * (Documentation/netlink/specs/*.yaml). The codec (./attributes, ./message), the inspector and
 * the fake kernel all read these tables; nothing else knows attribute numbers.
 */

export type IntType = 'u8' | 'u16' | 'u32' | 'u64' | 's8' | 's16' | 's32' | 's64';

/**
 * Attribute payload kinds:
 * - integers, `string` (NUL-terminated on the wire), `binary`, `flag` (no payload), `pad` (skipped);
 * - `nest`: the payload is attributes of `nested`;
 * - `indexed-array`: the payload is nests numbered 1, 2, ... each holding `nested` (decoded to an array);
 * - `nest-type-value`: the payload is nests whose type is a key (`typeValue` names the levels),
 *   the innermost holding `nested` (decoded to objects keyed by the numbers).
 */
export type AttrType = IntType | 'string' | 'binary' | 'flag' | 'pad' | 'nest' | 'indexed-array' | 'nest-type-value';

export interface AttrDef {
  readonly name: string;
  readonly value: number;
  readonly type: AttrType;
  /** Name of an enum of the family: decoded to the value's name. */
  readonly enum?: string;
  /** Repeated attribute: decoded to an array, encoded from one. */
  readonly multi?: boolean;
  /** Attribute set of a nest. */
  readonly nested?: string;
  /** Names of the key levels of a nest-type-value (e.g. ['policy-id', 'attr-id']). */
  readonly typeValue?: readonly string[];
  readonly byteOrder?: 'big-endian';
  readonly doc?: string;
}

export interface AttrSet {
  readonly name: string;
  readonly attrs: readonly AttrDef[];
  readonly byName: ReadonlyMap<string, AttrDef>;
  readonly byValue: ReadonlyMap<number, AttrDef>;
}

export interface EnumDef {
  readonly name: string;
  /** Names in value order, starting at `start` (YNL value-start). */
  readonly entries: readonly string[];
  readonly start: number;
}

export interface OpDef {
  readonly name: string;
  readonly value: number;
  /** The attribute set of both request and reply. */
  readonly attrSet: string;
  /** Who sends it: 'notify' messages come from the kernel unasked. */
  readonly kind: 'do' | 'dump' | 'notify' | 'event';
  readonly doc?: string;
}

export interface FamilySpec {
  readonly name: string;
  readonly version: number;
  /** Families with a well-known id (nlctrl). Others are resolved at run time. */
  readonly fixedId?: number;
  readonly enums: ReadonlyMap<string, EnumDef>;
  readonly attrSets: ReadonlyMap<string, AttrSet>;
  readonly ops: readonly OpDef[];
  readonly opsByName: ReadonlyMap<string, OpDef>;
  readonly opsByValue: ReadonlyMap<number, OpDef>;
  /** Multicast group names, in index order. */
  readonly mcastGroups: readonly string[];
}

/** One attribute per line in the family tables: `attr(1, 'sockfd', 's32')`. */
export function attr(value: number, name: string, type: AttrType, opts: Partial<Omit<AttrDef, 'name' | 'value' | 'type'>> = {}): AttrDef {
  return { name, value, type, ...opts };
}

export interface FamilyTable {
  name: string;
  version: number;
  fixedId?: number;
  enums: Record<string, { entries: string[]; start?: number }>;
  attrSets: Record<string, AttrDef[]>;
  ops: Array<{ name: string; value: number; attrSet: string; kind: OpDef['kind']; doc?: string }>;
  mcastGroups: string[];
}

/** Build the indexed spec from a table, checking it is self-consistent (catches typos at load time). */
export function defineFamily(t: FamilyTable): FamilySpec {
  const enums = new Map<string, EnumDef>();
  for (const [name, e] of Object.entries(t.enums)) enums.set(name, { name, entries: e.entries, start: e.start ?? 0 });
  const attrSets = new Map<string, AttrSet>();
  for (const [name, attrs] of Object.entries(t.attrSets)) {
    const byName = new Map<string, AttrDef>();
    const byValue = new Map<number, AttrDef>();
    for (const a of attrs) {
      if (byName.has(a.name) || byValue.has(a.value)) throw new Error(`family ${t.name}: attribute set ${name}: duplicate attribute ${a.name}/${a.value}`);
      byName.set(a.name, a);
      byValue.set(a.value, a);
    }
    attrSets.set(name, { name, attrs, byName, byValue });
  }
  for (const set of attrSets.values()) {
    for (const a of set.attrs) {
      if (a.enum && !enums.has(a.enum)) throw new Error(`family ${t.name}: ${set.name}.${a.name}: unknown enum ${a.enum}`);
      const needsNest = a.type === 'nest' || a.type === 'indexed-array' || a.type === 'nest-type-value';
      if (needsNest && (!a.nested || !attrSets.has(a.nested))) throw new Error(`family ${t.name}: ${set.name}.${a.name}: unknown nested set ${a.nested}`);
    }
  }
  const ops: OpDef[] = t.ops.map((o) => ({ ...o }));
  for (const o of ops) if (!attrSets.has(o.attrSet)) throw new Error(`family ${t.name}: op ${o.name}: unknown attribute set ${o.attrSet}`);
  return {
    name: t.name,
    version: t.version,
    fixedId: t.fixedId,
    enums,
    attrSets,
    ops,
    opsByName: new Map(ops.map((o) => [o.name, o])),
    opsByValue: new Map(ops.map((o) => [o.value, o])),
    mcastGroups: t.mcastGroups,
  };
}

export function attrSetOf(spec: FamilySpec, name: string): AttrSet {
  const set = spec.attrSets.get(name);
  if (!set) throw new Error(`family ${spec.name} has no attribute set ${name}`);
  return set;
}

/** Name of an enum value, or undefined when the value is outside the enum. */
export function enumName(spec: FamilySpec, enumDef: string, value: number): string | undefined {
  const e = spec.enums.get(enumDef);
  if (!e) return undefined;
  return e.entries[value - e.start];
}

/** Value of an enum name, or undefined. */
export function enumValue(spec: FamilySpec, enumDef: string, name: string): number | undefined {
  const e = spec.enums.get(enumDef);
  if (!e) return undefined;
  const i = e.entries.indexOf(name);
  return i < 0 ? undefined : i + e.start;
}
