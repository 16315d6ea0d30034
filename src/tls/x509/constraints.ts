/**
 * Name constraints (RFC 5280 §4.2.1.10) for the names a certificate carries in subjectAltName
 * and its subject DN.
 *
 * dNSName: a constraint "example.test" covers that name and every name below it (a constraint
 * with a leading period is refused when the extension is decoded, see cert.ts). A wildcard SAN
 * "*.example.test" stands for every name one label below "example.test": it is inside a permitted
 * subtree only when all of those are, and it is excluded when any of them could be. When the
 * certificate has no dNSName SAN, a subject commonName that reads as a host name is checked as a
 * DNS name too (the name some relying parties still fall back to). iPAddress: address and mask
 * compared bitwise; IPv4 and IPv6 are separate families. rfc822Name, URI (by host) and
 * directoryName (RDN prefix) are handled too. A constraint of any other kind cannot be evaluated,
 * so a certificate carrying names of such a kind is refused (fail closed).
 *
 * Cost: one check compares each name of a certificate with each subtree of one CA. The caller
 * passes a budget shared by the whole verification (MAX_NAME_CONSTRAINT_CHECKS); a chain that
 * would need more comparisons is refused rather than evaluated.
 */
import { Certificate, GeneralSubtree, NameConstraints } from './cert';
import { commonNames, DistinguishedName } from './dn';
import { formatIp } from './names';

const lower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const stripDot = (s: string): string => (s.endsWith('.') ? s.slice(0, -1) : s);

/**
 * Name-vs-subtree comparisons one verifyChain call may spend. Names and subtrees are normalised
 * once per check, so a comparison costs at most the shorter string's length: a DNS constraint is
 * at most 253 characters, and all names and constraints together fit in the 64 KiB handshake
 * message that carried them.
 */
export const MAX_NAME_CONSTRAINT_CHECKS = 1 << 16;

export interface ConstraintBudget {
  left: number;
}

function dnsSubtree(n: string, c: string): boolean {
  return c === '' || n === c || n.endsWith(`.${c}`);
}

/**
 * Is `name` (or, for a wildcard, some name it can stand for) inside subtree `constraint`?
 * `any` = could any match be inside (for excluded subtrees); otherwise all matches must be.
 */
function dnsWithin(n: string, c: string, any: boolean): boolean {
  const dot = n.indexOf('.');
  if (dot > 0 && n.slice(0, dot).includes('*')) {
    const base = n.slice(dot + 1);
    if (dnsSubtree(base, c)) return true; // every one-label extension of base is inside c
    // Some match is inside c when c is exactly one label below base.
    return any && c.endsWith(`.${base}`) && !c.slice(0, c.length - base.length - 1).includes('.');
  }
  return dnsSubtree(n, c);
}

function ipWithin(addr: Buffer, address: Buffer, mask: Buffer): boolean {
  if (addr.length !== address.length) return false;
  for (let i = 0; i < addr.length; i++) if ((addr[i] & mask[i]) !== (address[i] & mask[i])) return false;
  return true;
}

/** `mailbox` with its domain lower-cased, `c` lower-cased. */
function emailWithin(mailbox: string, c: string): boolean {
  const at = mailbox.lastIndexOf('@');
  if (at < 0) return false;
  if (c.includes('@')) return mailbox.slice(0, at) === c.slice(0, c.indexOf('@')) && mailbox.slice(at + 1) === c.slice(c.indexOf('@') + 1);
  const host = mailbox.slice(at + 1);
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

/** `host`: the URI's host, lower-cased ('' when it has none); `c` lower-cased. */
function uriWithin(host: string, c: string): boolean {
  if (host === '') return false;
  return c.startsWith('.') ? host.endsWith(c) : host === c;
}

/** A subtree with its strings in the form the comparisons expect. */
function normalised(st: GeneralSubtree): GeneralSubtree {
  if (st.kind === 'dns') return { kind: 'dns', value: stripDot(lower(st.value)) };
  if (st.kind === 'email' || st.kind === 'uri') return { kind: st.kind, value: lower(st.value) };
  return st;
}

function mailbox(e: string): string {
  const at = e.lastIndexOf('@');
  return at < 0 ? e : `${e.slice(0, at)}@${lower(e.slice(at + 1))}`;
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

function within(n: Named, st: GeneralSubtree, any: boolean): boolean {
  if (n.kind === 'dns' && st.kind === 'dns') return dnsWithin(n.value, st.value, any);
  if (n.kind === 'ip' && st.kind === 'ip') return ipWithin(n.value, st.address, st.mask);
  if (n.kind === 'email' && st.kind === 'email') return emailWithin(n.value, st.value);
  if (n.kind === 'uri' && st.kind === 'uri') return uriWithin(n.value, st.value);
  if (n.kind === 'dirName' && st.kind === 'dirName') return dirWithin(n.value, st.value);
  return false;
}

const HOST_NAME = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.?$/;

/** Subject commonName values that read as host names (two labels or more), lower-cased. */
function hostNameCNs(cert: Certificate): string[] {
  return commonNames(cert.subject).filter((cn) => HOST_NAME.test(cn));
}

function namesOf(cert: Certificate): Named[] {
  const out: Named[] = [];
  // An empty subject is no name at all; it cannot violate a directoryName constraint.
  if (cert.subject.rdns.length > 0) out.push({ kind: 'dirName', value: cert.subject, label: `subject "${cert.subject.text}"` });
  const san = cert.subjectAltName;
  if (!san || san.dns.length === 0) {
    for (const cn of hostNameCNs(cert)) out.push({ kind: 'dns', value: stripDot(cn), label: `subject commonName "${cn}"` });
  }
  if (!san) return out;
  for (const d of san.dns) out.push({ kind: 'dns', value: stripDot(lower(d)), label: `DNS name "${d}"` });
  for (const a of san.ip) out.push({ kind: 'ip', value: a, label: `IP address ${formatIp(a)}` });
  for (const e of san.email) out.push({ kind: 'email', value: mailbox(e), label: `email "${e}"` });
  for (const u of san.uri) out.push({ kind: 'uri', value: lower(uriHost(u) ?? ''), label: `URI "${u}"` });
  for (const d of san.dirNames) out.push({ kind: 'dirName', value: d, label: `directoryName "${d.text}"` });
  return out;
}

/** Undefined when `cert`'s names satisfy `nc`, else why not. */
export function checkNameConstraints(
  cert: Certificate,
  nc: NameConstraints,
  budget: ConstraintBudget = { left: MAX_NAME_CONSTRAINT_CHECKS },
): string | undefined {
  if (nc.problems.length > 0) return `the name constraints are malformed: ${nc.problems.join('; ')}`;
  const hasOther = [...nc.permitted, ...nc.excluded].some((st) => st.kind === 'other');
  if (hasOther && (cert.subjectAltName?.otherCount ?? 0) > 0) {
    return 'the issuer constrains a name form this verifier cannot evaluate, and the certificate carries such names';
  }
  const names = namesOf(cert);
  budget.left -= names.length * (nc.permitted.length + nc.excluded.length);
  if (budget.left < 0) {
    return `checking them would take more than ${MAX_NAME_CONSTRAINT_CHECKS} name comparisons (too many names or constraints)`;
  }
  const excludedSubtrees = nc.excluded.map(normalised);
  const permittedSubtrees = nc.permitted.map(normalised);
  for (const n of names) {
    const excluded = excludedSubtrees.find((st) => within(n, st, true));
    if (excluded) return `${n.label} is in an excluded subtree`;
    const permittedOfKind = permittedSubtrees.filter((st) => st.kind === n.kind);
    if (permittedOfKind.length > 0 && !permittedOfKind.some((st) => within(n, st, false))) {
      return `${n.label} is outside the permitted subtrees`;
    }
  }
  return undefined;
}
