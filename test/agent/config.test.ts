import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, defaultMaxHandshakes, defaultWorkers, LEGACY_CONFIG_PATH, loadConfig, parseConfigText, parseHostPort } from '../../src/agent/config';
import { parseKeyFile, splitList } from '../../src/agent/keyfile';
import { thrownBy } from '../helpers/thrown';

const F = '/etc/tlshd/config';

describe('GLib key file reader', () => {
  it('keeps the line of each key, merges repeated groups and lets the last value win', () => {
    const kf = parseKeyFile('# c\n[a]\nx = 1\n\n[b]\ny=2\n[a]\nx=3\n', 'f');
    const a = kf.groups.get('a');
    expect(a?.entries.get('x')).toEqual({ value: '3', line: 8 });
    expect(kf.groups.get('b')?.entries.get('y')).toEqual({ value: '2', line: 6 });
  });
  it('decodes escapes and splits lists like GLib', () => {
    const kf = parseKeyFile('[a]\nk=\\sone\\ttwo\\\\\nl=a;b\\;c;;d;\n', 'f');
    expect(kf.groups.get('a')?.entries.get('k')?.value).toBe(' one\ttwo\\');
    expect(splitList(kf.groups.get('a')?.entries.get('l')?.value ?? '')).toEqual(['a', 'b;c', 'd']);
  });
  it('rejects a key before any group with the line number', () => {
    expect(() => parseKeyFile('\nk=v\n', 'f')).toThrow('f:2: key "k" comes before any "[group]" header');
  });
  it('rejects a line that is neither group, key nor comment', () => {
    expect(() => parseKeyFile('[a]\nnonsense\n', 'f')).toThrow(/^f:2: /);
  });
});

describe('tlshd configuration', () => {
  it('reads every tlshd key and our own section', () => {
    const { config, warnings } = parseConfigText(
      [
        '[debug]',
        'loglevel=1',
        'tls=2',
        'nl=3',
        'delay_done=4',
        '[authenticate]',
        'keyrings=mykeys;other',
        '[authenticate.client]',
        'x509.truststore=/ca.pem',
        'x509.certificate=/c.pem',
        'x509.private_key=/c.key',
        '[authenticate.server]',
        'x509.crl=/crl.pem',
        '[handshaked]',
        'max_inflight=7',
        'default_timeout_ms=2500',
        'unix_socket=@test',
        'allow_uids=0;1000',
        'allow_gids=10',
        'metrics=127.0.0.1:9100',
        'log_format=json',
        'cipher_suites=TLS_AES_256_GCM_SHA384;TLS_AES_128_GCM_SHA256',
        'groups=secp256r1',
        '',
      ].join('\n'),
      F,
    );
    expect(warnings).toEqual([]);
    expect(config.debug).toEqual({ loglevel: 1, tls: 2, nl: 3, delayDoneMs: 4000 });
    expect(config.keyrings).toEqual(['mykeys', 'other']);
    expect(config.client.truststore).toEqual({ value: '/ca.pem', file: F, line: 9 });
    expect(config.client.privateKey?.value).toBe('/c.key');
    expect(config.server.crl?.line).toBe(13);
    expect(config.maxInflight).toBe(7);
    expect(config.defaultTimeoutMs).toBe(2500);
    expect(config.unixSocket).toBe('@test');
    expect(config.allowUids).toEqual([0, 1000]);
    expect(config.allowGids).toEqual([10]);
    expect(config.metrics).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(config.logFormat).toBe('json');
    expect(config.cipherSuites).toEqual(['TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256']);
    expect(config.groups).toEqual(['secp256r1']);
  });

  it('uses the documented defaults for an empty file', () => {
    const { config } = parseConfigText('', F);
    expect(config.defaultTimeoutMs).toBe(10000);
    expect(config.client.truststore).toBeUndefined();
    expect(config.allowUids).toEqual([0]);
    expect(config.logFormat).toBe('text');
  });

  it('warns about unknown keys and sections with their lines, and still loads', () => {
    const { warnings, config } = parseConfigText('[debug]\nloglevel=1\nfoo=2\n[main]\ndelay_done=1\n', F);
    expect(config.debug.loglevel).toBe(1);
    expect(warnings.map((w) => [w.line, w.message])).toEqual([
      [3, 'unknown key "foo" in [debug] ignored'],
      [4, 'unknown section [main] ignored'],
    ]);
  });

  it('x509.client_certificate: request by default, require and none in [authenticate.server] only', () => {
    expect(parseConfigText('', F).config.server.clientCertificate).toBeUndefined();
    for (const v of ['request', 'require', 'none'] as const) {
      expect(parseConfigText(`[authenticate.server]\nx509.client_certificate=${v}\n`, F).config.server.clientCertificate).toBe(v);
    }
    const { warnings, config } = parseConfigText('[authenticate.client]\nx509.client_certificate=require\n', F);
    expect(config.client.clientCertificate).toBeUndefined();
    expect(warnings.map((w) => w.message)).toEqual(['unknown key "x509.client_certificate" in [authenticate.client] ignored']);
  });

  it('groups accepts every implemented group, FFDHE and x448 included', () => {
    const { config } = parseConfigText('[handshaked]\ngroups=ffdhe2048;x448;secp521r1;ffdhe8192\n', F);
    expect(config.groups).toEqual(['ffdhe2048', 'x448', 'secp521r1', 'ffdhe8192']);
  });

  it('reads x509.pq.certificate / x509.pq.private_key in both roles, without a warning', () => {
    const text = '[authenticate.client]\nx509.pq.certificate=/c/pq.pem\nx509.pq.private_key=/c/pq.key\n[authenticate.server]\nx509.pq.certificate=/s/pq.pem\nx509.pq.private_key=/s/pq.key\n';
    const { warnings, config } = parseConfigText(text, F);
    expect(warnings).toEqual([]);
    expect(config.client.pqCertificate).toEqual({ value: '/c/pq.pem', file: F, line: 2 });
    expect(config.client.pqPrivateKey).toEqual({ value: '/c/pq.key', file: F, line: 3 });
    expect(config.server.pqCertificate?.value).toBe('/s/pq.pem');
    expect(config.server.pqPrivateKey?.value).toBe('/s/pq.key');
    expect(config.server.certificate).toBeUndefined();
  });

  it('refuses x509.pq.certificate without x509.pq.private_key, naming the line', () => {
    expect(() => parseConfigText('[authenticate.server]\nx509.pq.certificate=/x\n', F)).toThrow(
      `${F}:2: [authenticate.server] sets x509.pq.certificate without x509.pq.private_key; set both or neither`,
    );
  });

  it.each([
    ['[debug]\nloglevel=lots\n', `${F}:2: loglevel = "lots" is not an integer`],
    ['[handshaked]\n\nmax_inflight=0\n', `${F}:3: max_inflight = 0 is out of range (1..100000)`],
    ['[handshaked]\nlog_format=xml\n', `${F}:2: log_format = "xml": expected one of text, json`],
    ['[handshaked]\ncipher_suites=TLS_RSA_WITH_RC4\n', `${F}:2: cipher_suites: unknown name "TLS_RSA_WITH_RC4"`],
    ['[handshaked]\nmetrics=localhost\n', `${F}:2: metrics address "localhost" is not HOST:PORT`],
    ['[handshaked]\nallow_uids=root\n', `${F}:2: allow_uids: "root" is not a numeric id`],
    ['[authenticate.client]\nx509.certificate=/c.pem\n', `${F}:2: [authenticate.client] sets x509.certificate without x509.private_key`],
    ['[authenticate.server]\nx509.truststore=\n', `${F}:2: x509.truststore is empty`],
    ['[handshaked]\nmax_handshakes=0\n', `${F}:2: max_handshakes = 0 is out of range (1..1000000)`],
    ['[handshaked]\npeer_idle_timeout_ms=-1\n', `${F}:2: peer_idle_timeout_ms = -1 is out of range (0..3600000)`],
    ['[handshaked]\nworkers=1000\n', `${F}:2: workers = 1000 is out of range (0..256)`],
    // At and past 2^31 ms a Node timer fires at once: every timeout key stops well below it.
    ['[handshaked]\ndefault_timeout_ms=2147483648\n', `${F}:2: default_timeout_ms = 2147483648 is out of range (1..3600000)`],
    ['[handshaked]\nshutdown_grace_ms=4294967295\n', `${F}:2: shutdown_grace_ms = 4294967295 is out of range (0..3600000)`],
    ['[handshaked]\npeer_idle_timeout_ms=2147483648\n', `${F}:2: peer_idle_timeout_ms = 2147483648 is out of range (0..3600000)`],
    ['[authenticate.server]\nx509.client_certificate=always\n', `${F}:2: x509.client_certificate = "always": expected one of request, require, none`],
    ['[handshaked]\ngroups=x25519;ffdhe1024\n', `${F}:2: groups: unknown name "ffdhe1024"`],
  ])('stops on a bad value with file:line and why (%j)', (text, message) => {
    const err = thrownBy(ConfigError, () => parseConfigText(text, F));
    expect(err.code).toBe('ECONFIG');
    expect(err.message.startsWith(message)).toBe(true);
  });

  it('reads the bounds and the pool size; defaults follow the fd limit and the CPUs', () => {
    const { config } = parseConfigText('[handshaked]\nmax_inflight=8\nmax_handshakes=2000\npeer_idle_timeout_ms=0\nworkers=0\n', F);
    expect([config.maxInflight, config.maxHandshakes, config.peerIdleTimeoutMs, config.workers]).toEqual([8, 2000, 0, 0]);
    const d = parseConfigText('', F).config;
    expect(d.maxHandshakes).toBe(defaultMaxHandshakes());
    expect(d.peerIdleTimeoutMs).toBe(30000);
    expect(d.workers).toBe(defaultWorkers(os.availableParallelism()));
    // Two fds per held handshake, 256 kept back for the agent itself; never below max_inflight's default.
    expect(defaultMaxHandshakes(1024)).toBe(384);
    expect(defaultMaxHandshakes(1_048_576)).toBe(4096);
    expect(defaultMaxHandshakes(300)).toBe(64);
  });

  it('the workers default: none on 1 or 2 CPUs, else one per CPU but the main thread\'s, at most 32', () => {
    expect([1, 2, 3, 4, 8, 33, 34, 64, 256].map((n) => defaultWorkers(n))).toEqual([0, 0, 2, 3, 7, 32, 32, 32, 32]);
    expect(defaultWorkers(0)).toBe(0);
    expect(defaultWorkers(NaN)).toBe(0);
    // explicit values are kept as written, whatever the CPUs
    expect(parseConfigText('[handshaked]\nworkers=2\n', F).config.workers).toBe(2);
    expect(parseConfigText('[handshaked]\nworkers=0\n', F).config.workers).toBe(0);
  });

  it('reads x509.strict per role (yes/no, true/false, 1/0); off by default', () => {
    const { config } = parseConfigText('[authenticate.client]\nx509.strict = yes\n[authenticate.server]\nx509.strict=false\n', F);
    expect(config.client.strict).toBe(true);
    expect(config.server.strict).toBe(false);
    expect(parseConfigText('', F).config.client.strict).toBeUndefined();
    expect(parseConfigText('[authenticate.server]\nx509.strict=1\n', F).config.server.strict).toBe(true);
    expect(() => parseConfigText('[authenticate.server]\nx509.strict=maybe\n', F)).toThrow(`${F}:2: x509.strict = "maybe": expected yes or no`);
  });

  it('is immutable', () => {
    const { config } = parseConfigText('[authenticate]\nkeyrings=a\n', F);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.keyrings)).toBe(true);
    expect(() => (config.keyrings as string[]).push('b')).toThrow();
  });

  it('parses metrics addresses including IPv6', () => {
    expect(parseHostPort('[::1]:9100')).toEqual({ host: '::1', port: 9100 });
    expect(parseHostPort('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(() => parseHostPort('::1:9100')).toThrow();
  });
});

describe('configuration file lookup', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-cfg-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes the first file that exists', () => {
    const a = path.join(dir, 'config');
    const b = path.join(dir, 'tlshd.conf');
    fs.writeFileSync(b, '[debug]\nloglevel=2\n');
    expect(loadConfig({ searchPaths: [a, b] }).config.debug.loglevel).toBe(2);
    fs.writeFileSync(a, '[debug]\nloglevel=1\n');
    expect(loadConfig({ searchPaths: [a, b] }).config.file).toBe(a);
  });
  it('falls back to defaults with a notice when no file exists', () => {
    const r = loadConfig({ searchPaths: [path.join(dir, 'none')] });
    expect(r.config.file).toBeUndefined();
    expect(r.notices[0]).toMatch(/no configuration file/);
  });
  it('fails when -c names a file that cannot be read', () => {
    expect(() => loadConfig({ path: path.join(dir, 'missing') })).toThrow(/cannot read the configuration file: ENOENT/);
  });
  it('knows the legacy path', () => {
    expect(LEGACY_CONFIG_PATH).toBe('/etc/tlshd.conf');
  });
});
