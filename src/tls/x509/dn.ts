/** Distinguished names: parsed for display and compared for path building. */
import { children, Der, derFail, readOid, readString, Tag } from './der';
import { DN_ATTRIBUTE_NAMES } from './oids';

export interface DistinguishedName {
  /** The Name's DER (tag included): what a byte-exact comparison uses. */
  raw: Buffer;
  /** RFC 4514-like text, most significant RDN first as written in the certificate, e.g. "O=x, CN=y". */
  text: string;
  /**
   * Case-folded, whitespace-collapsed form: two names that differ only in case, string type or
   * spacing (RFC 5280 §7.1, simplified) compare equal.
   */
  normalized: string;
  /** The normalised RDNs, in certificate order (for directoryName constraints). */
  rdns: string[];
  /**
   * Every attribute of every RDN, in certificate order, value normalised: the structure `rdns`
   * flattens into text, where a '+' or '=' inside a value cannot be told from a separator.
   */
  attributes: ReadonlyArray<{ readonly oid: string; readonly value: string }>;
}

const SPECIAL = /[\\,+=<>#;"]/;

function hasControl(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function escapeValue(v: string): string {
  if (!SPECIAL.test(v) && !hasControl(v)) return v;
  return v.replace(/[\\,+=<>#;"]/g, (c) => `\\${c}`).replace(/./gsu, (c) => (c.charCodeAt(0) < 0x20 || c === '\x7f' ? '?' : c));
}

/** How attribute values compare: trimmed, inner whitespace collapsed, lower case (the `rdns` form). */
export function normalizeDnValue(v: string): string {
  return v.trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * A normalised value as it stands in `normalized` and `rdns`: the separators it is joined with
 * ('+' between the attributes of an RDN, ',' between RDNs, '=' after the type) and the escape
 * itself are escaped, so that two different names never flatten to the same text (a value
 * "a,2.5.4.3=b" is not the two RDNs CN=a, CN=b).
 */
function escapeNormalized(v: string): string {
  return v.replace(/[\\,+=]/g, (c) => `\\${c}`);
}

export function parseName(node: Der, what: string): DistinguishedName {
  if (node.tag !== Tag.SEQUENCE) derFail(node, what, 'Name (SEQUENCE) expected');
  const text: string[] = [];
  const norm: string[] = [];
  const attributes: Array<{ oid: string; value: string }> = [];
  for (const rdn of children(node, what)) {
    if (rdn.tag !== Tag.SET) derFail(rdn, what, 'RelativeDistinguishedName (SET) expected');
    const parts: string[] = [];
    const normParts: string[] = [];
    for (const atv of children(rdn, what)) {
      if (atv.tag !== Tag.SEQUENCE) derFail(atv, what, 'AttributeTypeAndValue expected');
      const [type, value, ...extra] = children(atv, what);
      if (!type || !value || extra.length > 0) derFail(atv, what, 'AttributeTypeAndValue needs a type and one value');
      const oid = readOid(type, what);
      const str = readString(value, what);
      parts.push(`${DN_ATTRIBUTE_NAMES[oid] ?? oid}=${escapeValue(str)}`);
      const normalized = normalizeDnValue(str);
      normParts.push(`${oid}=${escapeNormalized(normalized)}`);
      attributes.push({ oid, value: normalized });
    }
    text.push(parts.join('+'));
    normParts.sort();
    norm.push(normParts.join('+'));
  }
  return { raw: node.raw, text: text.join(', '), normalized: norm.join(','), rdns: norm, attributes };
}

const COMMON_NAME = '2.5.4.3';

/**
 * The commonName values of a name: every CN attribute of every RDN (a multi-valued RDN
 * included), in certificate order, each as normalizeDnValue gives it. Read from the decoded
 * attributes, never by splitting text, so a value holding '+', ',' or "2.5.4.3=" stays one value.
 * The one rule for the strict profile, name constraints and `cn:` allow lists.
 */
export function commonNames(name: DistinguishedName): string[] {
  return name.attributes.filter((a) => a.oid === COMMON_NAME).map((a) => a.value);
}

export function sameName(a: DistinguishedName, b: DistinguishedName): boolean {
  return a.raw.equals(b.raw) || a.normalized === b.normalized;
}
