/**
 * Certificate path validation for TLS peers (RFC 5280 §6, trimmed to what TLS needs).
 *
 * Path building: from the leaf, through the certificates the peer sent (any order, extras
 * ignored), to a trust anchor: a root or an intermediate in the trust store, or the leaf itself
 * when that exact certificate is trusted. Candidates are explored depth-first (anchors first) with
 * a bounded number of signature checks, so a hostile pile of same-named certificates cannot make
 * us spin. A complete path is then checked; if it fails, other paths are tried, and the first
 * failure is reported.
 *
 * Revocation: CRLs from TrustConfig.crls are consulted for every certificate whose issuer has one;
 * a certificate without a matching CRL is not considered revoked (no fetching). A CRL that
 * claims to come from a certificate's issuer but whose signature does not verify under that
 * issuer's key, or that carries critical extensions we do not process, FAILS CLOSED
 * (certificate_unknown): the administrator asked for revocation checking, and a corrupt or
 * forged CRL must not silently switch it off. CRL freshness (nextUpdate) is not enforced: an
 * old CRL still revokes what it lists.
 */
import type { AlertName, AsymmetricKey, ChainVerifyOptions, ChainVerifyResult } from '../api';
import { Certificate, decodeCertificateCached, isSelfIssued, KeyUsage, knownVerified, publicKeyOf, rememberVerified } from './cert';
import { checkNameConstraints } from './constraints';
import { Crl, decodeCrlCached, serialKey } from './crl';
import { sameName } from './dn';
import { matchName } from './names';
import { OID } from './oids';
import { verifySignature } from './signature';

/** Upper bound on signature checks while building paths for one chain. */
const MAX_SIGNATURE_CHECKS = 64;

interface Failure {
  alert: AlertName;
  reason: string;
}

interface AnchorIndex {
  /** The anchor Buffers the index was built from (identity check: a reloaded store rebuilds). */
  from: Buffer[];
  bySubject: Map<string, Certificate[]>;
}

const anchorIndexes = new WeakMap<Buffer[], AnchorIndex>();

/**
 * Decoded anchors, indexed by normalised subject, remembered per anchors array so a trust store
 * is decoded once, not per handshake. The Buffers in TrustConfig must not be modified in place.
 */
function anchorIndex(anchors: Buffer[]): AnchorIndex {
  const cached = anchorIndexes.get(anchors);
  if (cached && cached.from.length === anchors.length && cached.from.every((b, i) => b === anchors[i])) return cached;
  const index: AnchorIndex = { from: [...anchors], bySubject: new Map() };
  for (const der of anchors) {
    let cert: Certificate;
    try {
      cert = decodeCertificateCached(der);
    } catch {
      continue; // A trust store entry we cannot parse can anchor nothing; loadTrustStore reports those.
    }
    const list = index.bySubject.get(cert.subject.normalized) ?? [];
    if (!list.includes(cert)) list.push(cert);
    index.bySubject.set(cert.subject.normalized, list);
  }
  anchorIndexes.set(anchors, index);
  return index;
}

const describe = (c: Certificate): string => `"${c.subject.text}"`;

function keyIdsCompatible(child: Certificate, issuer: Certificate): boolean {
  return !child.authorityKeyId || !issuer.subjectKeyId || child.authorityKeyId.equals(issuer.subjectKeyId);
}

function checkValidity(path: Certificate[], now: Date): Failure | undefined {
  for (const c of path) {
    if (now < c.notBefore) return { alert: 'certificate_expired', reason: `certificate ${describe(c)} is not valid before ${c.notBefore.toISOString()}` };
    if (now > c.notAfter) return { alert: 'certificate_expired', reason: `certificate ${describe(c)} expired at ${c.notAfter.toISOString()}` };
  }
  return undefined;
}

function checkIssuers(path: Certificate[]): Failure | undefined {
  const anchorAt = path.length - 1;
  for (let i = 1; i < path.length; i++) {
    const ca = path[i];
    const bc = ca.basicConstraints;
    // A configured anchor without basicConstraints (v1 roots) is taken on the administrator's word.
    if (!(bc?.ca || (i === anchorAt && !bc))) {
      return { alert: 'bad_certificate', reason: `certificate ${describe(ca)} issued ${describe(path[i - 1])} but is not a CA (basicConstraints cA is not set)` };
    }
    if (ca.keyUsage !== undefined && !(ca.keyUsage & KeyUsage.keyCertSign)) {
      return { alert: 'bad_certificate', reason: `CA ${describe(ca)} issued ${describe(path[i - 1])} but its keyUsage lacks keyCertSign` };
    }
    if (bc?.pathLen !== undefined) {
      let below = 0;
      for (let j = 1; j < i; j++) if (!isSelfIssued(path[j])) below++;
      if (below > bc.pathLen) {
        return { alert: 'bad_certificate', reason: `CA ${describe(ca)} has pathLenConstraint ${bc.pathLen} but ${below} CA certificate(s) follow it` };
      }
    }
  }
  return undefined;
}

function checkCriticalExtensions(path: Certificate[]): Failure | undefined {
  for (const c of path) {
    if (c.unknownCritical.length > 0) {
      return { alert: 'bad_certificate', reason: `certificate ${describe(c)} has unsupported critical extension(s) ${c.unknownCritical.join(', ')}` };
    }
  }
  return undefined;
}

function checkNames(path: Certificate[]): Failure | undefined {
  for (let i = 1; i < path.length; i++) {
    const nc = path[i].nameConstraints;
    if (!nc) continue;
    for (let j = 0; j < i; j++) {
      if (j > 0 && isSelfIssued(path[j])) continue; // RFC 5280 §6.1.3(b): self-issued CAs are exempt.
      const why = checkNameConstraints(path[j], nc);
      if (why) return { alert: 'bad_certificate', reason: `certificate ${describe(path[j])} violates the name constraints of ${describe(path[i])}: ${why}` };
    }
  }
  return undefined;
}

function checkPurpose(path: Certificate[], purpose: ChainVerifyOptions['purpose']): Failure | undefined {
  const leaf = path[0];
  if (leaf.keyUsage !== undefined && !(leaf.keyUsage & KeyUsage.digitalSignature)) {
    return { alert: 'bad_certificate', reason: `certificate ${describe(leaf)} has keyUsage without digitalSignature, so it cannot sign a TLS 1.3 handshake` };
  }
  const want = purpose === 'serverAuth' ? OID.serverAuth : OID.clientAuth;
  // The anchor is configuration, not a claim by the peer; EKU on intermediates restricts what they may issue.
  for (let i = 0; i < Math.max(1, path.length - 1); i++) {
    const eku = path[i].extKeyUsage;
    if (eku && !eku.includes(want) && !eku.includes(OID.anyExtendedKeyUsage)) {
      return { alert: 'unsupported_certificate', reason: `certificate ${describe(path[i])} is not valid for ${purpose} (extendedKeyUsage lacks it)` };
    }
  }
  return undefined;
}

function decodeCrls(ders: Buffer[]): Crl[] | Failure {
  const out: Crl[] = [];
  for (let i = 0; i < ders.length; i++) {
    try {
      out.push(decodeCrlCached(ders[i]));
    } catch (err) {
      return { alert: 'certificate_unknown', reason: `CRL #${i + 1} in the trust configuration is malformed: ${(err as Error).message}` };
    }
  }
  return out;
}

function checkRevocation(path: Certificate[], crls: Crl[]): Failure | undefined {
  for (let j = 0; j + 1 < path.length; j++) {
    const cert = path[j];
    const issuer = path[j + 1];
    for (const crl of crls) {
      if (!sameName(crl.issuer, issuer.subject)) continue;
      if (crl.authorityKeyId && issuer.subjectKeyId && !crl.authorityKeyId.equals(issuer.subjectKeyId)) continue;
      const sig = verifySignature(crl.signatureAlgorithm, crl.tbs, crl.signature, publicKeyOf(issuer));
      if (sig !== true) {
        return { alert: 'certificate_unknown', reason: `the CRL from ${describe(issuer)} cannot be trusted (${sig}); refusing rather than skipping revocation` };
      }
      if (crl.unknownCritical.length > 0) {
        return { alert: 'certificate_unknown', reason: `the CRL from ${describe(issuer)} has unsupported critical extension(s) ${crl.unknownCritical.join(', ')}` };
      }
      const entry = crl.revoked.get(serialKey(cert.serial));
      if (entry) {
        return { alert: 'certificate_revoked', reason: `certificate ${describe(cert)} (serial ${serialKey(cert.serial)}) was revoked by ${describe(issuer)} on ${entry.revocationDate.toISOString()}` };
      }
    }
  }
  return undefined;
}

function validatePath(path: Certificate[], opts: ChainVerifyOptions, crls: Crl[]): Failure | undefined {
  if (path.length > opts.maxChainLength) {
    return { alert: 'bad_certificate', reason: `the path to a trust anchor has ${path.length} certificates, more than the limit of ${opts.maxChainLength}` };
  }
  const failure =
    checkValidity(path, opts.now) ??
    checkCriticalExtensions(path) ??
    checkIssuers(path) ??
    checkNames(path) ??
    checkRevocation(path, crls) ??
    checkPurpose(path, opts.purpose);
  if (failure) return failure;
  if (opts.name !== undefined && !matchName(path[0], opts.name)) {
    return { alert: 'bad_certificate', reason: `certificate ${describe(path[0])} is not valid for the name "${opts.name}" (subjectAltName does not match)` };
  }
  return undefined;
}

/** Verifies a peer's certificate chain. Never throws for bad input: failures come back as alerts. */
export function verifyChain(opts: ChainVerifyOptions): ChainVerifyResult {
  try {
    return verifyChainInner(opts);
  } catch (err) {
    return { ok: false, alert: 'internal_error', reason: `certificate verification failed unexpectedly: ${(err as Error).message}` };
  }
}

function verifyChainInner(opts: ChainVerifyOptions): ChainVerifyResult {
  const fail = (f: Failure): ChainVerifyResult => ({ ok: false, alert: f.alert, reason: f.reason });
  if (opts.chain.length === 0) return fail({ alert: 'bad_certificate', reason: 'the peer sent no certificate' });
  if (opts.chain.length > opts.maxChainLength) {
    return fail({ alert: 'bad_certificate', reason: `the peer sent ${opts.chain.length} certificates, more than the limit of ${opts.maxChainLength}` });
  }
  const sent: Certificate[] = [];
  for (let i = 0; i < opts.chain.length; i++) {
    try {
      sent.push(decodeCertificateCached(opts.chain[i]));
    } catch (err) {
      return fail({ alert: 'bad_certificate', reason: `certificate #${i} of the peer's chain is malformed: ${(err as Error).message}` });
    }
  }
  const crls = decodeCrls(opts.trust.crls ?? []);
  if (!Array.isArray(crls)) return fail(crls);
  const anchors = anchorIndex(opts.trust.anchors);
  const isAnchor = (c: Certificate): boolean => (anchors.bySubject.get(c.subject.normalized) ?? []).some((a) => a.der.equals(c.der));
  const leaf = sent[0];
  const intermediates = sent.slice(1).filter((c, i, all) => !isAnchor(c) && all.findIndex((o) => o.der.equals(c.der)) === i);

  let firstFailure: Failure | undefined;
  let signatureFailure: Failure | undefined;
  let checks = 0;

  const finish = (path: Certificate[]): Certificate[] | undefined => {
    const failure = validatePath(path, opts, crls);
    if (!failure) return path;
    firstFailure ??= failure;
    return undefined;
  };

  const extend = (path: Certificate[]): Certificate[] | undefined => {
    const cur = path[path.length - 1];
    if (path.length > opts.maxChainLength) {
      firstFailure ??= { alert: 'bad_certificate', reason: `no path to a trust anchor within ${opts.maxChainLength} certificates` };
      return undefined;
    }
    const fromAnchors = anchors.bySubject.get(cur.issuer.normalized) ?? [];
    const fromSent = intermediates.filter((c) => sameName(c.subject, cur.issuer) && !path.includes(c));
    const candidates = [...fromAnchors.map((c) => ({ c, anchor: true })), ...fromSent.map((c) => ({ c, anchor: false }))]
      // Try the candidates whose key identifiers agree first; the others only as a fallback.
      .sort((a, b) => Number(keyIdsCompatible(cur, b.c)) - Number(keyIdsCompatible(cur, a.c)));
    for (const { c, anchor } of candidates) {
      if (++checks > MAX_SIGNATURE_CHECKS) {
        firstFailure ??= { alert: 'bad_certificate', reason: 'gave up building a certificate path: too many candidate issuers' };
        return undefined;
      }
      if (!knownVerified(cur, c)) {
        let key: AsymmetricKey;
        try {
          key = publicKeyOf(c);
        } catch (err) {
          signatureFailure ??= { alert: 'bad_certificate', reason: (err as Error).message };
          continue;
        }
        const sig = verifySignature(cur.signatureAlgorithm, cur.tbs, cur.signature, key);
        if (sig !== true) {
          signatureFailure ??= { alert: 'bad_certificate', reason: `the signature on ${describe(cur)} by ${describe(c)} is not acceptable: ${sig}` };
          continue;
        }
        rememberVerified(cur, c);
      }
      const next = [...path, c];
      const done = anchor ? finish(next) : extend(next);
      if (done) return done;
    }
    return undefined;
  };

  const path = isAnchor(leaf) ? finish([leaf]) ?? extend([leaf]) : extend([leaf]);
  if (!path) {
    const failure = firstFailure ?? signatureFailure ?? {
      alert: 'unknown_ca' as const,
      reason: `no trust anchor found for ${describe(leaf)} (issuer "${leaf.issuer.text}")`,
    };
    return fail(failure);
  }
  let leafPublicKey: AsymmetricKey;
  try {
    leafPublicKey = publicKeyOf(leaf);
  } catch (err) {
    return fail({ alert: 'unsupported_certificate', reason: (err as Error).message });
  }
  return { ok: true, leafPublicKey, path: path.map((c) => c.der) };
}
