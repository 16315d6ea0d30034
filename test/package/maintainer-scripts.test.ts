/**
 * The .deb's maintainer scripts (packaging/debian) against stand-ins for systemctl,
 * deb-systemd-helper and deb-systemd-invoke that record their calls: what gets enabled and when
 * the scripts leave a host whose agent is tlshd alone. (The VM's systemd-handshaked pass runs the
 * real ones on Debian 13: dpkg -i, reinstall with tlshd running, purge.)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const DIR = path.join(__dirname, '..', '..', 'packaging', 'debian');
const systemdRunning = fs.existsSync('/run/systemd/system');

interface Run {
  status: number | null;
  stderr: string;
  calls: string[];
}

/** Run a maintainer script; `tlshd` says how the stand-in systemctl reports tlshd.service. */
function run(script: string, args: string[], opts: { tlshdEnabled: boolean; handshakedKnown?: boolean; env?: NodeJS.ProcessEnv }): Run {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-maint-'));
  const log = path.join(bin, 'calls.log');
  const stub = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`, { mode: 0o755 });
  stub('systemctl', `case "$*" in *is-enabled*tlshd*) exit ${opts.tlshdEnabled ? 0 : 1};; *is-active*tlshd*) exit 1;; esac; exit 0`);
  // was-enabled is true on a first install (deb-systemd-helper has no state yet)
  stub('deb-systemd-helper', `case "$*" in *is-enabled*) exit ${opts.handshakedKnown ? 0 : 1};; *was-enabled*) exit 0;; esac; exit 0`);
  stub('deb-systemd-invoke', 'exit 0');
  const r = spawnSync('/bin/sh', [path.join(DIR, script), ...args], { encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin`, ...opts.env } });
  const calls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
  fs.rmSync(bin, { recursive: true, force: true });
  return { status: r.status, stderr: r.stderr, calls };
}

describe('maintainer scripts', () => {
  it('postinst configure (first install): unmasks and enables handshaked.service', () => {
    const r = run('postinst', ['configure', ''], { tlshdEnabled: false });
    expect(r.status).toBe(0);
    expect(r.calls).toContain('deb-systemd-helper unmask handshaked.service');
    expect(r.calls).toContain('deb-systemd-helper enable handshaked.service');
    expect(r.stderr).not.toMatch(/tlshd/);
    if (systemdRunning) expect(r.calls).toContain('deb-systemd-invoke start handshaked.service');
    else expect(r.calls.some((c) => c.startsWith('deb-systemd-invoke'))).toBe(false);
  });

  it('postinst configure with tlshd.service enabled: does not enable handshaked, and says how to switch', () => {
    const r = run('postinst', ['configure', ''], { tlshdEnabled: true });
    expect(r.status).toBe(0);
    expect(r.calls).not.toContain('deb-systemd-helper enable handshaked.service');
    expect(r.calls).toContain('deb-systemd-helper update-state handshaked.service');
    expect(r.stderr).toContain('tlshd.service is enabled, so handshaked.service was not enabled');
    expect(r.stderr).toContain('systemctl disable --now tlshd.service && systemctl enable --now handshaked.service');
  });

  it('postinst on an upgrade of an enabled unit keeps it enabled even beside an enabled tlshd', () => {
    const r = run('postinst', ['configure', '0.0.9'], { tlshdEnabled: true, handshakedKnown: true });
    expect(r.status).toBe(0);
    expect(r.calls).toContain('deb-systemd-helper enable handshaked.service');
  });

  it('postrm: remove masks and keeps the code cache; purge removes the state, the mask and the cache; neither fails without deb-systemd-helper', () => {
    // DPKG_ROOT points the scripts at a scratch root, so the test never touches /var/cache.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-maint-root-'));
    const cache = path.join(root, 'var', 'cache', 'handshaked');
    const env = { DPKG_ROOT: root };
    try {
      fs.mkdirSync(cache, { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(cache, 'program.v8cache'), 'x');
      expect(run('postrm', ['remove'], { tlshdEnabled: false, env }).calls).toContain('deb-systemd-helper mask handshaked.service');
      expect(fs.existsSync(path.join(cache, 'program.v8cache'))).toBe(true);
      const purge = run('postrm', ['purge'], { tlshdEnabled: false, env });
      expect(purge.status).toBe(0);
      expect(purge.calls).toEqual(expect.arrayContaining(['deb-systemd-helper purge handshaked.service', 'deb-systemd-helper unmask handshaked.service']));
      expect(fs.existsSync(cache)).toBe(false);
      fs.mkdirSync(cache, { recursive: true });
      const bare = spawnSync('/bin/sh', [path.join(DIR, 'postrm'), 'purge'], { encoding: 'utf8', env: { PATH: '/nonexistent', ...env } });
      expect(bare.status).toBe(0);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
