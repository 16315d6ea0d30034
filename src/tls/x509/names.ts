/**
 * Service identity checks (RFC 9525): does a certificate speak for the name the caller dialled?
 *
 * - Only subjectAltName counts; the subject's CN is never consulted.
 * - A DNS name matches dNSName entries case-insensitively (ASCII), ignoring one trailing dot on
 *   either side. A wildcard is honoured only as the entire left-most label ("*.example.test"
 *   matches "a.example.test", not "example.test" nor "a.b.example.test"), and only when at least
 *   two labels follow it; partial wildcards ("f*.example.test") and wildcards elsewhere never match.
 * - An IP literal (IPv4 dotted quad, IPv6 in any textual form, optionally in brackets) matches
 *   iPAddress entries by bytes, and never a dNSName. IPv4 and IPv4-mapped IPv6 are different
 *   addresses (4 bytes vs 16). A zone index ("%eth0") cannot be certified and never matches.
 */
import { isIPv6 } from 'node:net';
import { Certificate, decodeCertificateCached, GeneralNames } from './cert';

export type ReferenceIdentity =
  | { kind: 'dns'; name: string }
  | { kind: 'ip'; address: Buffer }
  | { kind: 'invalid'; reason: string };

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** IPv4 dotted quad → 4 bytes; undefined if not exactly that (leading zeros are ambiguous: refused). */
export function parseIPv4(s: string): Buffer | undefined {
  const m = IPV4.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map((p) => (p.length > 1 && p.startsWith('0') ? NaN : Number(p)));
  if (parts.some((p) => !(p >= 0 && p <= 255))) return undefined;
  return Buffer.from(parts);
}

/** Any RFC 4291 textual IPv6 address (no zone) → 16 bytes; undefined otherwise. */
export function parseIPv6(s: string): Buffer | undefined {
  if (!isIPv6(s) || s.includes('%')) return undefined;
  const out = Buffer.alloc(16);
  let tail = s;
  let v4: Buffer | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    // "::ffff:1.2.3.4" → "::ffff"; "::1.2.3.4" → "::" (the "::" must survive).
    tail = s.slice(0, lastColon + 1);
    if (!tail.endsWith('::')) tail = tail.slice(0, -1);
  }
  const groupsNeeded = v4 ? 6 : 8;
  const halves = tail.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if (halves.length === 1 && head.length !== groupsNeeded) return undefined;
  if (halves.length === 2 && head.length + rest.length >= groupsNeeded) return undefined;
  const groups = [...head, ...new Array<number>(groupsNeeded - head.length - rest.length).fill(0), ...rest];
  if (groups.some((g) => !(g >= 0 && g <= 0xffff))) return undefined;
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (v4) v4.copy(out, 12);
  return out;
}

/** Text form of a 4- or 16-byte address (IPv6 with the longest zero run compressed). */
export function formatIp(addr: Buffer): string {
  if (addr.length === 4) return [...addr].join('.');
  if (addr.length !== 16) return `#${addr.toString('hex')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(addr.readUInt16BE(i));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** Classifies the name the caller wants to reach. */
export function referenceIdentity(name: string): ReferenceIdentity {
  let n = name;
  if (n.startsWith('[') && n.endsWith(']')) n = n.slice(1, -1);
  if (n.includes(':')) {
    const address = parseIPv6(n);
    return address ? { kind: 'ip', address } : { kind: 'invalid', reason: `"${name}" is not a usable IPv6 literal` };
  }
  if (/^[0-9.]+$/.test(n)) {
    const address = parseIPv4(n);
    return address ? { kind: 'ip', address } : { kind: 'invalid', reason: `"${name}" is not a dotted-quad IPv4 literal` };
  }
  if (n.endsWith('.')) n = n.slice(0, -1);
  n = asciiLower(n);
  if (n === '' || n.length > 253 || n.split('.').some((l) => l === '' || l.length > 63) || /[*\s/@:]/.test(n)) {
    return { kind: 'invalid', reason: `"${name}" is not a valid DNS name` };
  }
  return { kind: 'dns', name: n };
}

/** Does one dNSName SAN entry cover the (already normalised) DNS reference name? */
export function dnsPatternMatches(pattern: string, name: string): boolean {
  let p = asciiLower(pattern);
  if (p.endsWith('.')) p = p.slice(0, -1);
  if (p === '' || p.split('.').some((l) => l === '')) return false;
  if (!p.includes('*')) return p === name;
  if (!p.startsWith('*.') || p.indexOf('*', 1) !== -1) return false;
  const suffix = p.slice(2);
  if (suffix.split('.').length < 2) return false;
  const dot = name.indexOf('.');
  return dot > 0 && name.slice(dot + 1) === suffix;
}

export function matchGeneralNames(sans: GeneralNames | undefined, name: string): boolean {
  if (!sans) return false;
  const ref = referenceIdentity(name);
  switch (ref.kind) {
    case 'ip':
      return sans.ip.some((a) => a.equals(ref.address));
    case 'dns':
      return sans.dns.some((p) => dnsPatternMatches(p, ref.name));
    case 'invalid':
      return false;
  }
}

/** RFC 9525 check of `name` (host name or IP literal) against the certificate's subjectAltName. */
export function matchName(cert: Certificate | Buffer, name: string): boolean {
  const c = Buffer.isBuffer(cert) ? decodeCertificateCached(cert) : cert;
  return matchGeneralNames(c.subjectAltName, name);
}
