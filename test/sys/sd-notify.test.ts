/**
 * The service-manager notifications against a real AF_UNIX datagram socket standing in for
 * systemd's: what arrives, in which order, and that nothing at all happens without NOTIFY_SOCKET.
 * The end-to-end part runs `handshaked serve` as a process, as systemd would, and checks READY=1
 * comes only once the unix transport accepts connections.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AF_UNIX,
  MSG_DONTWAIT,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_SEQPACKET,
  SysError,
  bindAddr,
  close,
  connectAddr,
  recv,
  socket,
} from '../../src/sys/libc';
import { encodeNotification, monotonicUsec, notifySocketName, serviceNotifier } from '../../src/sys/sd-notify';
import { unixAddress } from '../../src/sys/unix';
import { openFds } from '../helpers/fds';

const abstractName = (): string => `@handshaked-notify-test-${process.pid}-${randomBytes(6).toString('hex')}`;

/** A bound datagram socket playing systemd's notification socket. */
class FakeManager {
  readonly fd: number;
  constructor(readonly name: string) {
    this.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC);
    bindAddr(this.fd, unixAddress(name));
  }
  /** Every datagram queued now, decoded. */
  drain(): string[] {
    const out: string[] = [];
    const buf = Buffer.alloc(8192);
    for (;;) {
      try {
        const n = recv(this.fd, buf, MSG_DONTWAIT);
        out.push(buf.subarray(0, n).toString());
      } catch (e) {
        if ((e as SysError).code === 'EAGAIN') return out;
        throw e;
      }
    }
  }
  /** Wait (polling) until a datagram matching `re` arrived; returns all received so far. */
  // Generous: the agent is spawned from the TypeScript sources, which took over 30 s to load on a
  // heavily loaded 2-core machine.
  async waitFor(re: RegExp, seen: string[], timeoutMs = 150000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (!seen.some((m) => re.test(m))) {
      seen.push(...this.drain());
      if (seen.some((m) => re.test(m))) break;
      if (Date.now() > deadline) throw new Error(`no notification matching ${re} within ${timeoutMs} ms; got ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return seen;
  }
  close(): void {
    close(this.fd);
    if (this.name.startsWith('/')) fs.rmSync(this.name, { force: true });
  }
}

describe('NOTIFY_SOCKET parsing and message encoding', () => {
  it('takes a path or an abstract @name, nothing when unset or empty, refuses other address kinds', () => {
    expect(notifySocketName({})).toBeUndefined();
    expect(notifySocketName({ NOTIFY_SOCKET: '' })).toBeUndefined();
    expect(notifySocketName({ NOTIFY_SOCKET: '/run/systemd/notify' })).toBe('/run/systemd/notify');
    expect(notifySocketName({ NOTIFY_SOCKET: '@sd-notify' })).toBe('@sd-notify');
    expect(() => notifySocketName({ NOTIFY_SOCKET: 'vsock:2:1234' })).toThrow(/NOTIFY_SOCKET="vsock:2:1234" is neither a path nor @abstract/);
  });

  it('encodes VAR=value lines and refuses what would corrupt the message', () => {
    expect(encodeNotification({ READY: 1, STATUS: 'serving (kernel)' }).toString()).toBe('READY=1\nSTATUS=serving (kernel)\n');
    expect(() => encodeNotification({ STATUS: 'a\nREADY=1' })).toThrow(/STATUS contains a newline/);
    expect(() => encodeNotification({ 'bad name': 1 })).toThrow(/bad variable name/);
    expect(() => encodeNotification({ STATUS: 'x'.repeat(5000) })).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
  });

  it('MONOTONIC_USEC reads CLOCK_MONOTONIC (the clock libuv\'s hrtime reads too), in microseconds', () => {
    const a = monotonicUsec();
    const h = process.hrtime.bigint() / 1000n;
    const b = monotonicUsec();
    expect(a <= h && h <= b).toBe(true);
    expect(b - a).toBeLessThan(100000n);
  });
});

describe('notifications over a real datagram socket', () => {
  it.each([
    ['an abstract socket', () => abstractName()],
    ['a path', () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-notify-')), 'notify')],
  ])('%s receives each notification as one datagram', (_label, name) => {
    const mgr = new FakeManager(name());
    const n = serviceNotifier(mgr.name);
    try {
      expect(n.enabled).toBe(true);
      expect(n.notify({ READY: 1 })).toEqual({ sent: true });
      expect(n.notify({ STOPPING: 1 })).toEqual({ sent: true });
      expect(mgr.drain()).toEqual(['READY=1\n', 'STOPPING=1\n']);
    } finally {
      n.close();
      mgr.close();
    }
  });

  it('without NOTIFY_SOCKET nothing is opened or sent', () => {
    const before = openFds();
    const n = serviceNotifier(undefined);
    expect(n.enabled).toBe(false);
    expect(n.notify({ READY: 1 })).toEqual({ sent: false, error: '' });
    expect(openFds()).toBe(before);
  });

  it('a manager that is gone is reported (not thrown), leaks no fd, and a new one is reached again', () => {
    const name = abstractName();
    const before = openFds();
    const n = serviceNotifier(name);
    const r = n.notify({ READY: 1 });
    expect(r.sent).toBe(false);
    expect(r.sent === false && r.error).toMatch(/ECONNREFUSED/);
    expect(openFds()).toBe(before);
    const mgr = new FakeManager(name);
    try {
      expect(n.notify({ READY: 1 })).toEqual({ sent: true });
      expect(mgr.drain()).toEqual(['READY=1\n']);
    } finally {
      n.close();
      mgr.close();
    }
    expect(openFds()).toBe(before);
  });
});

describe('handshaked serve under a service manager', () => {
  jest.setTimeout(300000);
  const ROOT = path.join(__dirname, '..', '..');
  const HOOK = path.join(ROOT, 'test', 'companion', 'ts-register.js');
  const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');

  it('READY=1 once the unix socket accepts; RELOADING=1 + MONOTONIC_USEC then READY=1 around SIGHUP; STOPPING=1 on SIGTERM', async () => {
    const mgr = new FakeManager(abstractName());
    const upcall = abstractName();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-notify-'));
    const conf = path.join(dir, 'tlshd.conf');
    fs.writeFileSync(conf, '[debug]\nloglevel=0\n');
    const child = spawn(process.execPath, ['-r', HOOK, MAIN, 'serve', '-c', conf, '--transport', 'unix', '--unix-socket', upcall, '--ktls', 'off'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NOTIFY_SOCKET: mgr.name },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const seen = await mgr.waitFor(/^READY=1$/m, []);
      // The upcall socket must already listen when READY=1 is read.
      const probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
      try {
        expect(() => connectAddr(probe, unixAddress(upcall))).not.toThrow();
      } finally {
        close(probe);
      }
      expect(seen[0]).toMatch(/^READY=1\nSTATUS=serving \(unix\)\n$/);

      const t0 = monotonicUsec();
      child.kill('SIGHUP');
      const afterHup = await mgr.waitFor(/^READY=1$/m, []);
      expect(afterHup).toHaveLength(2);
      const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)\n$/.exec(afterHup[0]);
      expect(m).not.toBeNull();
      // The child's clock is this process's clock: the stamp lies between our SIGHUP and now.
      const stamp = BigInt(m![1]);
      expect(stamp >= t0 && stamp <= monotonicUsec()).toBe(true);
      expect(afterHup[1]).toMatch(/^READY=1\nSTATUS=serving \(configuration reloaded\)\n$/);

      child.kill('SIGTERM');
      const stop = await mgr.waitFor(/^STOPPING=1$/m, []);
      expect(stop[0]).toMatch(/^STOPPING=1\nSTATUS=stopping: 0 handshakes in flight\n$/);
      expect(await exited).toBe(0);
      expect(mgr.drain()).toEqual([]);
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`${(e as Error).message}\nagent stderr:\n${stderr}`);
    } finally {
      mgr.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unusable NOTIFY_SOCKET stops start-up with one line naming it', async () => {
    const child = spawn(process.execPath, ['-r', HOOK, MAIN, 'serve', '--transport', 'unix', '--unix-socket', abstractName(), '--ktls', 'off'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NOTIFY_SOCKET: 'vsock:2:99' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^handshaked serve: sd_notify \(NOTIFY_SOCKET="vsock:2:99" is neither a path nor @abstract\) failed: EAFNOSUPPORT/);
  });
});
