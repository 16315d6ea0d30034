/**
 * Name constraints (RFC 5280 §4.2.1.10) for the names a certificate carries in subjectAltName
 * and its subject DN.
 *
 * dNSName: a constraint "example.test" covers that name and every name below it; ".example.test"
 * covers only names below it (the common reading, as OpenSSL and Go do). iPAddress: address and
 * mask compared bitwise; IPv4 and IPv6 are separate families. rfc822Name, URI (by host) and
 * directoryName (RDN prefix) are handled too. A constraint of any other kind cannot be evaluated,
 * so a certificate carrying names of such a kind is refused (fail closed).
 */
import { Certificate, GeneralSubtree, NameConstraints } from './cert';
import { DistinguishedName } from './dn';
import { formatIp } from './names';

const lower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const stripDot = (s: string): string => (s.endsWith('.') ? s.slice(0, -1) : s);

function dnsWithin(name: string, constraint: string): boolean {
  const n = stripDot(lower(name));
  const c = stripDot(lower(constraint));
  if (c === '') return true;
  if (c.startsWith('.')) return n.endsWith(c);
  return n === c || n.endsWith(`.${c}`);
}

function ipWithin(addr: Buffer, address: Buffer, mask: Buffer): boolean {
  if (addr.length !== address.length) return false;
  for (let i = 0; i < addr.length; i++) if ((addr[i] & mask[i]) !== (address[i] & mask[i])) return false;
  return true;
}

function emailWithin(mailbox: string, constraint: string): boolean {
  const at = mailbox.lastIndexOf('@');
  if (at < 0) return false;
  const c = lower(constraint);
  if (c.includes('@')) return mailbox.slice(0, at) === c.slice(0, c.indexOf('@')) && lower(mailbox.slice(at + 1)) === c.slice(c.indexOf('@') + 1);
  const host = lower(mailbox.slice(at + 1));
  return c.startsWith('.') ? host.endsWith(c) : host === c;
}

function uriHost(uri: string): string | undefined {
  try {
    const host = new URL(uri).hostname;
    return host === '' ? undefined : host;
  } catch {
    return undefined;
  }
}

function uriWithin(uri: string, constraint: string): boolean {
  const host = uriHost(uri);
  if (host === undefined) return false;
  const c = lower(constraint);
  return c.startsWith('.') ? lower(host).endsWith(c) : lower(host) === c;
}

function dirWithin(name: DistinguishedName, constraint: DistinguishedName): boolean {
  return constraint.rdns.length <= name.rdns.length && constraint.rdns.every((r, i) => r === name.rdns[i]);
}

type Named =
  | { kind: 'dns'; value: string; label: string }
  | { kind: 'ip'; value: Buffer; label: string }
  | { kind: 'email'; value: string; label: string }
  | { kind: 'uri'; value: string; label: string }
  | { kind: 'dirName'; value: DistinguishedName; label: string };

function within(n: Named, st: GeneralSubtree): boolean {
  if (n.kind === 'dns' && st.kind === 'dns') return dnsWithin(n.value, st.value);
  if (n.kind === 'ip' && st.kind === 'ip') return ipWithin(n.value, st.address, st.mask);
  if (n.kind === 'email' && st.kind === 'email') return emailWithin(n.value, st.value);
  if (n.kind === 'uri' && st.kind === 'uri') return uriWithin(n.value, st.value);
  if (n.kind === 'dirName' && st.kind === 'dirName') return dirWithin(n.value, st.value);
  return false;
}

function namesOf(cert: Certificate): Named[] {
  const out: Named[] = [];
  // An empty subject is no name at all; it cannot violate a directoryName constraint.
  if (cert.subject.rdns.length > 0) out.push({ kind: 'dirName', value: cert.subject, label: `subject "${cert.subject.text}"` });
  const san = cert.subjectAltName;
  if (!san) return out;
  for (const d of san.dns) out.push({ kind: 'dns', value: d, label: `DNS name "${d}"` });
  for (const a of san.ip) out.push({ kind: 'ip', value: a, label: `IP address ${formatIp(a)}` });
  for (const e of san.email) out.push({ kind: 'email', value: e, label: `email "${e}"` });
  for (const u of san.uri) out.push({ kind: 'uri', value: u, label: `URI "${u}"` });
  for (const d of san.dirNames) out.push({ kind: 'dirName', value: d, label: `directoryName "${d.text}"` });
  return out;
}

/** Undefined when `cert`'s names satisfy `nc`, else why not. */
export function checkNameConstraints(cert: Certificate, nc: NameConstraints): string | undefined {
  const hasOther = [...nc.permitted, ...nc.excluded].some((st) => st.kind === 'other');
  if (hasOther && (cert.subjectAltName?.otherCount ?? 0) > 0) {
    return 'the issuer constrains a name form this verifier cannot evaluate, and the certificate carries such names';
  }
  for (const n of namesOf(cert)) {
    const excluded = nc.excluded.find((st) => within(n, st));
    if (excluded) return `${n.label} is in an excluded subtree`;
    const permittedOfKind = nc.permitted.filter((st) => st.kind === n.kind);
    if (permittedOfKind.length > 0 && !permittedOfKind.some((st) => within(n, st))) {
      return `${n.label} is outside the permitted subtrees`;
    }
  }
  return undefined;
}
