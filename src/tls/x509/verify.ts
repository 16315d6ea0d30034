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
 * forged CRL must not silently switch it off. The same holds for a CRL without a cRLNumber
 * (RFC 5280 §5.2.3 makes it mandatory; without it, which CRL is newer is unknowable) and for one
 * whose issuer's keyUsage lacks cRLSign (that key may not vouch for revocation). CRL freshness
 * (nextUpdate) is not enforced: an old CRL still revokes what it lists.
 *
 * Two kinds of rule apply to a complete path. Security rules always: validity, critical
 * extensions, CA and key-usage bits, weak keys (keys.ts), name constraints, policies (policy.ts),
 * revocation, purpose. Profile rules only with TrustConfig.strict (profile.ts).
 */
import { KeyObject } from 'node:crypto';
import type { AlertName, ChainVerifyOptions, ChainVerifyResult } from '../api';
import { Certificate, decodeCertificateCached, isSelfIssued, KeyUsage, knownVerified, publicKeyOf, rememberVerified } from './cert';
import { checkNameConstraints, ConstraintBudget, MAX_NAME_CONSTRAINT_CHECKS } from './constraints';
import { Crl, decodeCrlCached, serialKey } from './crl';
import { sameName } from './dn';
import { publicKeyProblem } from './keys';
import { matchName } from './names';
import { OID } from './oids';
import { checkPolicies } from './policy';
import { checkStrictProfile } from './profile';
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

/**
 * Validity is inclusive at both ends (RFC 5280 §4.1.2.5) and certificate times have whole seconds,
 * so the check runs at whole seconds too: `now` is floored. A certificate is then valid through
 * the entire last second its notAfter names (12:00:00.005 is still 12:00:00), and not valid
 * during the second before its notBefore (00:00:00.999 is before 00:00:01).
 */
function checkValidity(path: Certificate[], at: Date): Failure | undefined {
  const now = new Date(Math.floor(at.getTime() / 1000) * 1000);
  for (const c of path) {
    if (now < c.notBefore) return { alert: 'certificate_expired', reason: `certificate ${describe(c)} is not valid before ${c.notBefore.toISOString()}` };
    if (now > c.notAfter) return { alert: 'certificate_expired', reason: `certificate ${describe(c)} expired at ${c.notAfter.toISOString()}` };
  }
  return undefined;
}

/**
 * An end-entity certificate issued by someone else must not be a CA, may not sign certificates
 * and carries no name constraints (RFC 5280 §4.2.1.3, §4.2.1.9, §4.2.1.10): a leaf that is also a
 * CA could mint certificates its issuer never vetted. A pathLenConstraint in a leaf is meaningless
 * and ignored. A leaf that is itself the trust anchor (a self-signed server certificate made with
 * `openssl req -x509`, cA true by default) is exempt: the administrator trusts it as it is.
 */
function checkLeaf(path: Certificate[]): Failure | undefined {
  if (path.length < 2) return undefined;
  const leaf = path[0];
  if (leaf.basicConstraints?.ca) {
    return { alert: 'bad_certificate', reason: `end-entity certificate ${describe(leaf)} is a CA certificate (basicConstraints cA is set)` };
  }
  if (leaf.keyUsage !== undefined && leaf.keyUsage & KeyUsage.keyCertSign) {
    return { alert: 'bad_certificate', reason: `end-entity certificate ${describe(leaf)} has keyCertSign in keyUsage but is not a CA` };
  }
  if (leaf.extensions.some((e) => e.oid === OID.nameConstraints)) {
    return { alert: 'bad_certificate', reason: `end-entity certificate ${describe(leaf)} carries nameConstraints, which only a CA certificate may` };
  }
  return undefined;
}

function checkKeys(path: Certificate[]): Failure | undefined {
  for (const c of path) {
    const why = publicKeyProblem(c);
    if (why) return { alert: 'unsupported_certificate', reason: `certificate ${describe(c)} has an unacceptable public key: ${why}` };
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

function checkNames(path: Certificate[], budget: ConstraintBudget): Failure | undefined {
  for (let i = 1; i < path.length; i++) {
    const nc = path[i].nameConstraints;
    if (!nc) continue;
    if (nc.problems.length > 0) {
      return { alert: 'bad_certificate', reason: `CA ${describe(path[i])} has name constraints that cannot be honoured: ${nc.problems.join('; ')}` };
    }
    for (let j = 0; j < i; j++) {
      if (j > 0 && isSelfIssued(path[j])) continue; // RFC 5280 §6.1.3(b): self-issued CAs are exempt.
      const why = checkNameConstraints(path[j], nc, budget);
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
      if (issuer.keyUsage !== undefined && !(issuer.keyUsage & KeyUsage.cRLSign)) {
        return { alert: 'certificate_unknown', reason: `a CRL names ${describe(issuer)} as its issuer, but that CA's keyUsage lacks cRLSign; refusing rather than skipping revocation` };
      }
      const sig = verifySignature(crl.signatureAlgorithm, crl.tbs, crl.signature, publicKeyOf(issuer));
      if (sig !== true) {
        return { alert: 'certificate_unknown', reason: `the CRL from ${describe(issuer)} cannot be trusted (${sig}); refusing rather than skipping revocation` };
      }
      if (crl.unknownCritical.length > 0) {
        return { alert: 'certificate_unknown', reason: `the CRL from ${describe(issuer)} has unsupported critical extension(s) ${crl.unknownCritical.join(', ')}` };
      }
      if (!crl.crlNumber) {
        return { alert: 'certificate_unknown', reason: `the CRL from ${describe(issuer)} has no cRLNumber (RFC 5280 §5.2.3); refusing rather than skipping revocation` };
      }
      const entry = crl.revoked.get(serialKey(cert.serial));
      if (entry) {
        return { alert: 'certificate_revoked', reason: `certificate ${describe(cert)} (serial ${serialKey(cert.serial)}) was revoked by ${describe(issuer)} on ${entry.revocationDate.toISOString()}` };
      }
    }
  }
  return undefined;
}

function checkPolicyTree(path: Certificate[]): Failure | undefined {
  const why = checkPolicies(path);
  return why ? { alert: 'bad_certificate', reason: `certificate policies: ${why}` } : undefined;
}

function checkProfile(path: Certificate[], strict: boolean | undefined): Failure | undefined {
  const why = strict ? checkStrictProfile(path) : undefined;
  return why ? { alert: 'bad_certificate', reason: why } : undefined;
}

function validatePath(path: Certificate[], opts: ChainVerifyOptions, crls: Crl[], budget: ConstraintBudget): Failure | undefined {
  const failure =
    checkValidity(path, opts.now) ??
    checkCriticalExtensions(path) ??
    checkKeys(path) ??
    checkLeaf(path) ??
    checkIssuers(path) ??
    checkNames(path, budget) ??
    checkPolicyTree(path) ??
    checkRevocation(path, crls) ??
    checkPurpose(path, opts.purpose) ??
    checkProfile(path, opts.trust.strict);
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
  // The path may hold maxChainLength certificates besides the anchor; a peer may also send its root.
  if (opts.chain.length > opts.maxChainLength + 1) {
    return fail({ alert: 'bad_certificate', reason: `the peer sent ${opts.chain.length} certificates, more than the limit of ${opts.maxChainLength} (plus a root)` });
  }
  const sent: Certificate[] = [];
  let skipped: Failure | undefined;
  for (let i = 0; i < opts.chain.length; i++) {
    try {
      sent.push(decodeCertificateCached(opts.chain[i]));
    } catch (err) {
      const failure: Failure = { alert: 'bad_certificate', reason: `certificate #${i} of the peer's chain is malformed: ${(err as Error).message}` };
      // TLS 1.3 lets a peer send extra certificates; one we cannot read is left out of path
      // building, and matters only if no path can be found without it.
      if (i === 0) return fail(failure);
      skipped ??= failure;
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
  const budget: ConstraintBudget = { left: MAX_NAME_CONSTRAINT_CHECKS };

  const finish = (path: Certificate[]): Certificate[] | undefined => {
    const failure = validatePath(path, opts, crls, budget);
    if (!failure) return path;
    firstFailure ??= failure;
    return undefined;
  };

  const extend = (path: Certificate[]): Certificate[] | undefined => {
    const cur = path[path.length - 1];
    const fromAnchors = anchors.bySubject.get(cur.issuer.normalized) ?? [];
    // Every certificate on `path` so far is not an anchor; another one must still fit the limit.
    let fromSent = intermediates.filter((c) => sameName(c.subject, cur.issuer) && !path.includes(c));
    if (fromSent.length > 0 && path.length >= opts.maxChainLength) {
      firstFailure ??= { alert: 'bad_certificate', reason: `no path to a trust anchor within ${opts.maxChainLength} certificates besides the anchor` };
      fromSent = [];
    }
    const candidates = [...fromAnchors.map((c) => ({ c, anchor: true })), ...fromSent.map((c) => ({ c, anchor: false }))]
      // Try the candidates whose key identifiers agree first; the others only as a fallback.
      .sort((a, b) => Number(keyIdsCompatible(cur, b.c)) - Number(keyIdsCompatible(cur, a.c)));
    for (const { c, anchor } of candidates) {
      if (++checks > MAX_SIGNATURE_CHECKS) {
        firstFailure ??= { alert: 'bad_certificate', reason: 'gave up building a certificate path: too many candidate issuers' };
        return undefined;
      }
      if (!knownVerified(cur, c)) {
        let key: KeyObject;
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
    const failure = firstFailure ?? signatureFailure ?? skipped ?? {
      alert: 'unknown_ca' as const,
      reason: `no trust anchor found for ${describe(leaf)} (issuer "${leaf.issuer.text}")`,
    };
    return fail(failure);
  }
  let leafPublicKey: KeyObject;
  try {
    leafPublicKey = publicKeyOf(leaf);
  } catch (err) {
    return fail({ alert: 'unsupported_certificate', reason: (err as Error).message });
  }
  return { ok: true, leafPublicKey, path: path.map((c) => c.der) };
}
