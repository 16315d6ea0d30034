/**
 * Cross-check: our verdicts against `openssl verify` on the same fixtures, at the same time, with
 * the same host name. Two differences are deliberate and asserted as such.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChainVerifyResult } from '../../src/tls/api';
import { pemBlocks, pemToDer, verifyChain } from '../../src/tls/x509';
import { chainOf, NOW, pkiFile, pkiPath, rootBundle } from './pki';

function opensslAccepts(name: string, host: string | undefined): boolean {
  const args = [
    'verify', '-CAfile', pkiPath('ca-bundle.pem'), '-untrusted', pkiPath(`${name}.chain.pem`),
    '-purpose', 'sslserver', '-attime', String(Math.floor(NOW.getTime() / 1000)),
    '-crl_check', '-CRLfile', pkiPath('intermediate-ca.crl.pem'),
    ...(host ? ['-verify_hostname', host] : []),
    pkiPath(`${name}.crt.pem`),
  ];
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 20000 });
  if (r.error) throw r.error;
  return r.status === 0;
}

// -crl_check needs a CRL for the leaf's issuer; only chains under intermediate-ca have one.
const UNDER_INTERMEDIATE = [
  'server-p256', 'server-p384', 'server-rsa2048', 'server-rsapss2048', 'server-ed25519', 'client-p256',
  'expired', 'not-yet-valid', 'wrong-name', 'no-serverauth', 'no-eku', 'unknown-critical', 'names', 'revoked',
];
/** Where we are deliberately stricter or looser than OpenSSL's "sslserver" purpose. */
const KNOWN_DIFFERENCES: Record<string, string> = {
  // RFC 5280: anyExtendedKeyUsage permits any purpose; OpenSSL's sslserver purpose insists on serverAuth.
  'any-eku': 'we accept',
  // TLS 1.3 signs with the leaf key, so keyUsage must allow digitalSignature; OpenSSL does not check this for EC keys.
  'no-digitalsignature': 'we reject',
};

describe('agreement with openssl verify', () => {
  test.each(UNDER_INTERMEDIATE.flatMap((n) => [[n, 'localhost'], [n, undefined]] as Array<[string, string | undefined]>))(
    '%s (host %s)', (name, host) => {
      const ours = verifyChain({
        chain: chainOf(name), trust: { ...rootBundle(), crls: [pkiFile('intermediate-ca.crl.der')] },
        now: NOW, purpose: 'serverAuth', name: host, maxChainLength: 10,
      });
      expect(ours.ok).toBe(opensslAccepts(name, host));
    },
  );

  test.each(Object.entries(KNOWN_DIFFERENCES))('%s: %s where OpenSSL differs', (name, what) => {
    const ours = verifyChain({
      chain: chainOf(name), trust: { ...rootBundle(), crls: [pkiFile('intermediate-ca.crl.der')] },
      now: NOW, purpose: 'serverAuth', maxChainLength: 10,
    });
    expect(ours.ok).toBe(what === 'we accept');
    expect(opensslAccepts(name, undefined)).toBe(what !== 'we accept');
  });
});

/**
 * The generated path-validation cases (scripts/gen-x509-cases.sh → fixtures/x509-cases): each is
 * run through verifyChain in the default and the strict profile, through `openssl verify
 * -x509_strict -auth_level 2 -policy_check -policy anyPolicy` (policies processed with the same
 * initial policy set as ours) and through GnuTLS `certtool --verify` (tlshd's verifier). The table
 * holds every verdict; where an oracle's verdict differs from ours, `why` says why, and
 * docs/security.md carries the same explanation.
 */
const CASES_DIR = join(__dirname, '..', '..', 'fixtures', 'x509-cases');
const casePath = (name: string, file: string): string => join(CASES_DIR, name, file);

interface Case {
  /** verifyChain, default profile / x509.strict. */
  ours: boolean;
  strict: boolean;
  openssl: boolean;
  gnutls: boolean;
  /** Host name to check (leaves under name-constraint CAs carry other names). */
  host?: string;
  /** Why an oracle disagrees with us: required exactly when one does. */
  why?: string;
  /** What our refusal must say (default profile, or strict when only strict refuses). */
  reason?: RegExp;
}

const H = 'server.test';
const CASES: Record<string, Case> = {
  // Baseline: a chain that keeps every rule.
  'strict-baseline': { ours: true, strict: true, openssl: true, gnutls: true, host: H },
  'crl-good': { ours: true, strict: true, openssl: true, gnutls: true, host: H },
  // Weak or unusable keys.
  'key-rsa1024': { ours: false, strict: false, openssl: false, gnutls: true, host: H, why: 'GnuTLS (certtool default profile) accepts 1024-bit RSA', reason: /RSA key of 1024 bits/ },
  'key-rsa1024-intermediate': { ours: false, strict: false, openssl: false, gnutls: true, host: H, why: 'GnuTLS (certtool default profile) accepts 1024-bit RSA', reason: /RSA-1024 intermediate.*1024 bits/ },
  'key-rsa2052': { ours: false, strict: false, openssl: true, gnutls: true, host: H, why: 'neither checks that the modulus is a whole number of octets', reason: /2052 bits is not a whole number of octets/ },
  'key-p192': { ours: false, strict: false, openssl: false, gnutls: true, host: H, why: 'GnuTLS accepts P-192 keys in certificates', reason: /curve P-192/ },
  'key-dsa': { ours: false, strict: false, openssl: true, gnutls: true, host: H, why: 'both accept 2048-bit DSA; TLS 1.3 cannot use it and we refuse it', reason: /DSA keys are not accepted/ },
  'key-explicit': { ours: false, strict: false, openssl: false, gnutls: true, host: H, why: 'GnuTLS accepts explicit EC parameters that name P-256', reason: /explicit or missing curve parameters/ },
  // Name constraints.
  'nc-wildcard-excluded': { ours: false, strict: false, openssl: true, gnutls: true, why: 'both compare the wildcard as a literal name, which is not below x.bad.test', reason: /"\*\.bad\.test" is in an excluded subtree/ },
  'nc-ip-excluded': { ours: false, strict: false, openssl: false, gnutls: false, reason: /10\.1\.2\.3 is in an excluded subtree/ },
  'nc-cn-no-san': { ours: false, strict: false, openssl: false, gnutls: false, reason: /commonName "evil\.example" is outside/ },
  'nc-inside': { ours: true, strict: true, openssl: true, gnutls: true },
  'nc-in-leaf': { ours: false, strict: false, openssl: true, gnutls: true, host: H, why: 'neither refuses nameConstraints in an end-entity certificate', reason: /carries nameConstraints/ },
  'nc-leading-period': { ours: false, strict: false, openssl: true, gnutls: true, why: 'both read ".example.test" as "below example.test"; RFC 5280 gives it no meaning', reason: /starts with a period/ },
  'nc-invalid-dns': { ours: false, strict: false, openssl: false, gnutls: false, reason: /"example\.\.test" is not a valid DNS name/ },
  'nc-wildcard-constraint': { ours: false, strict: false, openssl: false, gnutls: false, reason: /"\*\.example\.test" is not a valid DNS name/ },
  'nc-empty-permitted': { ours: false, strict: false, openssl: true, gnutls: true, why: 'both read an empty permittedSubtrees as no constraint', reason: /permittedSubtrees is an empty list/ },
  'nc-ip-mask': { ours: false, strict: false, openssl: false, gnutls: false, reason: /mask ff00ff00 is not a prefix/ },
  'nc-hostile': { ours: false, strict: false, openssl: false, gnutls: false, reason: /more than 65536 name comparisons/ },
  // Basic constraints, key usage, policies.
  'ee-ca-true': { ours: false, strict: false, openssl: true, gnutls: true, host: H, why: 'both accept a CA certificate as the end entity', reason: /end-entity .* is a CA certificate/ },
  'ee-keycertsign': { ours: false, strict: false, openssl: false, gnutls: true, host: H, why: 'GnuTLS does not check keyCertSign in a leaf', reason: /keyCertSign in keyUsage but is not a CA/ },
  'policy-required-missing': { ours: false, strict: false, openssl: false, gnutls: true, host: H, why: 'GnuTLS does not process policy constraints', reason: /requires an explicit policy/ },
  'policy-required-present': { ours: true, strict: true, openssl: true, gnutls: false, host: H, why: 'GnuTLS refuses the critical policyConstraints extension it does not process' },
  'policy-mapped': { ours: true, strict: true, openssl: true, gnutls: false, host: H, why: 'GnuTLS refuses the critical policyConstraints and policyMappings extensions it does not process' },
  'policy-mapping-inhibited': { ours: false, strict: false, openssl: false, gnutls: false, reason: /requires an explicit policy/ },
  // CRLs that cannot be relied on.
  'crl-issuer-no-crlsign': { ours: false, strict: false, openssl: false, gnutls: true, host: H, why: 'GnuTLS ignores a CRL it cannot use instead of failing closed', reason: /lacks cRLSign/ },
  'crl-no-number': { ours: false, strict: false, openssl: true, gnutls: true, host: H, why: 'both use a CRL without cRLNumber', reason: /no cRLNumber/ },
  'crl-critical-extension': { ours: false, strict: false, openssl: false, gnutls: true, host: H, why: 'GnuTLS ignores the unknown critical CRL extension', reason: /unsupported critical extension/ },
  // Robustness: valid chains.
  'pile-malformed': { ours: true, strict: true, openssl: true, gnutls: false, host: H, why: 'certtool refuses to load a file holding a malformed certificate at all' },
  'leaf-pathlen': { ours: true, strict: true, openssl: false, gnutls: true, host: H, why: 'OpenSSL -x509_strict refuses a pathLenConstraint in a non-CA certificate' },
  depth: { ours: true, strict: true, openssl: true, gnutls: true, host: H },
  'time-fractional': { ours: false, strict: false, openssl: false, gnutls: false, host: H, reason: /fractional seconds/ },
  // Profile: accepted by default, refused by x509.strict.
  'strict-no-aki': { ours: true, strict: false, openssl: false, gnutls: true, host: H, reason: /has no authorityKeyIdentifier/ },
  'strict-aki-critical': { ours: true, strict: false, openssl: false, gnutls: true, host: H, reason: /critical authorityKeyIdentifier/ },
  'strict-ca-no-ski': { ours: true, strict: false, openssl: false, gnutls: true, host: H, reason: /is a CA without subjectKeyIdentifier/ },
  'strict-root-no-bc': { ours: true, strict: false, openssl: false, gnutls: true, host: H, reason: /trust anchor without basicConstraints/ },
  'strict-root-bc-noncritical': { ours: true, strict: false, openssl: false, gnutls: true, host: H, reason: /basicConstraints is not critical/ },
  'strict-root-aki-issuer': { ours: true, strict: false, openssl: true, gnutls: true, host: H, why: 'OpenSSL allows authorityCertIssuer in a root\'s AKI', reason: /names an issuer and serial/ },
  'strict-cn-not-in-san': { ours: true, strict: false, openssl: true, gnutls: true, host: H, why: 'a CA/Browser Forum rule OpenSSL does not check', reason: /commonName "other\.test", which is not among/ },
  'strict-no-eku': { ours: true, strict: false, openssl: true, gnutls: true, host: H, why: 'RFC 5280 allows a leaf without EKU; a CA/Browser Forum rule', reason: /has no extendedKeyUsage/ },
  'strict-any-eku': { ours: true, strict: false, openssl: true, gnutls: true, host: H, why: 'RFC 5280 allows anyExtendedKeyUsage; a CA/Browser Forum rule', reason: /has anyExtendedKeyUsage/ },
  'strict-underscore': { ours: true, strict: false, openssl: true, gnutls: true, host: H, why: 'neither checks the DNS syntax of SAN entries', reason: /"under_score\.test" with an underscore/ },
  'strict-serial-zero': { ours: true, strict: false, openssl: true, gnutls: true, host: H, why: 'OpenSSL 3.0 -x509_strict does not check the serial number', reason: /serial number that is not positive/ },
  'strict-empty-subject': { ours: true, strict: false, openssl: true, gnutls: true, host: H, why: 'RFC 5280 allows an empty subject with a critical SAN in a leaf', reason: /has an empty subject/ },
};

function caseOurs(name: string, c: Case, strict: boolean): ChainVerifyResult {
  const crl = existsSync(casePath(name, 'crl.pem')) ? pemToDer(readFileSync(casePath(name, 'crl.pem'), 'utf8'), 'X509 CRL') : undefined;
  // pemToDer refuses a file holding a malformed certificate as a whole; split it by armour instead.
  const chain = pemBlocks(readFileSync(casePath(name, 'chain.pem'), 'utf8')).map((b) => b.der);
  return verifyChain({
    chain,
    trust: { anchors: pemToDer(readFileSync(casePath(name, 'anchors.pem'), 'utf8')), crls: crl, strict },
    now: NOW, purpose: 'serverAuth', name: c.host, maxChainLength: 10,
  });
}

function caseOpenssl(name: string, c: Case): boolean {
  const crl = existsSync(casePath(name, 'crl.pem')) ? ['-crl_check', '-CRLfile', casePath(name, 'crl.pem')] : [];
  const r = spawnSync('openssl', [
    'verify', '-x509_strict', '-auth_level', '2', '-policy_check', '-policy', OID_ANY_POLICY, '-CAfile', casePath(name, 'anchors.pem'), '-untrusted', casePath(name, 'chain.pem'),
    '-purpose', 'sslserver', '-attime', String(Math.floor(NOW.getTime() / 1000)), ...crl,
    ...(c.host ? ['-verify_hostname', c.host] : []), casePath(name, 'leaf.pem'),
  ], { encoding: 'utf8', timeout: 20000 });
  if (r.error) throw r.error;
  return r.status === 0;
}

function caseGnutls(name: string, c: Case): boolean {
  const crl = existsSync(casePath(name, 'crl.pem')) ? ['--load-crl', casePath(name, 'crl.pem')] : [];
  const r = spawnSync('certtool', [
    '--verify', '--load-ca-certificate', casePath(name, 'anchors.pem'), '--infile', casePath(name, 'chain.pem'),
    '--verify-purpose', OID_SERVER_AUTH, ...crl, ...(c.host ? ['--verify-hostname', c.host] : []),
  ], { encoding: 'utf8', timeout: 20000 });
  if (r.error) throw r.error;
  return r.status === 0;
}

const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_ANY_POLICY = '2.5.29.32.0';

describe('generated cases: verifyChain next to openssl verify -x509_strict and certtool --verify', () => {
  test('every case directory has a row, every row a directory', () => {
    expect(readdirSync(CASES_DIR).filter((d) => existsSync(casePath(d, 'chain.pem'))).sort()).toEqual(Object.keys(CASES).sort());
  });

  test.each(Object.entries(CASES))('%s', (name, c) => {
    const ours = caseOurs(name, c, false);
    const strict = caseOurs(name, c, true);
    const got = { ours: ours.ok, strict: strict.ok, openssl: caseOpenssl(name, c), gnutls: caseGnutls(name, c) };
    expect(got).toEqual({ ours: c.ours, strict: c.strict, openssl: c.openssl, gnutls: c.gnutls });
    const refusal = !ours.ok ? ours : !strict.ok ? strict : undefined;
    expect(refusal?.reason).toEqual(c.reason ? expect.stringMatching(c.reason) : undefined);
    // A disagreement with an oracle is explained; an agreement carries no stale explanation.
    const disagrees = c.openssl !== c.strict || c.gnutls !== c.ours;
    expect(Boolean(c.why)).toBe(disagrees);
  });
});
