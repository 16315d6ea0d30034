/**
 * Per-peer certificates and access (src/agent/peer-policy.ts): the pattern syntax, what each
 * pattern matches on real fixture certificates, how a pair is chosen, and how the configuration
 * refuses bad patterns and sections with FILE:LINE. `serve --check-config` on the same files.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, parseConfigText } from '../../src/agent/config';
import { loadIdentities } from '../../src/agent/identities';
import {
  accessDenied,
  certificateNames,
  clientCertificateFor,
  hostPatternMatches,
  parsePeerPattern,
  parsePskPattern,
  peerPatternMatchesCertificate,
  pskPatternMatches,
  serverCertificateFor,
} from '../../src/agent/peer-policy';
import { checkConfig } from '../../src/cli/check-config';
import { PKI, pki } from './harness';

const leaf = (name: string) => pki(`${name}.crt.der`);

/** A client pair for the servers under *.org.test, as both the parser and --check-config tests configure it. */
const orgClientSection = [
  '[authenticate.client.certificate.org]',
  'peers = *.org.test',
  `x509.certificate=${PKI}/client-rsa2048.chain.pem`,
  `x509.private_key=${PKI}/client-rsa2048.key.pem`,
];

describe('host patterns', () => {
  it.each([
    ['nfs.example.test', 'NFS.Example.Test.', true],
    ['nfs.example.test', 'other.example.test', false],
    ['*.example.test', 'a.example.test', true],
    ['*.example.test', 'example.test', false],
    ['*.example.test', 'a.b.example.test', false],
    ['192.0.2.7', '192.0.2.7', true],
    ['192.0.2.7', '192.0.2.8', false],
    ['2001:db8::1', '[2001:DB8:0::1]', true],
    ['192.0.2.7', 'host.test', false],
  ])('%s vs %s → %s', (pattern, name, expected) => {
    expect(hostPatternMatches(parsePeerPattern(pattern, false), name)).toBe(expected);
  });

  it.each([
    ['*.test', /at least two labels/],
    ['f*.example.test', /whole left-most label/],
    ['a.*.example.test', /whole left-most label/],
    ['300.1.1.1', /not a DNS name/],
    ['bad name.test', /not a DNS name/],
    ['ip:host.test', /not an IPv4 or IPv6 address/],
    ['dns:', /nothing after the prefix/],
    [`${'a'.repeat(60)}.`.repeat(9), /too long/],
  ])('refuses %p', (pattern, why) => {
    expect(() => parsePeerPattern(pattern, true)).toThrow(why);
  });

  it('prefixes are for allow lists only: peers = takes plain names', () => {
    expect(() => parsePeerPattern('dns:a.test', false)).toThrow(/prefix is not accepted here/);
    expect(parsePeerPattern('dns:a.test', true)).toMatchObject({ kind: 'dns', pattern: 'a.test' });
    expect(parsePeerPattern('cn:  Client  P256 ', true)).toMatchObject({ kind: 'cn', value: 'client p256' });
    // An IPv6 literal is not mistaken for a prefix.
    expect(parsePeerPattern('2001:db8::1', true)).toMatchObject({ kind: 'ip' });
  });
});

describe('allow-list patterns against certificates', () => {
  const p256 = certificateNames(leaf('client-p256'));
  const names = certificateNames(leaf('names'));

  it('reads SAN dNSNames, iPAddresses and the subject CN', () => {
    expect(p256).toMatchObject({ dns: ['client.test'], cn: ['client-p256'] });
    expect(names.ip.map((a) => a.length)).toEqual([4, 16, 16]);
  });

  it.each([
    ['dns:client.test', 'client-p256', true],
    ['client.test', 'client-p256', true],
    ['dns:*.test.example', 'client-p256', false],
    ['cn:client-p256', 'client-p256', true],
    ['cn:CLIENT-P256', 'client-p256', true],
    ['cn:client-rsa2048', 'client-p256', false],
    // The CN is only consulted through cn:, never as a DNS name.
    ['dns:client-p256', 'client-p256', false],
    ['ip:192.0.2.7', 'names', true],
    ['ip:2001:db8::1', 'names', true],
    ['ip:198.51.100.1', 'names', false], // the certificate has the IPv4-mapped IPv6 form, a different address
    ['dns:exact.test', 'names', true],
    // A wildcard SAN in the certificate is not a name the client holds.
    ['dns:a.wild.test', 'names', false],
    ['dns:*.wild.test', 'names', false],
  ])('%s on %s → %s', (pattern, cert, expected) => {
    expect(peerPatternMatchesCertificate(parsePeerPattern(pattern, true), certificateNames(leaf(cert)))).toBe(expected);
  });
});

describe('PSK identity patterns', () => {
  it('exact or PREFIX*, by bytes', () => {
    const exact = parsePskPattern('NVMe0R01 nqn.host-a');
    expect(pskPatternMatches(exact, Buffer.from('NVMe0R01 nqn.host-a'))).toBe(true);
    expect(pskPatternMatches(exact, Buffer.from('NVMe0R01 nqn.host-ab'))).toBe(false);
    const prefix = parsePskPattern('NVMe0R01 nqn.host-a*');
    expect(pskPatternMatches(prefix, Buffer.from('NVMe0R01 nqn.host-ab'))).toBe(true);
    expect(pskPatternMatches(prefix, Buffer.from('NVMe0R01 nqn.host-'))).toBe(false);
  });

  it('refuses a star elsewhere and a lone star', () => {
    expect(() => parsePskPattern('a*b')).toThrow(/only allowed once, as the last character/);
    expect(() => parsePskPattern('*')).toThrow(/would match every identity/);
  });
});

describe('accessDenied', () => {
  const policy = (peers?: string[], psk?: string[]) => ({
    ...(peers ? { allowedPeers: { value: peers.map((p) => parsePeerPattern(p, true)), file: '/etc/x', line: 7 } } : {}),
    ...(psk ? { allowedPskIdentities: { value: psk.map(parsePskPattern), file: '/etc/x', line: 8 } } : {}),
  });

  it('no list: everyone the trust store verified', () => {
    expect(accessDenied(undefined, { kind: 'x509', leaf: leaf('client-p256') })).toBeUndefined();
    expect(accessDenied(policy(undefined, ['a']), { kind: 'x509', leaf: leaf('client-p256') })).toBeUndefined();
  });

  it('names the rule and the certificate, not the PSK', () => {
    expect(accessDenied(policy(['cn:client-p256']), { kind: 'x509', leaf: leaf('client-p256') })).toBeUndefined();
    expect(accessDenied(policy(['cn:other']), { kind: 'x509', leaf: leaf('client-p256') })).toBe(
      'access denied by [authenticate.server] x509.allowed_peers (/etc/x:7): the client certificate (dns:client.test, cn:client-p256) matches none of cn:other',
    );
    const why = accessDenied(policy(undefined, ['host-b']), { kind: 'psk', identity: Buffer.from('host-a-secret-ish'), serial: 99 });
    expect(why).toMatch(/psk\.allowed_identities \(\/etc\/x:8\): the client's PSK identity of key 99 matches none/);
    expect(why).not.toMatch(/host-a/);
  });
});

describe('choosing a certificate', () => {
  const pair = (name: string, section: string, peers: string[] = []) => ({
    section,
    file: 'f',
    line: 1,
    certificate: { chain: [leaf(name)], key: undefined as never },
    peers: peers.map((p) => parsePeerPattern(p, false)),
  });
  const def = pair('server-p256', 'default');
  const wild = pair('names', 'names');
  const wrong = pair('wrong-name', 'wrong');

  it('server: the certificate naming the SNI, exact before wildcard, else the first', () => {
    expect(serverCertificateFor([def, wild, wrong], 'wrong.test')).toBe(wrong);
    expect(serverCertificateFor([def, wild, wrong], 'a.wild.test')).toBe(wild);
    expect(serverCertificateFor([def, wild, wrong], 'server.test')).toBe(def);
    expect(serverCertificateFor([def, wild, wrong], 'unknown.test')).toBe(def);
    expect(serverCertificateFor([def, wild, wrong], undefined)).toBe(def);
    expect(serverCertificateFor([wild, def], '127.0.0.1')).toBe(def);
    // An exact SAN later in the list beats a wildcard SAN earlier.
    const exactWild = pair('wrong-name', 'exact');
    const star = { ...pair('names', 'star') };
    expect(serverCertificateFor([star, exactWild], 'wrong.test')).toBe(exactWild);
    expect(serverCertificateFor([], 'x.test')).toBeUndefined();
  });

  it('client: the pair whose peers cover the peer name, exact before wildcard, else the default', () => {
    const own = pair('client-p256', 'own');
    const org = pair('client-rsa2048', 'org', ['*.org.test']);
    const one = pair('client-rsa2048', 'one', ['nfs.org.test', '192.0.2.10']);
    expect(clientCertificateFor([org, one], 'nfs.org.test', own)).toBe(one);
    expect(clientCertificateFor([org, one], 'x.org.test', own)).toBe(org);
    expect(clientCertificateFor([org, one], '192.0.2.10', own)).toBe(one);
    expect(clientCertificateFor([org, one], 'elsewhere.test', own)).toBe(own);
    expect(clientCertificateFor([org, one], 'elsewhere.test')).toBeUndefined();
  });
});

describe('configuration', () => {
  const base = [
    '[authenticate.server]',
    `x509.certificate=${PKI}/server-p256.chain.pem`,
    `x509.private_key=${PKI}/server-p256.key.pem`,
  ];
  const parse = (lines: string[]) => parseConfigText(lines.join('\n'), '/etc/tlshd/config');
  const errorOf = (lines: string[]) => {
    try {
      parse(lines);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error('parsed without error');
  };

  it('reads allow lists and per-peer sections in file order', () => {
    const { config, warnings } = parse([
      ...base,
      'x509.allowed_peers = cn:a; dns:*.clients.test; ip:192.0.2.1',
      'psk.allowed_identities = NVMe0R01 host-a*',
      '[authenticate.server.certificate.second]',
      `x509.certificate=${PKI}/names.chain.pem`,
      `x509.private_key=${PKI}/names.key.pem`,
      ...orgClientSection,
    ]);
    expect(warnings).toEqual([]);
    expect(config.server.allowedPeers).toEqual({ value: ['cn:a', 'dns:*.clients.test', 'ip:192.0.2.1'], file: '/etc/tlshd/config', line: 4 });
    expect(config.server.allowedPskIdentities?.value).toEqual(['NVMe0R01 host-a*']);
    expect(config.server.alternates?.map((a) => [a.name, a.line])).toEqual([['second', 6]]);
    expect(config.client.alternates?.[0].peers?.value).toEqual(['*.org.test']);
    const ids = loadIdentities(config);
    expect(ids.server.certificates.map((c) => c.section)).toEqual(['[authenticate.server]', '[authenticate.server.certificate.second]']);
    expect(ids.client.certificates.map((c) => c.section)).toEqual(['[authenticate.client.certificate.org]']);
  });

  it.each([
    [['x509.allowed_peers = cn:a; *.test'], /^\/etc\/tlshd\/config:4: x509\.allowed_peers: "\*\.test": a wildcard needs at least two labels/],
    [['x509.allowed_peers ='], /^\/etc\/tlshd\/config:4: x509\.allowed_peers: the list is empty/],
    [['psk.allowed_identities = a*b'], /^\/etc\/tlshd\/config:4: psk\.allowed_identities: "a\*b"/],
    [['[authenticate.client.certificate.x]', 'peers = dns:a.test', 'x509.certificate=/x'], /^\/etc\/tlshd\/config:5: peers: "dns:a\.test": a dns: prefix is not accepted here/],
    [['[authenticate.client.certificate.x]', `x509.certificate=${PKI}/client-p256.chain.pem`, `x509.private_key=${PKI}/client-p256.key.pem`], /^\/etc\/tlshd\/config:4: \[authenticate\.client\.certificate\.x\] has no peers/],
    [['[authenticate.server.certificate.x]', `x509.certificate=${PKI}/names.chain.pem`], /^\/etc\/tlshd\/config:5: \[authenticate\.server\.certificate\.x\] sets x509\.certificate without x509\.private_key/],
    [['[authenticate.server.certificate.x]'], /^\/etc\/tlshd\/config:4: \[authenticate\.server\.certificate\.x\] names no certificate/],
  ])('refuses %j with FILE:LINE', (extra, why) => {
    expect(errorOf([...base, ...extra])).toMatch(why);
  });

  it('a per-peer pair that does not load names its section and line', () => {
    const { config } = parse([...base, '[authenticate.server.certificate.broken]', `x509.certificate=${PKI}/names.chain.pem`, `x509.private_key=${PKI}/client-p256.key.pem`]);
    expect(() => loadIdentities(config)).toThrow(/^\/etc\/tlshd\/config:6: x509\.private_key .* does not belong to the first certificate/);
  });

  it('a tlshd configuration means what it meant: no new sections, no new behaviour', () => {
    const { config } = parse(base);
    const ids = loadIdentities(config);
    expect(ids.server.certificates).toHaveLength(1);
    expect(ids.server.access).toBeUndefined();
  });
});

describe('serve --check-config', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-check-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (text: string) => {
    const f = path.join(dir, 'config');
    fs.writeFileSync(f, text);
    return f;
  };

  it('prints the resolved table and exits 0', () => {
    const f = write(
      [
        '[authenticate.server]',
        `x509.certificate=${PKI}/server-p256.chain.pem`,
        `x509.private_key=${PKI}/server-p256.key.pem`,
        'x509.allowed_peers = cn:client-p256',
        'x509.allowed_peer = a typo, only warned about',
        '[authenticate.server.certificate.wild]',
        `x509.certificate=${PKI}/names.chain.pem`,
        `x509.private_key=${PKI}/names.key.pem`,
        ...orgClientSection,
        // A clone checks the fixture keys out 0644; their mode is not what this test is about.
        '[handshaked]',
        'key_file_mode_check = off',
      ].join('\n'),
    );
    const r = checkConfig({ path: f, format: 'json' });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${f}:5: warning: unknown key "x509.allowed_peer" in [authenticate.server] ignored\n`);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    const row = (setting: string) => rows.filter((x) => x.setting === setting);
    expect(row('server certificate').map((x) => [x.value.split(':')[0], x.from])).toEqual([
      ['[authenticate.server]', `${f}:2`],
      ['[authenticate.server.certificate.wild]', `${f}:6`],
    ]);
    expect(row('server certificate')[1].value).toMatch(/dns:\*\.wild\.test/);
    expect(row('server x509.allowed_peers')[0]).toMatchObject({ value: 'only cn:client-p256', from: `${f}:4` });
    expect(row('client certificate').map((x) => x.value)).toEqual([
      expect.stringMatching(/^\[authenticate\.client\.certificate\.org\]: dns:client\.test, cn:client-rsa2048; for servers \*\.org\.test$/),
      expect.stringMatching(/^none for other servers/),
    ]);
    expect(rows.every((x) => x.scope === 'agent')).toBe(true);
    const text = checkConfig({ path: f, format: 'text' });
    expect(text.stdout.split('\n')[0]).toMatch(/^SCOPE\s+SETTING\s+VALUE\s+\[FROM\]$/);
  });

  it('exits 1 with FILE:LINE when the file is bad, and prints no table', () => {
    const f = write(['[authenticate.server]', 'x509.allowed_peers = cn:a', 'x509.allowed_peers_typo = 1', 'psk.allowed_identities = *'].join('\n'));
    const r = checkConfig({ path: f, format: 'text' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`handshaked serve --check-config: ${f}:4: psk.allowed_identities: "*" would match every identity`);
  });

  it('the installed command: serve --check-config exits 0 on a valid file and 1 with FILE:LINE, starting no agent', () => {
    const bin = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
    const good = write(['[authenticate.server]', `x509.certificate=${PKI}/server-p256.chain.pem`, `x509.private_key=${PKI}/server-p256.key.pem`].join('\n'));
    const ok = spawnSync(process.execPath, [bin, 'serve', '--check-config', '-c', good], { encoding: 'utf8', timeout: 30000 });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^agent\s+server certificate\s+\[authenticate\.server\]: dns:localhost/m);
    const bad = write(['[authenticate.server]', 'x509.allowed_peers = ip:999.1.1.1'].join('\n'));
    const no = spawnSync(process.execPath, [bin, 'serve', '--check-config', '--config', bad], { encoding: 'utf8', timeout: 30000 });
    expect(no.status).toBe(1);
    expect(no.stderr).toContain(`${bad}:2: x509.allowed_peers: "ip:999.1.1.1" is not an IPv4 or IPv6 address`);
  });
});
