import { Certificate, decodeCertificate } from '../../src/tls/x509';
import { checkPolicies } from '../../src/tls/x509/policy';
import { certOf } from './pki';

// root-ca → intermediate-ca → server-p256, with policy fields set per test (leaf first, as verifyChain builds paths).
const P = '1.3.6.1.4.1.55555.100';
const Q = '1.3.6.1.4.1.55555.101';
const ANY = '2.5.29.32.0';
type Policy = Pick<Certificate, 'policies' | 'policyMappings' | 'policyConstraints' | 'inhibitAnyPolicy'>;
const path = (leaf: Policy, ica: Policy, root: Policy = {}): Certificate[] => [
  { ...decodeCertificate(certOf('server-p256')), ...leaf },
  { ...decodeCertificate(certOf('intermediate-ca')), ...ica },
  { ...decodeCertificate(certOf('root-ca')), ...root },
];

describe('certificate policies (RFC 5280 §6.1, initial policy set anyPolicy)', () => {
  test('no policy anywhere and nothing required: valid', () => {
    expect(checkPolicies(path({}, {}))).toBeUndefined();
  });

  test('requireExplicitPolicy 0: the leaf must assert a policy the CA allows', () => {
    const req = { policies: [P], policyConstraints: { requireExplicitPolicy: 0 } };
    expect(checkPolicies(path({ policies: [P] }, req))).toBeUndefined();
    expect(checkPolicies(path({}, req))).toMatch(/explicit policy/);
    expect(checkPolicies(path({ policies: [Q] }, req))).toMatch(/explicit policy/);
    expect(checkPolicies(path({ policies: [ANY] }, req))).toBeUndefined();
  });

  test('requireExplicitPolicy 1 leaves no room at the end of this path (the wrap-up step counts the leaf)', () => {
    expect(checkPolicies(path({}, { policyConstraints: { requireExplicitPolicy: 1 } }))).toMatch(/end-entity/);
    expect(checkPolicies(path({}, { policyConstraints: { requireExplicitPolicy: 2 } }))).toBeUndefined();
  });

  test('the trust anchor\'s own extensions are not part of the path', () => {
    expect(checkPolicies(path({}, {}, { policyConstraints: { requireExplicitPolicy: 0 } }))).toBeUndefined();
  });

  test('inhibitAnyPolicy 0: anyPolicy below that CA no longer matches', () => {
    const ica = { policies: [ANY], policyConstraints: { requireExplicitPolicy: 0 }, inhibitAnyPolicy: 0 };
    expect(checkPolicies(path({ policies: [ANY] }, ica))).toMatch(/explicit policy/);
    expect(checkPolicies(path({ policies: [ANY] }, { ...ica, inhibitAnyPolicy: 1 }))).toBeUndefined();
  });

  test('mappings translate a policy unless inhibited; anyPolicy may not be mapped', () => {
    const ica = { policies: [P], policyMappings: [[P, Q]] as Array<[string, string]>, policyConstraints: { requireExplicitPolicy: 0 } };
    expect(checkPolicies(path({ policies: [Q] }, ica))).toBeUndefined();
    expect(checkPolicies(path({ policies: [P] }, ica))).toMatch(/explicit policy/);
    const inhibited = { ...ica, policyConstraints: { requireExplicitPolicy: 0, inhibitPolicyMapping: 0 } };
    // inhibitPolicyMapping in the CA that maps takes effect from the next certificate on: its own mapping stands.
    expect(checkPolicies(path({ policies: [Q] }, inhibited))).toBeUndefined();
    expect(checkPolicies(path({ policies: [Q] }, { ...ica, policyMappings: [[ANY, Q]] }))).toMatch(/anyPolicy/);
  });
});
