/**
 * Least privilege for key material: private key files that group/other can access (or another
 * user owns) are refused or warned about per [handshaked] key_file_mode_check, and key material
 * never appears in an error message, whatever the loaders or the engine are fed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, parseConfigText, type ConfigWarning } from '../../src/agent/config';
import { loadIdentities } from '../../src/agent/identities';
import { buildProfiles } from '../../src/agent/profiles';
import { createClient, createServer, type Step } from '../../src/tls';
import { loadPrivateKey, X509Error } from '../../src/tls/x509';
import { PKI } from '../agent/harness';
import { certifiedKey } from '../helpers/pki';
import { pump } from '../tls/helpers';
import { thrownBy } from '../helpers/thrown';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-keys-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const KEY_PEM = fs.readFileSync(path.join(PKI, 'server-p256.key.pem'), 'utf8');

function keyFile(mode: number, content = KEY_PEM): string {
  const f = path.join(dir, 'server.key');
  fs.writeFileSync(f, content);
  fs.chmodSync(f, mode);
  return f;
}

function config(key: string, check?: string) {
  const text = [
    '[authenticate.server]',
    `x509.certificate=${PKI}/server-p256.chain.pem`,
    `x509.private_key=${key}`,
    ...(check ? ['[handshaked]', `key_file_mode_check=${check}`] : []),
  ].join('\n');
  return parseConfigText(text, path.join(dir, 'config')).config;
}

/** Every base64 run of 16+ characters in the PEM body: none of it may appear in a message. */
function secretFragments(pem: string): string[] {
  const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  const out: string[] = [];
  for (let i = 0; i + 16 <= body.length; i += 8) out.push(body.slice(i, i + 16));
  return out;
}

function expectNoSecret(message: string, fragments: string[]): void {
  for (const f of fragments) expect(message).not.toContain(f);
}

describe('[handshaked] key_file_mode_check', () => {
  it.each([0o644, 0o640, 0o604, 0o666].map((m) => [m.toString(8), m]))('refuse: a key file with mode %s is a ConfigError naming the config line and the fix', (_octal, mode) => {
    const cfg = config(keyFile(mode), 'refuse');
    const err = thrownBy(ConfigError, () => loadIdentities(cfg));
    expect(err.message).toMatch(/config:3: x509\.private_key .*server\.key: mode 0\d{3} lets group\/other access it \(use chmod 600\)/);
  });

  it('warn (the default): loads, and reports the file and the config line', () => {
    const warnings: ConfigWarning[] = [];
    const ids = loadIdentities(config(keyFile(0o644)), (w) => warnings.push(w));
    expect(ids.server.certificate).toBeDefined();
    expect(warnings).toEqual([{ file: path.join(dir, 'config'), line: 3, message: expect.stringContaining('mode 0644') }]);
  });

  it('a key file owned by another user is reported', () => {
    const f = keyFile(0o600);
    fs.chownSync(f, 4242, 4242);
    const warnings: ConfigWarning[] = [];
    loadIdentities(config(f), (w) => warnings.push(w));
    expect(warnings.map((w) => w.message)).toEqual([expect.stringContaining('owned by uid 4242')]);
    expect(() => loadIdentities(config(f, 'refuse'))).toThrow(/owned by uid 4242/);
  });

  it('mode 0600 owned by us: nothing to say; off: nothing checked', () => {
    const warnings: ConfigWarning[] = [];
    loadIdentities(config(keyFile(0o600), 'refuse'), (w) => warnings.push(w));
    loadIdentities(config(keyFile(0o644), 'off'), (w) => warnings.push(w));
    expect(warnings).toEqual([]);
  });

  it('warn: a key file several profiles use is reported once per load, at the first line naming it', () => {
    const shared = keyFile(0o644);
    const own = path.join(dir, 'tenant.key');
    fs.writeFileSync(own, KEY_PEM, { mode: 0o644 });
    fs.chmodSync(own, 0o644);
    const text = [
      '[authenticate.server]',
      `x509.certificate=${PKI}/server-p256.chain.pem`,
      `x509.private_key=${shared}`,
      // Inherits the main section's key file.
      '[namespace.t1]',
      'keyrings=t1',
      // Names the same file again.
      '[namespace.t2]',
      `server.x509.certificate=${PKI}/server-p256.chain.pem`,
      `server.x509.private_key=${shared}`,
      // A file of its own.
      '[namespace.t3]',
      `server.x509.certificate=${PKI}/server-p256.chain.pem`,
      `server.x509.private_key=${own}`,
    ].join('\n');
    const { config: cfg } = parseConfigText(text, path.join(dir, 'config'));
    for (let load = 0; load < 2; load++) {
      const warnings: ConfigWarning[] = [];
      buildProfiles(cfg, (w) => warnings.push(w));
      expect(warnings.map((w) => [w.line, w.message])).toEqual([
        [3, expect.stringMatching(/server\.key: mode 0644/)],
        [11, expect.stringMatching(/tenant\.key: mode 0644/)],
      ]);
    }
  });

  it('a bad value is a ConfigError with the line', () => {
    expect(() => config(keyFile(0o600), 'maybe')).toThrow(/config:5: key_file_mode_check = "maybe": expected one of warn, refuse, off/);
  });
});

describe('key material never reaches an error message', () => {
  const fragments = secretFragments(KEY_PEM);

  function corruptions(): Array<[string, string]> {
    const lines = KEY_PEM.split('\n');
    const body = lines.slice(1, -2);
    return [
      ['truncated body', [lines[0], ...body.slice(0, 1), lines[lines.length - 2]].join('\n')],
      ['invalid base64', KEY_PEM.replace(body[1], body[1].replace(/[A-Za-z]/g, '*'))],
      ['no END line', lines.slice(0, -2).join('\n')],
      ['DER bytes behind a CERTIFICATE label', KEY_PEM.replace(/PRIVATE KEY/g, 'CERTIFICATE')],
      ['an encrypted key without a passphrase', fs.readFileSync(path.join(PKI, 'server-p256.encrypted.key.pem'), 'utf8')],
    ];
  }

  it.each(corruptions())('loadPrivateKey on a key with %s: X509Error without key bytes', (_what, content) => {
    const f = keyFile(0o600, content);
    const err = thrownBy(X509Error, () => loadPrivateKey(f));
    expectNoSecret(err.message, [...fragments, ...secretFragments(content)]);
  });

  it.each(corruptions())('the config loader on a key with %s: ConfigError without key bytes', (_what, content) => {
    const err = thrownBy(ConfigError, () => loadIdentities(config(keyFile(0o600, content))));
    expectNoSecret(err.message, [...fragments, ...secretFragments(content)]);
  });

  it('a PSK binder that does not verify: neither side names either key', () => {
    const identity = Buffer.from('nvme-host');
    const k1 = crypto.randomBytes(32);
    const k2 = crypto.randomBytes(32);
    const client = createClient({ psks: [{ identity, key: k1, hash: 'sha256' }] });
    const server = createServer({ clientAuth: 'none', pskLookup: (id) => (id.equals(identity) ? { identity, key: k2, hash: 'sha256' } : undefined) });
    const r = pump(client, server);
    const steps: Step[] = [r.client, r.server];
    expect(steps.map((s) => s.status)).toEqual(['failed', 'failed']);
    for (const s of steps) {
      const msg = `${s.error?.message} ${s.error?.stack}`;
      for (const k of [k1, k2]) {
        expect(msg).not.toContain(k.toString('hex'));
        expect(msg).not.toContain(k.toString('base64'));
      }
    }
  });

  it('a server private key that does not sign (wrong key type for the scheme) fails without key bytes', () => {
    const ck = certifiedKey('server-p256');
    const wrong = crypto.generateKeyPairSync('ed25519').privateKey;
    const client = createClient({ serverName: 'localhost', trust: { anchors: [] } });
    const server = createServer({ certificate: { chain: ck.chain, key: wrong }, clientAuth: 'none' });
    const r = pump(client, server);
    const pem = wrong.export({ format: 'pem', type: 'pkcs8' }).toString();
    const msg = `${r.server.error?.message ?? ''} ${r.client.error?.message ?? ''}`;
    expect(r.server.status === 'failed' || r.client.status === 'failed').toBe(true);
    expectNoSecret(msg, secretFragments(pem));
  });
});
