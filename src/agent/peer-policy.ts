/**
 * Certificates and access chosen per peer (docs/serve.md "Per-peer certificates and access"):
 *
 * - which server certificate answers a ClientHello, by its server_name (SNI);
 * - which client certificate we present, by the peer name of the request;
 * - whether a verified client may finish the handshake (`x509.allowed_peers`,
 *   `psk.allowed_identities`).
 *
 * Names are matched with the service-identity rules of src/tls/x509/names.ts (one `*.` label,
 * case-insensitive DNS, IP literals by bytes); this module only decides which names to compare.
 */
import type { CertifiedKey } from '../tls/api';
import { commonNames, decodeCertificateCached, dnsPatternMatches, formatIp, normalizeDnValue, referenceIdentity, type Certificate } from '../tls/x509';
import type { Located } from './config';

/** One entry of a pattern list, parsed. `text` is the entry as the operator wrote it. */
export type PeerPattern =
  | { readonly kind: 'dns'; readonly pattern: string; readonly text: string }
  | { readonly kind: 'ip'; readonly address: Buffer; readonly text: string }
  | { readonly kind: 'cn'; readonly value: string; readonly text: string };

export type PskPattern = { readonly prefix: boolean; readonly bytes: Buffer; readonly text: string };

/** Longest pattern accepted (a DNS name is at most 253 bytes; an NVMe PSK identity under 256). */
const MAX_PATTERN = 512;

/**
 * A host pattern: `NAME`, `*.NAME` (any one left-most label) or an IP literal; with `prefixes`,
 * also `dns:…`, `ip:…` and `cn:VALUE`. Throws an Error saying what is wrong.
 */
export function parsePeerPattern(text: string, prefixes: boolean): PeerPattern {
  if (text.length > MAX_PATTERN) throw new Error(`pattern of ${text.length} characters is too long (at most ${MAX_PATTERN})`);
  const m = /^([a-z]+):(.*)$/i.exec(text);
  // An IPv6 literal has colons too: only a known prefix word counts as one.
  const prefix = m && ['dns', 'ip', 'cn'].includes(m[1].toLowerCase()) ? m[1].toLowerCase() : undefined;
  if (prefix && !prefixes) throw new Error(`"${text}": a ${prefix}: prefix is not accepted here; write the name or address alone`);
  const body = prefix ? (m as RegExpExecArray)[2].trim() : text;
  if (body === '') throw new Error(`"${text}" has nothing after the prefix`);
  if (prefix === 'cn') return { kind: 'cn', value: normalizeDnValue(body), text };
  if (prefix !== 'dns') {
    const ip = referenceIdentity(body);
    if (ip.kind === 'ip') return { kind: 'ip', address: ip.address, text };
    if (prefix === 'ip') throw new Error(`"${text}" is not an IPv4 or IPv6 address`);
  }
  const wildcard = body.startsWith('*.');
  const ref = referenceIdentity(wildcard ? body.slice(2) : body);
  if (ref.kind !== 'dns') {
    throw new Error(`"${text}" is not a DNS name, "*." followed by one, or an IP address${body.includes('*') ? ' (a wildcard is only allowed as the whole left-most label)' : ''}`);
  }
  if (wildcard && ref.name.split('.').length < 2) throw new Error(`"${text}": a wildcard needs at least two labels after "*." (as in *.example.com)`);
  return { kind: 'dns', pattern: wildcard ? `*.${ref.name}` : ref.name, text };
}

/** A PSK identity pattern: the exact identity, or `PREFIX*` for every identity starting with PREFIX. */
export function parsePskPattern(text: string): PskPattern {
  if (text.length > MAX_PATTERN) throw new Error(`pattern of ${text.length} characters is too long (at most ${MAX_PATTERN})`);
  const star = text.indexOf('*');
  if (star !== -1 && star !== text.length - 1) throw new Error(`"${text}": "*" is only allowed once, as the last character (a prefix match)`);
  const prefix = star !== -1;
  const bytes = Buffer.from(prefix ? text.slice(0, -1) : text, 'utf8');
  if (bytes.length === 0) throw new Error(`"${text}" would match every identity; remove the key instead`);
  return { prefix, bytes, text };
}

/** Parses each item; the first bad one throws, naming it. */
export function parsePatternList<T>(items: readonly string[], parse: (item: string) => T): T[] {
  if (items.length === 0) throw new Error('the list is empty; remove the line to allow every verified peer');
  return items.map((item) => parse(item));
}

/** Does a host pattern cover the name the request is for (a DNS name or an IP literal)? */
export function hostPatternMatches(p: PeerPattern, name: string): boolean {
  const ref = referenceIdentity(name);
  if (p.kind === 'dns') return ref.kind === 'dns' && dnsPatternMatches(p.pattern, ref.name);
  if (p.kind === 'ip') return ref.kind === 'ip' && ref.address.equals(p.address);
  return false;
}

/** What a certificate says about its holder, for allow lists and logs: dNSName and iPAddress SANs, subject CNs. */
export interface CertificateNames {
  readonly dns: readonly string[];
  readonly ip: readonly Buffer[];
  readonly cn: readonly string[];
}

export function certificateNames(cert: Certificate | Buffer): CertificateNames {
  const c = Buffer.isBuffer(cert) ? decodeCertificateCached(cert) : cert;
  return { dns: c.subjectAltName?.dns ?? [], ip: c.subjectAltName?.ip ?? [], cn: commonNames(c.subject) };
}

/** Does an allowed_peers pattern cover a verified client certificate? SAN wildcards in the certificate never match. */
export function peerPatternMatchesCertificate(p: PeerPattern, names: CertificateNames): boolean {
  switch (p.kind) {
    case 'dns':
      return names.dns.some((san) => hostPatternMatches(p, san) && !san.includes('*'));
    case 'ip':
      return names.ip.some((a) => a.equals(p.address));
    case 'cn':
      return names.cn.includes(p.value);
  }
}

export function pskPatternMatches(p: PskPattern, identity: Buffer): boolean {
  if (!p.prefix) return identity.equals(p.bytes);
  return identity.length >= p.bytes.length && identity.subarray(0, p.bytes.length).equals(p.bytes);
}

/** The names of a certificate, for logs and `serve --check-config`: "dns:a.test, ip:192.0.2.1, cn:a". */
export function describeNames(names: CertificateNames): string {
  const parts = [...names.dns.map((d) => `dns:${d}`), ...names.ip.map((a) => `ip:${formatIp(a)}`), ...names.cn.map((c) => `cn:${c}`)];
  return parts.length ? parts.join(', ') : '(no names)';
}

/** A certificate choice after loading: where it was configured, and what it is. */
export interface PeerCertificate {
  /** `[authenticate.server]` for the role's own pair, else the named section. */
  readonly section: string;
  readonly file: string;
  readonly line: number;
  readonly certificate?: CertifiedKey;
  readonly pqCertificate?: CertifiedKey;
  /** Client role: the peer names this pair is for; empty for the default. */
  readonly peers: readonly PeerPattern[];
}

/** Exact names beat wildcards, so "nfs.example.com" wins over "*.example.com" whatever the order. */
type Strength = 0 | 1 | 2;

function leafOf(c: PeerCertificate): Buffer[] {
  return [c.certificate?.chain[0], c.pqCertificate?.chain[0]].filter((x): x is Buffer => x !== undefined);
}

/** How well a certificate's own SANs cover the SNI: 2 exact or IP, 1 through a wildcard, 0 not at all. */
function sniStrength(c: PeerCertificate, sni: string): Strength {
  const ref = referenceIdentity(sni);
  let best: Strength = 0;
  for (const leaf of leafOf(c)) {
    const sans = decodeCertificateCached(leaf).subjectAltName;
    if (!sans) continue;
    if (ref.kind === 'ip' && sans.ip.some((a) => a.equals(ref.address))) return 2;
    if (ref.kind !== 'dns') continue;
    for (const san of sans.dns) {
      if (!dnsPatternMatches(san, ref.name)) continue;
      if (!san.includes('*')) return 2;
      best = 1;
    }
  }
  return best;
}

function peerStrength(c: PeerCertificate, peername: string): Strength {
  let best: Strength = 0;
  for (const p of c.peers) {
    if (!hostPatternMatches(p, peername)) continue;
    if (!(p.kind === 'dns' && p.pattern.startsWith('*.'))) return 2;
    best = 1;
  }
  return best;
}

/** The best-scoring candidate; the earliest on a tie; undefined when none scores. */
function best(candidates: readonly PeerCertificate[], score: (c: PeerCertificate) => Strength): PeerCertificate | undefined {
  let pick: PeerCertificate | undefined;
  let top = 0;
  for (const c of candidates) {
    const s = score(c);
    if (s > top) {
      top = s;
      pick = c;
    }
  }
  return pick;
}

/** Server: the pair whose certificate names the SNI, else the first (the default). */
export function serverCertificateFor(candidates: readonly PeerCertificate[], sni: string | undefined): PeerCertificate | undefined {
  if (candidates.length === 0) return undefined;
  return (sni !== undefined ? best(candidates, (c) => sniStrength(c, sni)) : undefined) ?? candidates[0];
}

/** Client: the named pair whose `peers` cover the peer name, else the default (the role's own pair, if any). */
export function clientCertificateFor(candidates: readonly PeerCertificate[], peername: string, fallback?: PeerCertificate): PeerCertificate | undefined {
  return best(candidates, (c) => peerStrength(c, peername)) ?? fallback;
}

/** `x509.allowed_peers` / `psk.allowed_identities` after parsing, with where they were set. */
export interface AccessPolicy {
  readonly allowedPeers?: Located<readonly PeerPattern[]>;
  readonly allowedPskIdentities?: Located<readonly PskPattern[]>;
}

/** What the finished handshake proved about the client. */
export type VerifiedPeer = { kind: 'x509'; leaf: Buffer } | { kind: 'psk'; identity: Buffer; serial?: number };

/**
 * undefined when the policy lets this peer in; else the reason, naming the rule (no secrets: the
 * certificate's names are public, a PSK is named by its key serial, never by key material).
 */
export function accessDenied(policy: AccessPolicy | undefined, peer: VerifiedPeer | undefined): string | undefined {
  if (!peer) return undefined;
  if (peer.kind === 'x509') {
    const rule = policy?.allowedPeers;
    if (!rule) return undefined;
    const names = certificateNames(peer.leaf);
    if (rule.value.some((p) => peerPatternMatchesCertificate(p, names))) return undefined;
    return `access denied by [authenticate.server] x509.allowed_peers (${rule.file}:${rule.line}): the client certificate (${describeNames(names)}) matches none of ${rule.value.map((p) => p.text).join('; ')}`;
  }
  const rule = policy?.allowedPskIdentities;
  if (!rule) return undefined;
  if (rule.value.some((p) => pskPatternMatches(p, peer.identity))) return undefined;
  const which = peer.serial !== undefined ? `of key ${peer.serial}` : `(${peer.identity.length} bytes)`;
  return `access denied by [authenticate.server] psk.allowed_identities (${rule.file}:${rule.line}): the client's PSK identity ${which} matches none of its ${rule.value.length} pattern(s)`;
}
