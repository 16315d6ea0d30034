/**
 * Cross-check: our verdicts against `openssl verify` on the same fixtures, at the same time, with
 * the same host name. Two differences are deliberate and asserted as such.
 */
import { spawnSync } from 'node:child_process';
import { verifyChain } from '../../src/tls/x509';
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
