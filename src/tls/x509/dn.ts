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

export function parseName(node: Der, what: string): DistinguishedName {
  if (node.tag !== Tag.SEQUENCE) derFail(node, what, 'Name (SEQUENCE) expected');
  const text: string[] = [];
  const norm: string[] = [];
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
      normParts.push(`${oid}=${normalizeDnValue(str)}`);
    }
    text.push(parts.join('+'));
    normParts.sort();
    norm.push(normParts.join('+'));
  }
  return { raw: node.raw, text: text.join(', '), normalized: norm.join(','), rdns: norm };
}

export function sameName(a: DistinguishedName, b: DistinguishedName): boolean {
  return a.raw.equals(b.raw) || a.normalized === b.normalized;
}
