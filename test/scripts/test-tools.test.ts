/**
 * npm test's pretest (scripts/test-tools.sh): silent when every test tool is there; when some are
 * missing and it cannot install them, one line naming them and the apt-get line, within seconds.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'test-tools.sh');

/** A PATH holding only the given commands (symlinks to the real ones). */
function pathWith(cmds: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-tools-'));
  for (const c of cmds) {
    const real = spawnSync('bash', ['-c', `command -v ${c}`], { encoding: 'utf8' }).stdout.trim();
    if (real === '') throw new Error(`the test needs ${c} on this machine`);
    fs.symlinkSync(real, path.join(dir, c));
  }
  return dir;
}

describe('scripts/test-tools.sh', () => {
  it('is silent and succeeds when every tool is installed (as on this machine after set-up)', () => {
    const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('without a way to install: one line naming the missing commands and the apt-get line, at once', () => {
    // no apt-get on this PATH, so even root cannot install: it must stop
    const dir = pathWith(['bash', 'id', 'mktemp', 'grep', 'tail', 'rm', 'openssl']);
    const t0 = Date.now();
    const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', env: { PATH: dir } });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^handshaked test tools missing: gnutls-cli gnutls-serv keyctl (ip )?python3\. /);
    expect(lines[0]).toMatch(/sudo apt-get install -y --no-install-recommends gnutls-bin keyutils (iproute2 )?python3-minimal$/);
    expect(lines[0]).not.toMatch(/openssl/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
