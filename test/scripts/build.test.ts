/**
 * `npm run build -- --outDir DIR` with DIR outside the checkout, as the VM harness and the
 * package build run it: the executable and the worker entry are still bundled (before, esbuild
 * looked for the dependencies beside DIR, found none, failed, and left tsc's unbundled
 * files: the VM and the package ran the slow-starting program).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

jest.setTimeout(180_000);

it('bundles the program (cli/program.js, run by the loader cli/main.js) and the worker entry into an outDir that has no node_modules', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-build-'));
  try {
    const out = path.join(dir, 'dist');
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'build.mjs'), '--outDir', out], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/Could not resolve/);
    expect(r.status).toBe(0);
    for (const f of ['cli/program.js', 'cli/handshake-worker.js']) {
      const text = fs.readFileSync(path.join(out, f), 'utf8');
      // Bundled: winston is inside; only the native addons are loaded from node_modules.
      expect(text).not.toMatch(/require\("winston"\)/);
      expect(text).toMatch(/require\("koffi"\)/);
    }
    // The executable is the loader that runs program.js through the code cache: small, and
    // with no #! left in program.js, which it compiles inside a function wrapper.
    const loader = fs.readFileSync(path.join(out, 'cli', 'main.js'), 'utf8');
    expect(loader.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(loader).toContain('"program.js"');
    expect(loader.length).toBeLessThan(50_000);
    expect(fs.readFileSync(path.join(out, 'cli', 'program.js'), 'utf8').startsWith('#!')).toBe(false);
    expect(fs.statSync(path.join(out, 'cli', 'main.js')).mode & 0o111).toBeTruthy();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
