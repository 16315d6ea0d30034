/** Namespace discovery roots for tests: a directory tree standing for the agent's namespace, /run/netns and /proc. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NetnsRoots } from '../../src/agent/netns';

/** A tree standing for the agent's own namespace, /run/netns and /proc: plain files, told apart by inode. */
export function fakeRoots(): NetnsRoots & { dir: string; addName(n: string): string; addProc(pid: number, file?: string): string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-netns-'));
  const runNetns = path.join(dir, 'run-netns');
  const proc = path.join(dir, 'proc');
  fs.mkdirSync(runNetns);
  fs.mkdirSync(proc);
  const self = path.join(dir, 'self-ns');
  fs.writeFileSync(self, '');
  return {
    dir,
    runNetns,
    proc,
    self,
    requireNsfs: false,
    /** `ip netns add NAME`. */
    addName(n: string) {
      const p = path.join(runNetns, n);
      fs.writeFileSync(p, '');
      return p;
    },
    /** A process whose namespace is `file` (a hard link: the same inode), or a fresh one. */
    addProc(pid: number, file?: string) {
      const d = path.join(proc, String(pid), 'ns');
      fs.mkdirSync(d, { recursive: true });
      const p = path.join(d, 'net');
      if (file) fs.linkSync(file, p);
      else fs.writeFileSync(p, '');
      return p;
    },
  };
}

