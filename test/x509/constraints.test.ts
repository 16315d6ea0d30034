import { Certificate, checkNameConstraints, decodeCertificate, GeneralSubtree, NameConstraints, parseIPv4, parseIPv6 } from '../../src/tls/x509';
import { certOf } from './pki';

const template = decodeCertificate(certOf('server-p256'));
const nameOf = decodeCertificate(certOf('nc-ca')).subject; // O=handshaked test PKI, CN=name-constrained CA

function withNames(names: { dns?: string[]; ip?: Buffer[]; email?: string[]; uri?: string[]; otherCount?: number }): Certificate {
  return {
    ...template,
    subjectAltName: { dns: names.dns ?? [], ip: names.ip ?? [], email: names.email ?? [], uri: names.uri ?? [], dirNames: [], otherCount: names.otherCount ?? 0 },
  };
}

const dns = (value: string): GeneralSubtree => ({ kind: 'dns', value });
const v4 = (a: string, m: string): GeneralSubtree => ({ kind: 'ip', address: parseIPv4(a)!, mask: parseIPv4(m)! });
const v6 = (a: string, m: string): GeneralSubtree => ({ kind: 'ip', address: parseIPv6(a)!, mask: parseIPv6(m)! });
const nc = (permitted: GeneralSubtree[], excluded: GeneralSubtree[] = []): NameConstraints => ({ permitted, excluded, problems: [] });

describe('name constraints', () => {
  const dnsTable: Array<[string, string, boolean]> = [
    ['example.test', 'example.test', true],
    ['example.test', 'www.example.test', true],
    ['example.test', 'WWW.Example.Test', true],
    ['example.test', 'badexample.test', false],
    ['example.test', '*.example.test', true],
    ['example.test', '*.www.example.test', true],
    // A wildcard stands for every name one label down: all of them must be permitted.
    ['a.example.test', '*.example.test', false],
    ['example.test', '*.test', false],
    ['', 'anything.test', true],
  ];
  test.each(dnsTable)('permitted DNS %j, SAN %j → %s', (constraint, san, ok) => {
    expect(checkNameConstraints(withNames({ dns: [san] }), nc([dns(constraint)])) === undefined).toBe(ok);
  });

  test('excluded DNS wins over permitted, wildcards included', () => {
    const c = nc([dns('test')], [dns('bad.test')]);
    expect(checkNameConstraints(withNames({ dns: ['good.test'] }), c)).toBeUndefined();
    expect(checkNameConstraints(withNames({ dns: ['x.bad.test'] }), c)).toMatch(/excluded/);
    expect(checkNameConstraints(withNames({ dns: ['*.bad.test'] }), c)).toMatch(/excluded/);
    expect(checkNameConstraints(withNames({ dns: ['good.test', 'bad.test'] }), c)).toMatch(/"bad\.test"/);
  });

  test('a wildcard that could stand for an excluded name is excluded', () => {
    const c = nc([], [dns('x.bad.test')]);
    expect(checkNameConstraints(withNames({ dns: ['*.bad.test'] }), c)).toMatch(/"\*\.bad\.test" is in an excluded subtree/);
    expect(checkNameConstraints(withNames({ dns: ['*.test'] }), nc([], [dns('bad.test')]))).toMatch(/excluded/);
    // Two labels below the wildcard's base: no single-label match reaches it.
    expect(checkNameConstraints(withNames({ dns: ['*.bad.test'] }), nc([], [dns('y.x.bad.test')]))).toBeUndefined();
    expect(checkNameConstraints(withNames({ dns: ['*.good.test'] }), c)).toBeUndefined();
  });

  test('a subject commonName that reads as a host name is constrained when there is no DNS SAN', () => {
    const cnOnly = (cn: string): Certificate => ({
      ...template,
      subject: { ...template.subject, rdns: [`2.5.4.3=${cn}`], attributes: [{ oid: '2.5.4.3', value: cn }] },
      subjectAltName: undefined,
    });
    const c = nc([dns('example.test')], [dns('bad.example.test')]);
    expect(checkNameConstraints(cnOnly('host.example.test'), c)).toBeUndefined();
    expect(checkNameConstraints(cnOnly('evil.example'), c)).toMatch(/commonName "evil\.example" is outside/);
    expect(checkNameConstraints(cnOnly('x.bad.example.test'), c)).toMatch(/commonName .* excluded/);
    // Not a host name (no dot, a space): no DNS name to constrain.
    expect(checkNameConstraints(cnOnly('nfs server'), c)).toBeUndefined();
    // With a DNS SAN, the SAN is the name; the CN is not consulted.
    expect(checkNameConstraints({ ...cnOnly('evil.example'), subjectAltName: withNames({ dns: ['a.example.test'] }).subjectAltName }, c)).toBeUndefined();
  });

  test('malformed constraints are refused whatever the names', () => {
    const bad: NameConstraints = { permitted: [dns('.example.test')], excluded: [], problems: ['leading period'] };
    expect(checkNameConstraints(withNames({ dns: ['a.example.test'] }), bad)).toMatch(/malformed: leading period/);
  });

  test('the comparison budget bounds names × constraints', () => {
    const many = nc(Array.from({ length: 300 }, (_, i) => dns(`n${i}.test`)));
    const names = withNames({ dns: Array.from({ length: 300 }, (_, i) => `n${i}.test`) });
    expect(checkNameConstraints(names, many)).toMatch(/more than 65536 name comparisons/);
    const budget = { left: 1000 };
    expect(checkNameConstraints(withNames({ dns: ['n1.test'] }), nc([dns('test')]), budget)).toBeUndefined();
    expect(budget.left).toBe(1000 - 2); // subject DN and one DNS name, one subtree each
  });

  test('IPv4 and IPv6 subtrees are separate families', () => {
    const c = nc([v4('10.1.0.0', '255.255.0.0'), v6('2001:db8::', 'ffff:ffff::')]);
    expect(checkNameConstraints(withNames({ ip: [parseIPv4('10.1.2.3')!] }), c)).toBeUndefined();
    expect(checkNameConstraints(withNames({ ip: [parseIPv4('10.2.0.1')!] }), c)).toMatch(/10\.2\.0\.1/);
    expect(checkNameConstraints(withNames({ ip: [parseIPv6('2001:db8:5::1')!] }), c)).toBeUndefined();
    expect(checkNameConstraints(withNames({ ip: [parseIPv6('2001:db9::1')!] }), c)).toMatch(/2001:db9::1/);
    // An IPv4 permitted subtree alone does not admit IPv6 addresses.
    expect(checkNameConstraints(withNames({ ip: [parseIPv6('::ffff:10.1.2.3')!] }), nc([v4('10.1.0.0', '255.255.0.0')]))).toMatch(/outside/);
    // DNS-only constraints leave IP SANs alone.
    expect(checkNameConstraints(withNames({ ip: [parseIPv4('192.0.2.1')!] }), nc([dns('.test')]))).toBeUndefined();
  });

  test('email and URI subtrees', () => {
    const c = nc([{ kind: 'email', value: '.example.test' }, { kind: 'uri', value: 'host.test' }]);
    expect(checkNameConstraints(withNames({ email: ['a@mail.example.test'] }), c)).toBeUndefined();
    expect(checkNameConstraints(withNames({ email: ['a@example.org'] }), c)).toMatch(/email/);
    expect(checkNameConstraints(withNames({ uri: ['https://host.test/x'] }), c)).toBeUndefined();
    expect(checkNameConstraints(withNames({ uri: ['https://other.test/'] }), c)).toMatch(/URI/);
    expect(checkNameConstraints(withNames({ uri: ['not a uri'] }), c)).toMatch(/URI/);
  });

  test('directoryName subtrees constrain the subject DN by RDN prefix', () => {
    const sameOrg = decodeCertificate(certOf('root-ca')).subject; // O=handshaked test PKI, CN=...
    const prefix = { ...sameOrg, rdns: sameOrg.rdns.slice(0, 1) };
    expect(checkNameConstraints(template, nc([{ kind: 'dirName', value: prefix }]))).toBeUndefined();
    expect(checkNameConstraints(template, nc([{ kind: 'dirName', value: nameOf }]))).toMatch(/subject/);
    expect(checkNameConstraints(template, nc([], [{ kind: 'dirName', value: prefix }]))).toMatch(/excluded/);
  });

  test('a constraint form we cannot evaluate fails closed only for certificates carrying such names', () => {
    const c = nc([{ kind: 'other', tag: 0xa0 }]);
    expect(checkNameConstraints(withNames({ dns: ['a.test'] }), c)).toBeUndefined();
    expect(checkNameConstraints(withNames({ dns: ['a.test'], otherCount: 1 }), c)).toMatch(/cannot evaluate/);
  });
});
