/**
 * [handshaked] namespaces and [namespace.NAME]: the setting, discovery on a directory tree that
 * stands for /run/netns and /proc, and setns on this host's real namespaces.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, parseConfigText } from '../../src/agent/config';
import { checkConfig } from '../../src/cli/check-config';
import { discoverNamespaces, inNetns, inPlace, isPrivilegeError, NetnsWatcher, parseNamespacesSetting } from '../../src/agent/netns';
import { applyNamespaceOverride } from '../../src/agent/ns-config';
import { buildProfiles } from '../../src/agent/profiles';
import { GenlClient } from '../../src/netlink/genl-client';
import { KernelHandshakeLink, KernelNetlinkTransport } from '../../src/netlink/kernel-link';
import { NetlinkError } from '../../src/netlink/link';
import { nlctrlFamily } from '../../src/netlink/families/nlctrl';
import { openFds } from '../helpers/fds';
import { fakeRoots } from '../helpers/netns';
import { thrownBy } from '../helpers/thrown';
import { configText, PKI, startTestDaemon } from './harness';

const inoOf = (p: string) => fs.statSync(p).ino;

describe('[handshaked] namespaces', () => {
  it('reads all, self and lists; refuses what is not a name or a path, with FILE:LINE', () => {
    expect(parseNamespacesSetting(['all'])).toEqual({ mode: 'all' });
    expect(parseNamespacesSetting(['self'])).toEqual({ mode: 'self' });
    expect(parseNamespacesSetting(['self', 'tenant1', '/proc/42/ns/net'])).toEqual({ mode: 'list', entries: ['self', 'tenant1', '/proc/42/ns/net'] });
    expect(() => parseNamespacesSetting(['all', 'tenant1'])).toThrow(/"all" cannot be combined/);
    expect(() => parseNamespacesSetting(['../etc'])).toThrow(/"\.\.\/etc" is neither/);
    expect(() => parseNamespacesSetting(['/run/netns/../x'])).toThrow(/not a normalised absolute path/);
    expect(() => parseNamespacesSetting(['a', 'a'])).toThrow(/a is listed twice/);
    expect(parseConfigText('[handshaked]\nnamespaces=all\n', 'f').config.namespaces).toEqual({ mode: 'all' });
    expect(parseConfigText('', 'f').config.namespaces).toEqual({ mode: 'self' });
    expect(() => parseConfigText('[handshaked]\n\nnamespaces=all;x\n', 'f')).toThrow(/^f:3: namespaces: "all" cannot be combined/);
  });

  it('[namespace.NAME] overrides trust, certificate and keyrings of that namespace only; bad sections are FILE:LINE errors', () => {
    const text = [
      '[authenticate]',
      'keyrings=host',
      '[authenticate.client]',
      'x509.truststore=/host/ca.pem',
      'x509.pq.certificate=/host/pq.pem',
      'x509.pq.private_key=/host/pq.key',
      '[namespace.tenant1]',
      'keyrings=t1;t1b',
      'client.x509.truststore=/t1/ca.pem',
      'client.x509.certificate=/t1/c.pem',
      'client.x509.private_key=/t1/c.key',
      'server.x509.nonsense=1',
    ].join('\n');
    const { config, warnings } = parseConfigText(text, 'f');
    expect(warnings.map((w) => `${w.line}: ${w.message}`)).toEqual([expect.stringMatching(/^12: unknown key "server.x509.nonsense" in \[namespace.tenant1\]/)]);
    expect(config.namespaceOverrides).toHaveLength(1);
    const t1 = applyNamespaceOverride(config, config.namespaceOverrides[0]);
    expect(t1.keyrings).toEqual(['t1', 't1b']);
    expect(t1.client.truststore).toEqual({ value: '/t1/ca.pem', file: 'f', line: 9, setting: '[namespace.tenant1] client.x509.truststore' });
    expect(t1.client.certificate?.value).toBe('/t1/c.pem');
    // The host's ML-DSA identity is not handed to a tenant that has its own certificate.
    expect(t1.client.pqCertificate).toBeUndefined();
    expect(config.client.pqCertificate?.value).toBe('/host/pq.pem');
    expect(config.client.truststore?.value).toBe('/host/ca.pem');
    expect(config.keyrings).toEqual(['host']);
    expect(() => parseConfigText('[namespace.../x]\n', 'f')).toThrow(/^f:1: \[namespace\.\.\.\/x\]: "\.\.\/x" is not a namespace label/);
    expect(() => parseConfigText('[namespace.t]\nserver.x509.certificate=/c.pem\n', 'f')).toThrow(/^f:2: \[namespace.t\] sets server.x509.certificate without server.x509.private_key/);
    expect(() => parseConfigText('[namespace.t]\nclient.x509.truststore=\n', 'f')).toThrow(/^f:2: \[namespace.t\] client.x509.truststore is empty/);
    expect(parseConfigText('[namespace.ino:4026532000]\nkeyrings=k\n', 'f').config.namespaceOverrides[0].label).toBe('ino:4026532000');
  });
});

describe('[namespace.NAME] errors, as written', () => {
  it.each([
    ['[namespace.t]\nclient.x509.truststore=\n', 'f:2: [namespace.t] client.x509.truststore is empty; remove the line to inherit [authenticate.client]'],
    ['[namespace.t]\nserver.x509.crl=\n', 'f:2: [namespace.t] server.x509.crl is empty; remove the line to inherit [authenticate.server]'],
    ['[authenticate.server]\nx509.truststore=\n', 'f:2: x509.truststore is empty; remove the line to use the default'],
    ['[authenticate.server.certificate.a]\nx509.private_key=\n', 'f:2: x509.private_key is empty; remove the line to use the default'],
    ['[namespace.t]\nclient.x509.pq.private_key=/k\n', 'f:2: [namespace.t] sets client.x509.pq.private_key without client.x509.pq.certificate; set both or neither'],
    ['[namespace.t]\nserver.x509.certificate=/c\nserver.x509.private_key=/k\nserver.x509.pq.certificate=/p\n', 'f:4: [namespace.t] sets server.x509.pq.certificate without server.x509.pq.private_key; set both or neither'],
    ['[namespace.t]\nclient.x509.private_key=/k\nserver.x509.certificate=/c\n', 'f:2: [namespace.t] sets client.x509.private_key without client.x509.certificate; set both or neither'],
    ['[namespace.-x]\n', 'f:1: [namespace.-x]: "-x" is not a namespace label (a /run/netns name, ino:<number> or self)'],
    ['[namespace.ino:]\n', 'f:1: [namespace.ino:]: "ino:" is not a namespace label (a /run/netns name, ino:<number> or self)'],
    [`[namespace.ino:${'1'.repeat(21)}]\n`, `f:1: [namespace.ino:${'1'.repeat(21)}]: "ino:${'1'.repeat(21)}" is not a namespace label (a /run/netns name, ino:<number> or self)`],
    [`[namespace.${'a'.repeat(256)}]\n`, `f:1: [namespace.${'a'.repeat(256)}]: "${'a'.repeat(256)}" is not a namespace label (a /run/netns name, ino:<number> or self)`],
  ])('%j: %s', (text, message) => {
    expect(thrownBy(ConfigError, () => parseConfigText(text, 'f')).message).toBe(message);
  });

  it('a file named in [namespace.NAME] that does not load is named by that section and key, not the main section', () => {
    const missing = '/nonexistent/hsd-ns-file.pem';
    const pair = (cert: string, key: string) => [`server.x509.certificate=${cert}`, `server.x509.private_key=${key}`];
    const failures: Array<[string[], string]> = [
      [[`client.x509.truststore=${missing}`], 'f:2: [namespace.t] client.x509.truststore: '],
      [[`server.x509.crl=${PKI}/ca-bundle.pem`], 'f:2: [namespace.t] server.x509.crl: '],
      [pair(missing, `${PKI}/server-p256.key.pem`), 'f:2: [namespace.t] server.x509.certificate: '],
      [pair(`${PKI}/server-p256.chain.pem`, missing), 'f:3: [namespace.t] server.x509.private_key: '],
    ];
    for (const [lines, prefix] of failures) {
      const { config } = parseConfigText(['[namespace.t]', ...lines].join('\n'), 'f');
      expect(thrownBy(ConfigError, () => buildProfiles(config)).message).toMatch(new RegExp(`^${prefix.replace(/[.[\]]/g, '\\$&')}\\S`));
    }
    // The same file in the main section is named by the main section.
    const { config } = parseConfigText(`[authenticate.client]\nx509.truststore=${missing}\n`, 'f');
    expect(thrownBy(ConfigError, () => buildProfiles(config)).message).toMatch(/^f:2: \[authenticate\.client\] x509\.truststore: \S/);
  });

  it('labels: self, ino:<number> and /run/netns names', () => {
    const labels = ['self', 'ino:1', `ino:${'9'.repeat(20)}`, 'a.b_c-1', '_x', `${'a'.repeat(255)}`];
    const { config } = parseConfigText(labels.map((l) => `[namespace.${l}]\nkeyrings=k`).join('\n'), 'f');
    expect(config.namespaceOverrides.map((o) => o.label)).toEqual(labels);
  });
});

describe('serve --check-config and namespaces', () => {
  it('prints the namespaces setting and one scope per [namespace.NAME] with what it overrides', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-check-ns-'));
    try {
      const f = path.join(dir, 'config');
      fs.writeFileSync(
        f,
        [
          '[authenticate.client]',
          `x509.truststore=${PKI}/ca-bundle.pem`,
          `x509.certificate=${PKI}/client-p256.chain.pem`,
          `x509.private_key=${PKI}/client-p256.key.pem`,
          '[handshaked]',
          'namespaces=self;tenant1',
          '[namespace.tenant1]',
          'keyrings=t1',
          `client.x509.truststore=${PKI}/ed25519-root-ca.crt.pem`,
          `client.x509.certificate=${PKI}/client-rsa2048.chain.pem`,
          `client.x509.private_key=${PKI}/client-rsa2048.key.pem`,
        ].join('\n'),
      );
      const r = checkConfig({ path: f, format: 'json' });
      expect(r.code).toBe(0);
      const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
      expect(rows.find((x) => x.setting === 'namespaces')).toMatchObject({ scope: 'agent', value: 'self; tenant1' });
      const t1 = rows.filter((x) => x.scope === 'netns tenant1');
      expect(t1.find((x) => x.setting === 'client trust')).toMatchObject({ value: expect.stringMatching(/ed25519-root-ca\.crt\.pem \(1 anchors\)/), from: `${f}:9` });
      expect(t1.find((x) => x.setting === 'client certificate')?.value).toMatch(/cn:client-rsa2048/);
      expect(t1.find((x) => x.setting === 'keyrings')).toMatchObject({ value: 't1', from: `${f}:7` });
      // The agent's own rows are unchanged by the section.
      expect(rows.find((x) => x.scope === 'agent' && x.setting === 'client certificate')?.value).toMatch(/cn:client-p256/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a [namespace.NAME] section whose key file is broken: refused by check-config and by serve with the same FILE:LINE message', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-check-ns-bad-'));
    try {
      const key = path.join(dir, 'tenant.key');
      fs.writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n', { mode: 0o600 });
      const keyLine = `server.x509.private_key=${key}`;
      const text = configText(['[handshaked]', 'namespaces=self;tenant1', 'key_file_mode_check=off', '[namespace.tenant1]', `server.x509.certificate=${PKI}/server-p384.chain.pem`, keyLine].join('\n'));
      const f = path.join(dir, 'config');
      fs.writeFileSync(f, text);
      const checked = checkConfig({ path: f, format: 'text' });
      const served = await startTestDaemon({ configPath: f, transports: [], logLevel: 'info' }).then(
        (d) => d.daemon.stop().then(() => undefined),
        (e: unknown) => e,
      );
      expect(served).toBeInstanceOf(ConfigError);
      const message = (served as Error).message;
      expect(message.startsWith(`${f}:${text.split('\n').indexOf(keyLine) + 1}: `)).toBe(true);
      expect(message).toContain(`[namespace.tenant1] server.x509.private_key: private key file "${key}"`);
      expect(checked).toEqual({ code: 1, stdout: '', stderr: `handshaked serve --check-config: ${message}\n` });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('namespace discovery', () => {
  let roots: ReturnType<typeof fakeRoots>;
  beforeEach(() => (roots = fakeRoots()));
  afterEach(() => fs.rmSync(roots.dir, { recursive: true, force: true }));

  it('all: the own namespace, every name and every process namespace, one per inode, labelled self / name / ino:N', () => {
    const a = roots.addName('a');
    roots.addName('b');
    roots.addProc(10, a); // a process in a: the same namespace reached by a second path
    roots.addProc(11, roots.self);
    const unnamed = roots.addProc(12);
    roots.addProc(13, unnamed);
    fs.mkdirSync(path.join(roots.proc, 'sys')); // not a pid
    const d = discoverNamespaces({ mode: 'all' }, roots);
    expect([...d.found.values()].map((p) => p.label).sort()).toEqual(['a', 'b', `ino:${inoOf(unnamed)}`, 'self']);
    expect([...d.found.values()][0].label).toBe('self');
    expect(discoverNamespaces({ mode: 'self' }, roots).found.size).toBe(1);
  });

  it('a list: only what it names, a path named by its /run/netns name, missing entries reported', () => {
    const a = roots.addName('a');
    roots.addName('b');
    const inA = roots.addProc(20, a);
    const d = discoverNamespaces({ mode: 'list', entries: [inA, 'c', 'self'] }, roots);
    expect([...d.found.values()].map((p) => p.label).sort()).toEqual(['a', 'self']);
    expect(d.missing).toEqual(['c']);
  });

  it('follows /run/netns with fs.watch, and what has no event by rescanning', async () => {
    const changes: string[] = [];
    const w = new NetnsWatcher({
      setting: { mode: 'all' },
      roots,
      rescanMs: 0,
      onChange: (c) => changes.push(...c.added.map((p) => `+${p.label}`), ...c.removed.map((p) => `-${p.label}`)),
    });
    expect([...w.start().found.values()].map((p) => p.label)).toEqual(['self']);
    try {
      roots.addName('late');
      for (let i = 0; i < 100 && !changes.includes('+late'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(changes).toEqual(['+late']);
      fs.unlinkSync(path.join(roots.runNetns, 'late'));
      for (let i = 0; i < 100 && !changes.includes('-late'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(changes).toEqual(['+late', '-late']);
      const ino = inoOf(roots.addProc(30));
      expect(w.rescan().added.map((x) => x.label)).toEqual([`ino:${ino}`]);
      expect(w.rescan()).toEqual({ added: [], removed: [] });
      fs.rmSync(path.join(roots.proc, '30'), { recursive: true });
      expect(w.rescan().removed.map((x) => x.label)).toEqual([`ino:${ino}`]);
    } finally {
      w.stop();
    }
  });
});

/** The thread's namespace, as the kernel names it ("net:[4026531840]"). */
const currentNetns = () => fs.readlinkSync('/proc/thread-self/ns/net');

describe('setns on this host', () => {
  it('inPlace: the own namespace without setns (its path is not even opened), any other by entering it', () => {
    const before = currentNetns();
    let inside = '';
    const here = () => {
      inside = currentNetns();
      return 7;
    };
    expect(inPlace({ label: 'self', path: '/nonexistent/self' }, here)).toBe(7);
    expect(inside).toBe(before);
    expect(() => inPlace({ label: 'tenant', path: '/nonexistent/tenant' }, () => 7)).toThrow(/ENOENT/);
    expect(() => inPlace({ label: 'tenant', path: '/proc/self/stat' }, () => 7)).toThrow(/setns \(\/proc\/self\/stat\)/);
    expect(currentNetns()).toBe(before);
  });

  if (process.getuid?.() === 0) {
    it('as root: a socket is created in a namespace made with `ip netns add`, and the thread comes back', async () => {
      const name = `hsd-test-${process.pid}`;
      execFileSync('ip', ['netns', 'add', name]);
      const file = `/run/netns/${name}`;
      const before = currentNetns();
      inNetns(file, () => undefined); // opens the fd of the agent's own namespace, kept for the process's life
      const fds = openFds();
      try {
        const target = `net:[${fs.statSync(file).ino}]`;
        expect(target).not.toBe(before);
        let inside = '';
        const transport = inNetns(file, () => {
          inside = currentNetns();
          return new KernelNetlinkTransport(false);
        });
        expect(inside).toBe(target);
        expect(currentNetns()).toBe(before);
        // The socket works there: nlctrl answers from that namespace.
        const client = new GenlClient(transport);
        try {
          expect((await client.resolveFamily('nlctrl', nlctrlFamily)).id).toBe(0x10);
        } finally {
          client.close();
        }
        // The agent's link in that namespace says what it says at home when the family is missing.
        let linkCreatedIn = '';
        const link = new KernelHandshakeLink({}, (create) =>
          inNetns(file, () => {
            linkCreatedIn = currentNetns();
            return create();
          }),
        );
        const opened = await link.open().then(
          () => 'opened',
          (e: unknown) => (e instanceof NetlinkError ? e.code : String(e)),
        );
        link.close();
        const home = new KernelHandshakeLink();
        const openedHome = await home.open().then(
          () => 'opened',
          (e: unknown) => (e instanceof NetlinkError ? e.code : String(e)),
        );
        home.close();
        expect(linkCreatedIn).toBe(target);
        expect(opened).toBe(openedHome);
        expect(currentNetns()).toBe(before);
      } finally {
        execFileSync('ip', ['netns', 'del', name]);
      }
      expect(openFds()).toBe(fds);
      expect(() => inNetns('/nonexistent/ns', () => 1)).toThrow(/ENOENT/);
      // A file that is not a namespace: EINVAL from setns, and the thread stays home.
      expect(() => inNetns('/proc/self/stat', () => 1)).toThrow(/setns \(\/proc\/self\/stat\) failed: EINVAL/);
      expect(currentNetns()).toBe(before);
    });
  } else {
    it('without privilege: entering another namespace is a privilege error and the thread stays home', () => {
      const before = currentNetns();
      const err = thrownBy(Error, () => inNetns('/proc/1/ns/net', () => 1));
      expect(isPrivilegeError(err)).toBe(true);
      expect(currentNetns()).toBe(before);
    });
  }
});
