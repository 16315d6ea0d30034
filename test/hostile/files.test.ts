/**
 * Files that must never block or balloon the agent: a FIFO, a device, a directory or a socket
 * where a certificate, key, trust store, CRL or configuration file belongs is refused at once
 * with FILE:LINE and the setting — at start-up, on SIGHUP and in the per-handshake rotation
 * check — and a file over its kind's size cap is refused before it is read. A burst of SIGHUPs
 * costs one reload.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/agent/config';
import { Daemon } from '../../src/agent/daemon';
import { defaultHandshakeEnv } from '../../src/agent/runtime';
import { captureTransport } from '../../src/agent/logging';
import { FILE_LIMITS, FileRefusedError, readRegularFile } from '../../src/sys/files';
import { PKI, agentPerTest, closing, configText, consumerListener, pki, rotatableServerIdentity, servedCurve, startAgent } from '../agent/harness';
import { thrownBy } from '../helpers/thrown';

jest.setTimeout(60_000);

let dir: string;
let fifo: string;
let sock: net.Server;
let sockPath: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-files-'));
  fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  sockPath = path.join(dir, 'sock');
  sock = net.createServer();
  await new Promise<void>((r) => sock.listen(sockPath, r));
});

afterAll(async () => {
  await new Promise<void>((r) => sock.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function link(name: string, target: string): string {
  const p = path.join(dir, name);
  fs.rmSync(p, { force: true });
  fs.symlinkSync(target, p);
  return p;
}


describe('readRegularFile', () => {
  const kinds: Array<[string, () => string, RegExp]> = [
    ['a FIFO', () => fifo, /is a FIFO \(named pipe\); a regular file \(or a symlink to one\) is expected/],
    ['/dev/zero', () => '/dev/zero', /is a character device/],
    ['a symlink to /dev/zero', () => link('zero-link', '/dev/zero'), /is a character device/],
    ['a symlink to a FIFO', () => link('fifo-link', fifo), /is a FIFO/],
    ['a directory', () => dir, /is a directory/],
    ['a socket', () => sockPath, /is a socket/],
  ];
  it.each(kinds)('refuses %s at once, naming the file and what it is', (_name, p, why) => {
    const e = thrownBy(FileRefusedError, () => readRegularFile(p(), 'certificate'));
    expect(e.message).toContain(`cannot read certificate file "${p()}"`);
    expect(e.message).toMatch(why);
  });

  it('reads a regular file through a symlink', () => {
    const p = link('chain-link', path.join(PKI, 'server-p256.chain.pem'));
    expect(readRegularFile(p, 'certificate').equals(pki('server-p256.chain.pem'))).toBe(true);
  });

  it('refuses a file over its kind cap before reading it, stating the limit', () => {
    const big = path.join(dir, 'big.pem');
    fs.writeFileSync(big, Buffer.alloc(FILE_LIMITS.certificate + 1, 0x41));
    const e = thrownBy(FileRefusedError, () => readRegularFile(big, 'certificate'));
    expect(e.reason).toBe('EFBIG');
    expect(e.message).toMatch(/is 1048577 bytes; the limit for a certificate file is 1 MiB/);
    expect(readRegularFile(big, 'trust-store').length).toBe(FILE_LIMITS.certificate + 1);
  });

  it('states a cap for every kind', () => {
    expect(FILE_LIMITS).toEqual({ config: 1 << 20, certificate: 1 << 20, 'private-key': 1 << 20, 'trust-store': 4 << 20, crl: 16 << 20 });
  });
});

describe('configuration file', () => {
  it.each([
    ['FIFO', () => fifo, /cannot read the configuration file: it is a FIFO/],
    ['/dev/zero', () => '/dev/zero', /cannot read the configuration file: it is a character device/],
  ])('a %s as the configuration file is refused, not read', (_n, p, why) => {
    expect(() => loadConfig({ path: p() })).toThrow(why);
  });
});

describe('the key log (--keylog / SSLKEYLOGFILE)', () => {
  it.each([
    ['a FIFO', () => fifo, /cannot open the key log .*ENXIO/],
    ['/dev/null', () => '/dev/null', /key log file "\/dev\/null" is a character device; a regular file is expected/],
  ])('%s is refused at start-up without blocking', async (_n, p, why) => {
    const configPath = path.join(dir, 'keylog-config');
    fs.writeFileSync(configPath, configText());
    const started = Date.now();
    const err = await Daemon.start({ configPath, transports: [], ktls: 'off', env: defaultHandshakeEnv(), keylogFile: p(), logTransports: [captureTransport().transport] }).then(
      async (d) => {
        await d.stop();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(why);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('the agent with hostile identity files', () => {
  const start = agentPerTest();

  const settings: Array<[string, string, () => string]> = [
    ['x509.certificate', `${PKI}/server-p256.chain.pem`, () => fifo],
    ['x509.private_key', `${PKI}/server-p256.key.pem`, () => '/dev/zero'],
    ['x509.truststore', `${PKI}/ca-bundle.pem`, () => link('ca-zero', '/dev/zero')],
  ];
  it.each(settings)('start-up with %s pointing at a FIFO or device fails with FILE:LINE and the setting', async (key, original, bad) => {
    // The server section comes second in configText; its settings are on lines 6..8.
    const text = configText().split('\n').map((l, i) => (i >= 4 && l.startsWith(`${key}=`) ? `${key}=${bad()}` : l)).join('\n');
    const started = Date.now();
    const err = await startAgent({ config: text }).then(
      async (a) => {
        await a.stop();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(new RegExp(`config:\\d+: \\[authenticate\\.server\\] ${key.replace('.', '\\.')}: cannot read .* it is a (FIFO|character device)`));
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('SIGHUP with the configuration file replaced by a FIFO: logged, the previous configuration kept', async () => {
    const agent = await start();
    fs.rmSync(agent.configPath);
    fs.symlinkSync(fifo, agent.configPath);
    expect(await agent.daemon.requestReload()).toBe(false);
    expect(agent.lines.join('\n')).toMatch(/reload failed, keeping the previous configuration: .*cannot read the configuration file: it is a FIFO/);
    expect(agent.daemon.config.server.certificate?.value).toMatch(/server-p256/);
  });

  it('a burst of SIGHUPs costs one reload', async () => {
    const agent = await start();
    const before = agent.lines.filter((l) => l.includes('configuration reloaded')).length;
    const all = Array.from({ length: 30 }, () => agent.daemon.requestReload());
    expect(new Set(all).size).toBe(1);
    expect(await Promise.all(all)).toEqual(Array(30).fill(true));
    expect(agent.lines.filter((l) => l.includes('configuration reloaded')).length).toBe(before + 1);
    // After it ran, the next SIGHUP reloads again.
    expect(await agent.daemon.requestReload()).toBe(true);
    expect(agent.lines.filter((l) => l.includes('configuration reloaded')).length).toBe(before + 2);
  });

  it.each([
    ['a FIFO', () => fifo],
    ['a symlink to /dev/zero', () => '/dev/zero'],
  ])('certificate replaced in place by %s: logged, the previous one served, and the agent still stops', async (_n, target) => {
    const rot = rotatableServerIdentity('hsd-rotate-');
    try {
      const agent = await start({ config: rot.config });
      await closing(await consumerListener(), async (l) => {
        expect(await servedCurve(agent, l)).toBe('prime256v1');
        fs.rmSync(rot.chain);
        fs.symlinkSync(target(), rot.chain);
        expect(await servedCurve(agent, l)).toBe('prime256v1');
        expect(agent.lines.join('\n')).toMatch(/identity files changed on disk but do not load, keeping the previous ones: .*x509\.certificate: cannot read certificate file .* it is a (FIFO|character device)/);
        const stopped = Date.now();
        await agent.stop();
        expect(Date.now() - stopped).toBeLessThan(10_000);
      });
    } finally {
      fs.rmSync(rot.dir, { recursive: true, force: true });
    }
  });
});
