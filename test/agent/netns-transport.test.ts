/**
 * One agent serving several network namespaces, on fake kernels: one FakeKernel per namespace
 * (each its own handshake family, listeners and request queue, as the real kernel keeps them per
 * namespace), a directory tree standing for /run/netns and /proc, real Node TLS peers. As root,
 * also one real namespace made and deleted with `ip netns`, found through the real /run/netns.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../src/agent/daemon';
import { SYSTEM_NETNS_ROOTS, type NetnsPlace } from '../../src/agent/netns';
import { NamespacesTransport } from '../../src/agent/netns-transport';
import { Status } from '../../src/agent/request';
import type { AgentTransport } from '../../src/agent/transport';
import { FakeHandshakeLink, FakeKernel } from '../../src/netlink/fake-kernel';
import { Errno } from '../../src/sys/errno';
import { PathWatch } from '../../src/sys/inotify';
import { SysError } from '../../src/sys/libc';
import { fakeRoots } from '../helpers/netns';
import { configText, openFds, pki, PKI, sleep, startTestDaemon, tlsPeerServer } from './harness';

jest.setTimeout(60000);

interface World {
  daemon: Daemon;
  transport: NamespacesTransport;
  roots: ReturnType<typeof fakeRoots>;
  kernels: Map<string, FakeKernel>;
  links: Map<string, FakeHandshakeLink>;
  lines: string[];
  configPath: string;
  stop(): Promise<void>;
}

/**
 * The agent with `namespaces = all` on the stand-in tree. `deny`: labels whose setns fails
 * with EPERM; `unprivileged`: labels whose socket lacks CAP_NET_ADMIN (ACCEPT → EPERM).
 */
async function startWorld(opts: { names?: string[]; extraConfig?: string; deny?: string[]; unprivileged?: string[]; workers?: number } = {}): Promise<World> {
  const roots = fakeRoots();
  for (const n of opts.names ?? []) roots.addName(n);
  const kernels = new Map<string, FakeKernel>();
  const links = new Map<string, FakeHandshakeLink>();
  const kernelOf = (label: string) => {
    let k = kernels.get(label);
    if (!k) kernels.set(label, (k = new FakeKernel()));
    return k;
  };
  const configPath = path.join(roots.dir, 'config');
  fs.writeFileSync(configPath, configText(`[handshaked]\nworkers=${opts.workers ?? 0}\nnamespaces=all\n${opts.extraConfig ?? ''}`));
  let transport: NamespacesTransport | undefined;
  const { daemon, lines } = await startTestDaemon({
    configPath,
    transports: [
      (ctx): AgentTransport =>
        (transport = new NamespacesTransport(ctx, {
          roots,
          rescanMs: 0,
          kernel: { allowKtlsOff: true },
          linkFor: (place: NetnsPlace) => {
            if (opts.deny?.includes(place.label)) throw new SysError('setns', Errno.EPERM, place.path);
            const link = new FakeHandshakeLink(kernelOf(place.label), { privileged: !opts.unprivileged?.includes(place.label) });
            links.set(place.label, link);
            return link;
          },
        })),
    ],
    logLevel: 'debug',
  });
  return {
    daemon,
    transport: transport!,
    roots,
    kernels,
    links,
    lines,
    configPath,
    stop: async () => {
      await daemon.stop();
      for (const k of kernels.values()) k.close();
      fs.rmSync(roots.dir, { recursive: true, force: true });
    },
  };
}

async function until(what: () => boolean, ms = 3000): Promise<void> {
  for (let t = 0; t < ms && !what(); t += 20) await sleep(20);
  expect(what()).toBe(true);
}

describe('one agent, several network namespaces (fake kernels)', () => {
  let w: World | undefined;
  let peer: Awaited<ReturnType<typeof tlsPeerServer>> | undefined;
  beforeEach(async () => {
    peer = await tlsPeerServer({ key: pki('server-p256.key.pem'), cert: pki('server-p256.chain.pem') });
  });
  afterEach(async () => {
    await w?.stop();
    await peer?.close();
    w = undefined;
  });

  const handshakeIn = async (label: string) => {
    const c = await peer!.consumer();
    return w!.kernels.get(label)!.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' });
  };

  it('discovers every namespace, answers each request on its own socket, and names the namespace in logs', async () => {
    const fds0 = openFds();
    w = await startWorld({ names: ['tenant1', 'tenant2'] });
    const unnamed = w.roots.addProc(4242);
    w.roots.addProc(4243, path.join(w.roots.runNetns, 'tenant1')); // tenant1 again, through /proc
    await w.transport.rescan();
    const ino = fs.statSync(unnamed).ino;
    expect(w.transport.namespaces).toEqual([`ino:${ino}`, 'self', 'tenant1', 'tenant2']);
    expect(w.kernels.size).toBe(4);
    for (const label of ['self', 'tenant1', 'tenant2', `ino:${ino}`]) {
      expect(await handshakeIn(label)).toEqual({ status: Status.OK, remoteAuth: [], cancelled: false });
    }
    const ok = w.lines.filter((l) => l.startsWith('info handshake succeeded'));
    expect(ok.map((l) => /netns=(\S+)/.exec(l)?.[1])).toEqual(['self', 'tenant1', 'tenant2', `ino:${ino}`]);
    // The per-namespace lines of the kernel transport name it too.
    expect(w.lines.filter((l) => l.startsWith('info kernel capabilities')).map((l) => /netns=(\S+)/.exec(l)?.[1]).sort()).toEqual([`ino:${ino}`, 'self', 'tenant1', 'tenant2']);
    await w.stop();
    w = undefined;
    await peer!.close();
    peer = undefined;
    expect(openFds()).toBeLessThanOrEqual(fds0);
  });

  it('serves a namespace that appears after start-up (fs.watch on /run/netns)', async () => {
    w = await startWorld();
    expect(w.transport.namespaces).toEqual(['self']);
    w.roots.addName('late');
    await until(() => w!.transport.namespaces.includes('late'));
    expect(await handshakeIn('late')).toEqual({ status: Status.OK, remoteAuth: [], cancelled: false });
    expect(w.lines.join('\n')).toMatch(/info serving network namespace netns=late path=\S+late/);
  });

  it('a namespace that goes away with a handshake in flight: ETIMEDOUT in its DONE, its socket closed, nothing leaked', async () => {
    // A server that accepts and never answers: the handshake waits on its peer.
    const held: net.Socket[] = [];
    const silent = net.createServer((s) => held.push(s.on('error', () => undefined)));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      await inFlightRemoval(port, silent, held);
    } finally {
      held.forEach((s) => s.destroy());
      if (silent.listening) await new Promise<void>((res) => silent.close(() => res()));
    }
  });

  async function inFlightRemoval(port: number, silent: net.Server, held: net.Socket[]): Promise<void> {
    // On a worker thread: the reason the namespace's handshakes end must cross to it.
    w = await startWorld({ names: ['doomed'], workers: 1, extraConfig: 'metrics=127.0.0.1:0\n' });
    const fdsBefore = openFds();
    const consumer = net.connect(port, '127.0.0.1');
    consumer.pause();
    await new Promise<void>((r) => consumer.once('connect', r));
    const fd = (consumer as unknown as { _handle: { fd: number } })._handle.fd;
    const kernel = w.kernels.get('doomed')!;
    const result = kernel.submit({ sock: fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost', timeoutMs: 60000 });
    await until(() => kernel.requestFor(fd)?.state === 'accepted');
    fs.unlinkSync(path.join(w.roots.runNetns, 'doomed'));
    const r = await result;
    // Answered with a status on the namespace's own socket (not cancelled by the kernel).
    expect(r).toEqual({ status: Status.ETIMEDOUT, remoteAuth: [], cancelled: false });
    await until(() => w!.links.get('doomed')!.socket!.closed);
    expect(w.transport.namespaces).toEqual(['self']);
    expect(w.lines.join('\n')).toMatch(/warn handshake failed transport=kernel netns=doomed .*status=ETIMEDOUT .*network namespace doomed went away/);
    await until(() => w!.lines.some((l) => /network namespace went away; its handshakes ended and its socket closed netns=doomed/.test(l)));
    // The other namespaces go on.
    expect(await handshakeIn('self')).toMatchObject({ status: Status.OK });
    // The ETIMEDOUT counted after the namespace was withdrawn went with its series.
    await w.transport.rescan();
    const text = await w.daemon.metrics!.registry.metrics();
    expect(text).not.toContain('netns="doomed"');
    expect(text).toContain('handshaked_handshakes_total{role="client",auth="unauth",result="OK",netns="self"} 1');
    consumer.destroy();
    held.forEach((s) => s.destroy());
    await new Promise<void>((res) => silent.close(() => res()));
    await peer!.close();
    peer = undefined;
    // The accepted fd and the handshake's dup are gone with the test's own sockets.
    await until(() => openFds() <= fdsBefore - 2);
  }

  it("a namespace that goes away takes its metrics series with it; one appearing under its name again starts from zero", async () => {
    w = await startWorld({ names: ['gone', 'stays', 'nocap'], unprivileged: ['nocap'], extraConfig: 'metrics=127.0.0.1:0\n' });
    const metrics = () => w!.daemon.metrics!.registry.metrics();
    const ok = (netns: string, n: number) => `handshaked_handshakes_total{role="client",auth="unauth",result="OK",netns="${netns}"} ${n}`;
    for (const label of ['gone', 'stays']) expect(await handshakeIn(label)).toMatchObject({ status: Status.OK });
    const before = await metrics();
    expect(before).toContain(ok('gone', 1));
    expect(before).toContain('handshaked_handshake_duration_seconds_count{role="client",auth="unauth",netns="gone"} 1');
    // Refused (ACCEPT → EPERM) but counted while it exists.
    expect(before).toContain('handshaked_netlink_errors_total{op="accept",code="EPERM",netns="nocap"} 1');
    fs.unlinkSync(path.join(w.roots.runNetns, 'gone'));
    fs.unlinkSync(path.join(w.roots.runNetns, 'nocap'));
    await until(() => w!.lines.some((l) => /network namespace went away; its handshakes ended and its socket closed netns=gone/.test(l)));
    await w.transport.rescan();
    const after = await metrics();
    expect(after).not.toContain('netns="gone"');
    expect(after).not.toContain('netns="nocap"');
    expect(after).toContain(ok('stays', 1));
    expect(w.daemon.metrics!.netnsLabels).toBe(1);
    // `ip netns add gone` again: another namespace, the same label, counters from zero.
    w.roots.addName('gone');
    await until(() => w!.transport.namespaces.includes('gone'));
    expect(await handshakeIn('gone')).toMatchObject({ status: Status.OK });
    expect(await metrics()).toContain(ok('gone', 1));
  });

  it('a namespace replaced by another of the same name within one scan: the new one starts from zero and keeps its series', async () => {
    // DONE two seconds late: the old namespace's socket closes while the new one already counts.
    w = await startWorld({ names: ['foo'], extraConfig: 'metrics=127.0.0.1:0\n[debug]\ndelay_done=2\n' });
    const count = async () => /handshaked_handshakes_total\{role="client",auth="unauth",result="OK",netns="foo"\} (\d+)/.exec(await w!.daemon.metrics!.registry.metrics())?.[1];
    const old = handshakeIn('foo');
    await until(() => w!.lines.some((l) => l.startsWith('info handshake succeeded transport=kernel netns=foo')));
    expect(await count()).toBe('1');
    const first = w.links.get('foo')!;
    // `ip netns del foo; ip netns add foo` between two scans: old and new in one change. (The new
    // file is made before the old one goes, so that it cannot get the old one's inode.)
    const next = path.join(w.roots.dir, 'next-foo');
    fs.writeFileSync(next, '');
    fs.renameSync(next, path.join(w.roots.runNetns, 'foo'));
    await w.transport.rescan();
    expect(w.links.get('foo')).not.toBe(first);
    expect(first.socket!.closed).toBe(false);
    expect(await count()).toBeUndefined();
    expect(await handshakeIn('foo')).toMatchObject({ status: Status.OK });
    // The old one's DONE went out on its own socket; closing it left the new one's series alone.
    expect(await old).toMatchObject({ status: Status.OK });
    await until(() => first.socket!.closed);
    await w.transport.rescan();
    expect(w.transport.namespaces).toEqual(['foo', 'self']);
    expect(await count()).toBe('1');
  });

  it('no privilege for a namespace: said once, the others served', async () => {
    w = await startWorld({ names: ['locked', 'nocap', 'open'], deny: ['locked'], unprivileged: ['nocap'] });
    expect(w.transport.namespaces).toEqual(['open', 'self']);
    await w.transport.rescan();
    w.roots.addProc(77, path.join(w.roots.runNetns, 'locked'));
    await w.transport.rescan();
    const warned = (label: string) => w!.lines.filter((l) => l.startsWith('warn not serving a network namespace') && l.includes(`netns=${label} `));
    expect(warned('locked')).toHaveLength(1);
    expect(warned('locked')[0]).toMatch(/no privilege to enter it .*error="setns \(\S+locked\) failed: EPERM/);
    expect(warned('nocap')).toHaveLength(1);
    expect(warned('nocap')[0]).toMatch(/handshake socket could not be opened .*EPERM/);
    expect(await handshakeIn('open')).toMatchObject({ status: Status.OK });
  });

  it("[namespace.NAME] gives that namespace's requests their own trust store; a reload re-reads it", async () => {
    const tenantTrust = `[namespace.tenant1]\nclient.x509.truststore=${PKI}/ed25519-root-ca.crt.pem\n`;
    w = await startWorld({ names: ['tenant1'], extraConfig: tenantTrust });
    // The server's CA is in the main trust store, not in tenant1's.
    const c1 = await peer!.consumer();
    expect((await w.kernels.get('tenant1')!.submit({ sock: c1.fd, messageType: 'clienthello', authMode: 'x509', peername: 'localhost' })).status).toBe(Status.EACCES);
    const c2 = await peer!.consumer();
    expect((await w.kernels.get('self')!.submit({ sock: c2.fd, messageType: 'clienthello', authMode: 'x509', peername: 'localhost' })).status).toBe(Status.OK);
    expect(w.lines.join('\n')).toMatch(/warn handshake failed transport=kernel netns=tenant1 .*status=EACCES/);
    // The section removed: a reload gives tenant1 the main trust store again.
    fs.writeFileSync(w.configPath, configText('[handshaked]\nworkers=0\nnamespaces=all\n'));
    expect(w.daemon.reload()).toBe(true);
    const c3 = await peer!.consumer();
    expect((await w.kernels.get('tenant1')!.submit({ sock: c3.fd, messageType: 'clienthello', authMode: 'x509', peername: 'localhost' })).status).toBe(Status.OK);
    // And back: a section added by a reload applies to the next handshake.
    fs.writeFileSync(w.configPath, configText(`[handshaked]\nworkers=0\nnamespaces=all\n${tenantTrust}`));
    expect(w.daemon.reload()).toBe(true);
    const c4 = await peer!.consumer();
    expect((await w.kernels.get('tenant1')!.submit({ sock: c4.fd, messageType: 'clienthello', authMode: 'x509', peername: 'localhost' })).status).toBe(Status.EACCES);
  });

  it('[namespace.self] is for requests from the agent\'s own namespace only; namespaces without a section use the main sections', async () => {
    w = await startWorld({ names: ['tenant1'], extraConfig: `[namespace.self]\nclient.x509.truststore=${PKI}/ed25519-root-ca.crt.pem\n` });
    const x509In = async (label: string) => (await w!.kernels.get(label)!.submit({ sock: (await peer!.consumer()).fd, messageType: 'clienthello', authMode: 'x509', peername: 'localhost' })).status;
    expect(await x509In('self')).toBe(Status.EACCES);
    expect(await x509In('tenant1')).toBe(Status.OK);
  });

  it.each([
    ['watched with inotify', false],
    ['stat()ed before each handshake (no inotify)', true],
  ])('a tenant trust store replaced on disk is used by its next handshake: %s', async (_how, noInotify) => {
    const spy = noInotify
      ? jest.spyOn(PathWatch, 'of').mockImplementation(() => {
          throw new Error('inotify_init1 failed: EMFILE');
        })
      : undefined;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-ns-rotate-'));
    try {
      const store = path.join(dir, 'tenant-ca.pem');
      fs.copyFileSync(path.join(PKI, 'ed25519-root-ca.crt.pem'), store);
      // tenant2 inherits the main client trust store: a file shared by two profiles.
      w = await startWorld({ names: ['tenant1', 'tenant2'], extraConfig: `[namespace.tenant1]\nclient.x509.truststore=${store}\n[namespace.tenant2]\nkeyrings=t2\n` });
      expect(w.lines.some((l) => l.includes('identity files are not watched; they are checked with stat() before each handshake'))).toBe(noInotify);
      const x509In = async (label: string) => (await w!.kernels.get(label)!.submit({ sock: (await peer!.consumer()).fd, messageType: 'clienthello', authMode: 'x509', peername: 'localhost' })).status;
      expect(await x509In('tenant1')).toBe(Status.EACCES);
      expect(await x509In('tenant2')).toBe(Status.OK);
      fs.copyFileSync(path.join(PKI, 'ca-bundle.pem'), `${store}.new`);
      fs.renameSync(`${store}.new`, store);
      expect(await x509In('tenant1')).toBe(Status.OK);
      expect(w.lines.filter((l) => l.includes('identity files changed on disk; certificates, keys and trust reloaded'))).toHaveLength(1);
      expect(await x509In('self')).toBe(Status.OK);
      expect(w.lines.filter((l) => l.includes('identity files changed on disk'))).toHaveLength(1);
    } finally {
      spy?.mockRestore();
      await w?.stop();
      w = undefined;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on worker threads too: a tenant handshake there uses the tenant trust store', async () => {
    w = await startWorld({ names: ['tenant1'], workers: 1, extraConfig: `[namespace.tenant1]\nclient.x509.truststore=${PKI}/ed25519-root-ca.crt.pem\n` });
    expect(w.daemon.pool?.size).toBe(1);
    const c1 = await peer!.consumer();
    expect((await w.kernels.get('tenant1')!.submit({ sock: c1.fd, messageType: 'clienthello', authMode: 'x509', peername: 'localhost' })).status).toBe(Status.EACCES);
    const c2 = await peer!.consumer();
    expect((await w.kernels.get('self')!.submit({ sock: c2.fd, messageType: 'clienthello', authMode: 'x509', peername: 'localhost' })).status).toBe(Status.OK);
  });

  it('a [namespace.NAME] file that does not load is a FILE:LINE error at start-up', async () => {
    await expect(startWorld({ names: ['t'], extraConfig: '[namespace.t]\n\nclient.x509.truststore=/nonexistent/ca.pem\n' })).rejects.toThrow(/config:\d+: .*x509.truststore.*\/nonexistent\/ca.pem/);
  });
});

describe('a namespace made and deleted with `ip netns`, its requests on a fake kernel', () => {
  if (process.getuid?.() !== 0) return;
  it('as root: served once /run/netns shows it; `ip netns del` drops its metrics series', async () => {
    const name = `hsd-metrics-${process.pid}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-nsmetrics-'));
    const configPath = path.join(dir, 'config');
    fs.writeFileSync(configPath, configText('[handshaked]\nworkers=0\nmetrics=127.0.0.1:0\n'));
    const kernels = new Map<string, FakeKernel>();
    const links = new Map<string, FakeHandshakeLink>();
    let transport: NamespacesTransport | undefined;
    const { daemon } = await startTestDaemon({
      configPath,
      transports: [
        (ctx): AgentTransport =>
          (transport = new NamespacesTransport(ctx, {
            setting: { mode: 'list', entries: ['self', name] },
            roots: SYSTEM_NETNS_ROOTS,
            // On a fresh machine /run/netns does not exist until `ip netns add` makes it, and
            // nothing can watch it before then: the agent's periodic rescan finds it (as it does
            // in service, every 5 s).
            rescanMs: 200,
            kernel: { allowKtlsOff: true },
            linkFor: (place: NetnsPlace) => {
              const k = new FakeKernel();
              const link = new FakeHandshakeLink(k);
              kernels.set(place.label, k);
              links.set(place.label, link);
              return link;
            },
          })),
      ],
      logLevel: 'info',
    });
    const peer = await tlsPeerServer({ key: pki('server-p256.key.pem'), cert: pki('server-p256.chain.pem') });
    let added = false;
    try {
      expect(transport!.namespaces).toEqual(['self']);
      execFileSync('ip', ['netns', 'add', name]);
      added = true;
      await until(() => transport!.namespaces.includes(name));
      const c = await peer.consumer();
      expect(await kernels.get(name)!.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' })).toMatchObject({ status: Status.OK });
      expect(await daemon.metrics!.registry.metrics()).toContain(`handshaked_handshakes_total{role="client",auth="unauth",result="OK",netns="${name}"} 1`);
      execFileSync('ip', ['netns', 'del', name]);
      added = false;
      await until(() => !transport!.namespaces.includes(name));
      await until(() => links.get(name)!.socket!.closed);
      await transport!.rescan();
      expect(await daemon.metrics!.registry.metrics()).not.toContain(`netns="${name}"`);
    } finally {
      if (added) execFileSync('ip', ['netns', 'del', name]);
      await daemon.stop();
      await peer.close();
      for (const k of kernels.values()) k.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
