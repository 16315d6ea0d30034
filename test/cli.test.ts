import { execFileSync } from 'node:child_process';
import path from 'node:path';

const bin = path.join(__dirname, '..', 'dist', 'cli', 'main.js');

describe('handshaked CLI', () => {
  it('lists its three commands in --help', () => {
    const out = execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    for (const cmd of ['serve', 'inspect', 'companion']) expect(out).toContain(cmd);
  });
  it('exits non-zero without a command', () => {
    expect(() => execFileSync(process.execPath, [bin], { stdio: 'pipe' })).toThrow();
  });
});
