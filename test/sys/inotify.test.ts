/**
 * PathWatch (src/sys/inotify.ts): one non-blocking read says whether anything that decides what
 * the watched paths name changed, including the ways certificates are rotated in practice: in
 * place, renamed over, a symbolic link swapped (Kubernetes' ..data, certbot's live/ links), and
 * a link's target rewritten. A change elsewhere says nothing. Armed, the event loop delivers the
 * events and changed() makes no system call.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PathWatch } from '../../src/sys/inotify';
import { C } from '../../src/sys/libc';
import { openFds } from '../helpers/fds';

let dir: string;
let watch: PathWatch | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-inotify-'));
});
afterEach(() => {
  watch?.close();
  watch = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

const at = (...p: string[]) => path.join(dir, ...p);
function write(file: string, text = 'x'): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

describe('PathWatch', () => {
  it('says nothing while nothing changes, and nothing for a directory it does not watch', () => {
    write(at('certs', 'cert.pem'));
    write(at('other', 'unrelated'));
    watch = PathWatch.of([at('certs', 'cert.pem')]);
    expect(watch.changed()).toBe(false);
    write(at('other', 'unrelated'), 'y');
    expect(watch.changed()).toBe(false);
  });

  it('sees a file written in place, once', () => {
    write(at('cert.pem'));
    watch = PathWatch.of([at('cert.pem')]);
    fs.appendFileSync(at('cert.pem'), 'more');
    expect(watch.changed()).toBe(true);
    expect(watch.changed()).toBe(false);
  });

  it('sees a file replaced by rename, and the one after it', () => {
    write(at('cert.pem'));
    watch = PathWatch.of([at('cert.pem')]);
    write(at('cert.pem.new'), 'new');
    fs.renameSync(at('cert.pem.new'), at('cert.pem'));
    expect(watch.changed()).toBe(true);
    write(at('cert.pem.newer'), 'newer');
    fs.renameSync(at('cert.pem.newer'), at('cert.pem'));
    expect(watch.changed()).toBe(true);
  });

  it('sees a Kubernetes-style swap of the ..data link in the middle of the path', () => {
    write(at('secret', '..v1', 'tls.crt'), 'one');
    fs.symlinkSync('..v1', at('secret', '..data'));
    fs.symlinkSync(path.join('..data', 'tls.crt'), at('secret', 'tls.crt'));
    watch = PathWatch.of([at('secret', 'tls.crt')]);
    expect(watch.changed()).toBe(false);
    write(at('secret', '..v2', 'tls.crt'), 'two');
    fs.symlinkSync('..v2', at('secret', '..data_tmp'));
    fs.renameSync(at('secret', '..data_tmp'), at('secret', '..data'));
    expect(watch.changed()).toBe(true);
    expect(fs.readFileSync(at('secret', 'tls.crt'), 'utf8')).toBe('two');
  });

  it('sees the target of a link in another directory rewritten or replaced', () => {
    write(at('archive', 'cert1.pem'), 'one');
    fs.mkdirSync(at('live'));
    fs.symlinkSync(at('archive', 'cert1.pem'), at('live', 'cert.pem'));
    watch = PathWatch.of([at('live', 'cert.pem')]);
    fs.appendFileSync(at('archive', 'cert1.pem'), 'more');
    expect(watch.changed()).toBe(true);
    write(at('archive', 'tmp'), 'two');
    fs.renameSync(at('archive', 'tmp'), at('archive', 'cert1.pem'));
    expect(watch.changed()).toBe(true);
  });

  it('sees a missing file appear, and a trust-store directory gain a file', () => {
    fs.mkdirSync(at('store'));
    watch = PathWatch.of([at('missing.pem'), at('store')]);
    write(at('missing.pem'));
    expect(watch.changed()).toBe(true);
    write(at('store', 'ca.pem'));
    expect(watch.changed()).toBe(true);
  });

  it('holds one fd, released by close; a closed watch always says "changed"', () => {
    write(at('cert.pem'));
    const before = openFds();
    const w = PathWatch.of([at('cert.pem')]);
    expect(openFds()).toBe(before + 1);
    w.close();
    w.close();
    expect(openFds()).toBe(before);
    expect(w.changed()).toBe(true);
  });

  describe('armed (the event loop watches the descriptor)', () => {
    /** Let the loop run its poll phase until `cond` holds (the inotify event is delivered there). */
    async function until(cond: () => boolean): Promise<void> {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    }

    it('changed() makes no read(2); a change on disk is seen once the loop delivers it, once', async () => {
      write(at('cert.pem'));
      watch = PathWatch.of([at('cert.pem')]);
      expect(watch.arm()).toBe(true);
      expect(watch.armed).toBe(true);
      const reads = jest.spyOn(C, 'read');
      try {
        for (let i = 0; i < 100; i++) expect(watch.changed()).toBe(false);
        expect(reads).not.toHaveBeenCalled();

        write(at('cert.pem.new'), 'new');
        fs.renameSync(at('cert.pem.new'), at('cert.pem'));
        // Delivered by the loop: the watcher drained the queue (reads ending in EAGAIN).
        await until(() => reads.mock.calls.length > 0);
        const drained = reads.mock.calls.length;
        expect(drained).toBeGreaterThanOrEqual(2);
        expect(watch.changed()).toBe(true);
        expect(watch.changed()).toBe(false);
        for (let i = 0; i < 100; i++) watch.changed();
        expect(reads.mock.calls.length).toBe(drained);

        // The next change too, and a change elsewhere still says nothing.
        fs.appendFileSync(at('cert.pem'), 'more');
        await until(() => reads.mock.calls.length > drained);
        expect(watch.changed()).toBe(true);
      } finally {
        reads.mockRestore();
      }
    });

    it('a change between two checks is never lost while the loop has not run yet', async () => {
      write(at('cert.pem'));
      watch = PathWatch.of([at('cert.pem')]);
      watch.arm();
      fs.appendFileSync(at('cert.pem'), 'more');
      // Not delivered yet (no loop iteration since the write): the flag is still clear ...
      expect(watch.changed()).toBe(false);
      // ... and the event is there for the first check after the loop ran.
      await new Promise((r) => setTimeout(r, 20));
      expect(watch.changed()).toBe(true);
    });

    it('close() stops the watcher and releases the fd; a closed watch says "changed" and cannot be armed', async () => {
      write(at('cert.pem'));
      const before = openFds();
      const w = PathWatch.of([at('cert.pem')]);
      w.arm();
      w.close();
      expect(w.armed).toBe(false);
      expect(openFds()).toBe(before);
      expect(w.changed()).toBe(true);
      expect(w.arm()).toBe(false);
      // An event for the closed descriptor's old watches reaches nothing (no throw, no read).
      fs.appendFileSync(at('cert.pem'), 'more');
      await new Promise((r) => setTimeout(r, 20));
    });
  });
});
