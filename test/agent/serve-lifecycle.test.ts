/**
 * The daemon's lifecycle and failure paths on the fake kernel: start-up errors, kernel error
 * codes, the in-flight limit, deadlines, reload, shutdown, fd leaks and secrets in logs.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MISSING_FAMILY_HINT, NO_PRIVILEGE_HINT } from '../../src/agent/kernel-transport';
import { Status } from '../../src/agent/request';
import { StartupError } from '../../src/agent/transport';
import { FakeHandshakeLink, FakeKernel } from '../../src/netlink/fake-kernel';
import { NetlinkError, type DoneArgs } from '../../src/netlink/link';
import { PKI, agentPerTest, closing, configText, consumerListener, identity, openFds, pki, rotatableServerIdentity, servedCurve, serveOne, sleep, startAgent, tlsPeerServer } from './harness';
import { socketFd } from '../../src/sys/socket-fd';
import { C } from '../../src/sys/libc';

jest.setTimeout(90000);

/** A TCP server that accepts and never answers: the handshake can only end by deadline. */
async function silentPeer() {
  const received: Buffer[] = [];
  const conns: net.Socket[] = [];
  const server = net.createServer((s) => {
    conns.push(s);
    s.on('data', (d) => received.push(d));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    received,
    async consumer() {
      const socket = net.connect(port, '127.0.0.1');
      socket.pause();
      await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
      return { socket, fd: socketFd(socket) };
    },
    async close() {
      conns.forEach((c) => c.destroy());
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('start-up failures end with one actionable line', () => {
  it('no handshake family (ENOENT): names the kernel requirement', async () => {
    const err = await startAgent({ kernel: { noHandshakeFamily: true } }).then(
      (a) => a.stop().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toBe(MISSING_FAMILY_HINT);
    expect(MISSING_FAMILY_HINT).toMatch(/Linux 6\.5 .*CONFIG_NET_HANDSHAKE/);
  });

  it('no CAP_NET_ADMIN (EPERM on ACCEPT): says to run as root / CAP_NET_ADMIN', async () => {
    const err = await startAgent({ privileged: false }).then(
      (a) => a.stop().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toBe(NO_PRIVILEGE_HINT);
    expect(NO_PRIVILEGE_HINT).toMatch(/root.*CAP_NET_ADMIN in the\s+initial user namespace/);
  });

  it('a bad configuration value: file:line and why', async () => {
    await expect(startAgent({ config: configText('[handshaked]\nmax_inflight=many') })).rejects.toThrow(/config:10: max_inflight = "many" is not an integer/);
  });
});

describe('kernel transport behaviour', () => {
  const start = agentPerTest();

  it('drains requests queued before start-up (ACCEPT until EAGAIN)', async () => {
    const kernel = new FakeKernel();
    // Another "process" joined tlshd so the kernel takes submissions before the agent exists.
    const early = new FakeHandshakeLink(kernel);
    await early.open();
    const peer = await tlsPeerServer(identity('server-p256'));
    try {
      const subs = await Promise.all([peer.consumer(), peer.consumer(), peer.consumer()]);
      const results = subs.map((c) => kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' }));
      await sleep(50);
      expect(kernel.pendingCount).toBe(3);
      await start({ link: new FakeHandshakeLink(kernel) });
      expect((await Promise.all(results)).map((r) => r.status)).toEqual([0, 0, 0]);
    } finally {
      early.close();
      await peer.close();
      kernel.close();
    }
  });

  it('never holds more than max_handshakes handshakes; the rest wait in the kernel queue', async () => {
    // max_handshakes bounds handshakes held (silent peers included); max_inflight only those working.
    const agent = await start({ config: configText('[handshaked]\nmax_handshakes=2'), kernel: { pendingMax: 50 } });
    await closing(await silentPeer(), async (slow) => {
      const subs = [];
      for (let i = 0; i < 6; i++) subs.push(await slow.consumer());
      const results = subs.map((c) => agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost', timeoutMs: 1000 }));
      // Wait for the agent to take its two (a fixed sleep raced a loaded machine); the first two
      // deadlines are a second away, so the other four are still queued in the kernel then.
      for (let waited = 0; agent.daemon.dispatcher.inFlight < 2 && waited < 900; waited += 10) await sleep(10);
      expect(agent.daemon.dispatcher.inFlight).toBe(2);
      expect(agent.kernel.pendingCount).toBe(4);
      const all = await Promise.all(results);
      expect(all.map((r) => r.status)).toEqual(new Array(6).fill(Status.ETIMEDOUT));
      expect(agent.daemon.dispatcher.peakInflight).toBe(2);
    });
  });

  it('deadline: ETIMEDOUT to the kernel and a user_canceled alert to the peer', async () => {
    const agent = await start();
    await closing(await silentPeer(), async (slow) => {
      const c = await slow.consumer();
      const r = await agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost', timeoutMs: 300 });
      expect(r.status).toBe(Status.ETIMEDOUT);
      await sleep(50);
      const bytes = Buffer.concat(slow.received);
      expect(bytes[0]).toBe(22); // our ClientHello
      // ... followed by a plaintext alert record: user_canceled (90).
      expect([...bytes.subarray(bytes.length - 7)]).toEqual([21, 3, 3, 0, 2, expect.any(Number), 90]);
    });
  });

  it('default deadline from [handshaked] default_timeout_ms when the kernel gives none', async () => {
    const agent = await start({ config: configText('[handshaked]\ndefault_timeout_ms=200') });
    await closing(await silentPeer(), async (slow) => {
      const c = await slow.consumer();
      const r = await agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' });
      expect(r.status).toBe(Status.ETIMEDOUT);
    });
  });

  it('a peer that goes away mid-handshake is ETIMEDOUT (the consumer retries)', async () => {
    const agent = await start();
    await closing(await consumerListener(), async (l) => {
      const { result } = await serveOne(agent, l, (port) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => s.end(Buffer.from([22, 3, 1, 0, 10, 1, 0, 0, 6]))); // a truncated ClientHello, then FIN
        return s;
      });
      expect(result.status).toBe(Status.ETIMEDOUT);
    });
  });

  it('DONE refused by the kernel (EBUSY) is logged and the fd is still closed', async () => {
    class RefusingLink extends FakeHandshakeLink {
      refused: number[] = [];
      override async done(args: DoneArgs): Promise<void> {
        this.refused.push(args.sockfd);
        throw new NetlinkError(16, 'EBUSY', 'no handshake request on fd');
      }
    }
    const kernel = new FakeKernel();
    const link = new RefusingLink(kernel);
    const agent = await start({ link });
    const peer = await tlsPeerServer(identity('server-p256'));
    try {
      const c = await peer.consumer();
      void kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost', cancelAfterMs: 3000 }).catch(() => undefined);
      while (link.refused.length === 0) await sleep(20);
      await sleep(50);
      expect(fs.existsSync(`/proc/self/fd/${link.refused[0]}`) && fs.readlinkSync(`/proc/self/fd/${link.refused[0]}`) === fs.readlinkSync(`/proc/self/fd/${c.fd}`)).toBe(false);
      expect(agent.lines.join('\n')).toMatch(/warn the kernel refused DONE fd=\d+ code=EBUSY/);
    } finally {
      await peer.close();
      kernel.close();
    }
  });

  it('an ACCEPT error other than EAGAIN (EINVAL) waits for the next READY, which then succeeds', async () => {
    class FlakyLink extends FakeHandshakeLink {
      failures = 1;
      override async accept() {
        if (this.failures-- > 0) throw new NetlinkError(22, 'EINVAL', 'injected');
        return super.accept();
      }
    }
    const kernel = new FakeKernel();
    const link = new FlakyLink(kernel);
    link.failures = 0;
    const agent = await start({ link });
    link.failures = 1;
    const peer = await tlsPeerServer(identity('server-p256'));
    try {
      const c1 = await peer.consumer();
      const first = kernel.submit({ sock: c1.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost', cancelAfterMs: 20000 });
      await sleep(100);
      expect(kernel.pendingCount).toBe(1);
      expect(agent.lines.join('\n')).toMatch(/ACCEPT failed; waiting for the next READY code=EINVAL/);
      const c2 = await peer.consumer();
      const second = kernel.submit({ sock: c2.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' });
      expect((await first).status).toBe(Status.OK);
      expect((await second).status).toBe(Status.OK);
    } finally {
      await peer.close();
      kernel.close();
    }
  });

  it('lost notifications (ENOBUFS) trigger a drain', async () => {
    const kernel = new FakeKernel();
    const link = new FakeHandshakeLink(kernel);
    await start({ link });
    const peer = await tlsPeerServer(identity('server-p256'));
    try {
      // Stop READY from reaching the agent, submit, then report the overflow.
      const sock = link.socket!;
      const groups = [...sock.groups];
      sock.groups.clear();
      const other = new FakeHandshakeLink(kernel);
      await other.open(); // keeps a member in group tlshd so submit is accepted
      const c = await peer.consumer();
      const result = kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' });
      await sleep(50);
      expect(kernel.pendingCount).toBe(1);
      groups.forEach((g) => sock.groups.add(g));
      sock.overflow();
      expect((await result).status).toBe(Status.OK);
      other.close();
    } finally {
      await peer.close();
      kernel.close();
    }
  });
});

describe('reload and shutdown', () => {
  const start = agentPerTest();

  it('SIGHUP reload: new handshakes use the new file, a broken file keeps the old one', async () => {
    const agent = await start();
    await closing(await consumerListener(), async (l) => {
      expect(await servedCurve(agent, l)).toBe('prime256v1');

      fs.writeFileSync(agent.configPath, configText().replace('server-p256.chain.pem', 'server-p384.chain.pem').replace('server-p256.key.pem', 'server-p384.key.pem'));
      expect(agent.daemon.reload()).toBe(true);
      expect(await servedCurve(agent, l)).toBe('secp384r1');

      fs.writeFileSync(agent.configPath, '[debug]\nloglevel=nope\n');
      expect(agent.daemon.reload()).toBe(false);
      expect(agent.lines.join('\n')).toMatch(/reload failed, keeping the previous configuration: .*config:2: loglevel = "nope"/);
      expect(agent.daemon.config.server.certificate?.value).toMatch(/server-p384/);
    });
  });

  it('certificate rotated on disk: the next handshake uses it without a SIGHUP; a half-written pair keeps the old one', async () => {
    const { dir, key, install, config } = rotatableServerIdentity('hsd-rotate-');
    try {
      const agent = await start({ config });
      await closing(await consumerListener(), async (l) => {
        expect(await servedCurve(agent, l)).toBe('prime256v1');
        // Nothing changed: the check before each handshake reads a flag, not the inotify fd.
        const reads = jest.spyOn(C, 'read');
        try {
          expect(await servedCurve(agent, l)).toBe('prime256v1');
          expect(reads).not.toHaveBeenCalled();
        } finally {
          reads.mockRestore();
        }

        install('server-p384');
        expect(await servedCurve(agent, l)).toBe('secp384r1');
        expect(agent.lines.join('\n')).toMatch(/identity files changed on disk; certificates, keys and trust reloaded/);

        // A key that no longer matches its certificate (rotation caught half-way): keep serving the old pair.
        fs.copyFileSync(path.join(PKI, 'server-p256.key.pem'), key);
        expect(await servedCurve(agent, l)).toBe('secp384r1');
        expect(agent.lines.join('\n')).toMatch(/identity files changed on disk but do not load, keeping the previous ones/);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGTERM: running handshakes past the grace period end with ETIMEDOUT, then stop resolves', async () => {
    const agent = await start({ config: configText('[handshaked]\nshutdown_grace_ms=100') });
    await closing(await silentPeer(), async (slow) => {
      const c = await slow.consumer();
      const r = agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost', timeoutMs: 60000 });
      while (agent.daemon.dispatcher.inFlight === 0) await sleep(10);
      await agent.daemon.stop();
      expect((await r).status).toBe(Status.ETIMEDOUT);
    });
  });
});

describe('hygiene', () => {
  const start = agentPerTest();

  it('leaks no fd across a storm of failing handshakes', async () => {
    const agent = await start({ config: configText('[handshaked]\nmax_inflight=8') });
    const bad = await tlsPeerServer(identity('unknown-ca'));
    const slow = await silentPeer();
    const l = await consumerListener();
    try {
      const once = async () => {
        const jobs: Array<Promise<{ status: number }>> = [];
        const consumers: net.Socket[] = [];
        for (let i = 0; i < 10; i++) {
          const a = await bad.consumer();
          consumers.push(a.socket);
          jobs.push(agent.kernel.submit({ sock: a.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' }));
          const b = await slow.consumer();
          consumers.push(b.socket);
          jobs.push(agent.kernel.submit({ sock: b.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost', timeoutMs: 100 }));
          const p = await l.accept((port) => {
            const s = net.connect(port, '127.0.0.1');
            s.on('connect', () => s.destroy());
            return s;
          });
          consumers.push(p.socket);
          jobs.push(agent.kernel.submit({ sock: p.fd, messageType: 'serverhello', authMode: 'x509' }));
        }
        const statuses = (await Promise.all(jobs)).map((r) => r.status);
        expect(statuses.every((s) => s !== Status.OK)).toBe(true);
        consumers.forEach((s) => s.destroy());
        await sleep(50);
      };
      await once(); // warm-up: lazily created handles
      const before = openFds();
      await once();
      await once();
      // A worker thread closes its dup on its own event loop, a moment after DONE.
      for (let i = 0; i < 40 && openFds() > before; i++) await sleep(50);
      expect(openFds()).toBe(before);
    } finally {
      await l.close();
      await slow.close();
      await bad.close();
    }
  });

  it('never logs key material at debug level (keylog secrets and PEM keys absent from every line)', async () => {
    const agent = await start({ keylog: true });
    const peer = await tlsPeerServer({ ...identity('server-p256'), requestCert: true, ca: pki('ca-bundle.pem') });
    try {
      for (const authMode of ['unauth', 'x509'] as const) {
        const c = await peer.consumer();
        expect((await agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode, peername: 'localhost' })).status).toBe(Status.OK);
      }
      const keylog = fs.readFileSync(path.join(agent.dir, 'keylog'), 'utf8').trim().split('\n');
      expect(keylog.length).toBeGreaterThanOrEqual(8);
      const secrets = keylog.map((l) => l.split(' ')[2]);
      const all = agent.lines.join('\n');
      expect(all).toMatch(/debug/);
      for (const hex of secrets) {
        const b = Buffer.from(hex, 'hex');
        expect(all).not.toContain(hex);
        expect(all).not.toContain(b.toString('base64'));
      }
      const keyDer = Buffer.from(pki('client-p256.key.pem').toString().replace(/-----[^-]+-----|\s/g, ''), 'base64');
      expect(all).not.toContain(keyDer.toString('base64').slice(20, 60));
      expect(all).not.toContain(keyDer.toString('hex').slice(40, 120));
    } finally {
      await peer.close();
    }
  });
});
