import fs from 'node:fs';
import { GenlClient, NetlinkError, decodeMessages, handshakeFamily, type AcceptReply } from '../../src/netlink';
import { FakeHandshakeLink, FakeKernel } from '../../src/netlink/fake-kernel';
import { tcpPair, type TcpPair } from './tcp-pair';
import { rejectedWith } from '../helpers/thrown';

const pairs: TcpPair[] = [];
const kernels: FakeKernel[] = [];
const links: FakeHandshakeLink[] = [];
const agentFds: number[] = [];

async function pair(): Promise<TcpPair> {
  const p = await tcpPair();
  pairs.push(p);
  return p;
}
function kernel(opts?: ConstructorParameters<typeof FakeKernel>[0]): FakeKernel {
  const k = new FakeKernel(opts);
  kernels.push(k);
  return k;
}
async function agent(k: FakeKernel, privileged = true): Promise<FakeHandshakeLink> {
  const l = new FakeHandshakeLink(k, { privileged });
  links.push(l);
  await l.open();
  return l;
}
function track(r: AcceptReply | null): AcceptReply {
  if (!r) throw new Error('expected an accepted request');
  agentFds.push(r.sockfd);
  return r;
}
const rejection = (p: Promise<unknown>): Promise<NetlinkError> => rejectedWith(NetlinkError, p);
const ino = (fd: number) => fs.fstatSync(fd).ino;

afterEach(async () => {
  for (const l of links.splice(0)) l.close();
  for (const k of kernels.splice(0)) k.close();
  for (const fd of agentFds.splice(0)) {
    try {
      fs.closeSync(fd);
    } catch {
      /* closed by the test */
    }
  }
  for (const p of pairs.splice(0)) await p.close();
});

describe('fake kernel: family resolution', () => {
  it('resolves handshake through nlctrl GETFAMILY and joins tlshd', async () => {
    const k = kernel({ familyId: 0x33, groupIds: [7, 8] });
    const l = await agent(k);
    expect(l.resolvedFamily).toMatchObject({ id: 0x33, name: 'handshake', version: 1 });
    expect([...l.resolvedFamily!.mcastGroups]).toEqual([['none', 7], ['tlshd', 8]]);
    expect(l.socket!.groups.has(8)).toBe(true);
    // The agent's requests are real netlink bytes.
    const [getfamily] = decodeMessages(k.received[0]);
    expect(getfamily).toMatchObject({ kind: 'genl', cmdName: 'getfamily', attrs: { 'family-name': 'handshake' } });
  });

  it('a kernel without the family: open() fails with ENOENT naming CONFIG_NET_HANDSHAKE', async () => {
    const k = kernel({ noHandshakeFamily: true });
    const l = new FakeHandshakeLink(k);
    links.push(l);
    const e = await rejection(l.open());
    expect(e.code).toBe('ENOENT');
    expect(e.message).toMatch(/CONFIG_NET_HANDSHAKE/);
  });
});

describe('fake kernel: submit', () => {
  it('ESRCH when no agent has joined tlshd', async () => {
    const k = kernel();
    const p = await pair();
    const e = await rejection(k.submit({ sock: p.fd, messageType: 'clienthello', authMode: 'unauth' }));
    expect(e.code).toBe('ESRCH');
  });

  it('EBUSY for a second submit on the same socket, EAGAIN past the pending limit', async () => {
    const k = kernel({ pendingMax: 2 });
    await agent(k);
    const [a, b, c] = [await pair(), await pair(), await pair()];
    const first = k.submit({ sock: a.fd, messageType: 'clienthello', authMode: 'unauth' });
    expect((await rejection(k.submit({ sock: a.fd, messageType: 'clienthello', authMode: 'unauth' }))).code).toBe('EBUSY');
    const second = k.submit({ sock: b.fd, messageType: 'serverhello', authMode: 'x509' });
    expect(k.pendingCount).toBe(2);
    expect((await rejection(k.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth' }))).code).toBe('EAGAIN');
    expect(k.cancel(a.fd)).toBe(true);
    expect(k.cancel(b.fd)).toBe(true);
    expect(await first).toEqual({ status: 110, remoteAuth: [], cancelled: true });
    await second;
  });

  it('multicasts READY to every member of tlshd', async () => {
    const k = kernel();
    const [l1, l2] = [await agent(k), await agent(k)];
    const seen: string[] = [];
    const both = new Promise<void>((resolve) => {
      const mark = (who: string) => () => {
        seen.push(who);
        if (seen.length === 2) resolve();
      };
      l1.onReady(mark('a'));
      l2.onReady(mark('b'));
    });
    const p = await pair();
    const result = k.submit({ sock: p.fd, messageType: 'clienthello', authMode: 'unauth' });
    await both;
    expect(seen.sort()).toEqual(['a', 'b']);
    k.cancel(p.fd);
    await result;
  });
});

describe('fake kernel: ACCEPT and DONE', () => {
  it('ACCEPT with nothing pending gives null (EAGAIN)', async () => {
    const l = await agent(kernel());
    await expect(l.accept()).resolves.toBeNull();
  });

  it('the full upcall: READY → ACCEPT (fd is a dup of the consumer socket) → DONE → the consumer sees the result', async () => {
    const k = kernel();
    const l = await agent(k);
    const p = await pair();
    let agentWork: Promise<void> | undefined;
    l.onReady(() => {
      agentWork ??= (async () => {
        const r = track(await l.accept());
        expect(r.sockfd).not.toBe(p.fd);
        expect(ino(r.sockfd)).toBe(ino(p.fd));
        expect(k.requestFor(p.fd)?.state).toBe('accepted');
        await l.done({ sockfd: r.sockfd, status: 0, remoteAuth: [0x1234, 0x5678] });
      })();
    });
    const result = await k.submit({ sock: p.fd, messageType: 'clienthello', authMode: 'psk', peerIdentities: [0x1234] });
    expect(result).toEqual({ status: 0, remoteAuth: [0x1234, 0x5678], cancelled: false });
    await agentWork;
    expect(k.requestFor(p.fd)?.state).toBe('completed');
  });

  const apis: Array<[string, Parameters<FakeKernel['submit']>[0] extends infer S ? Omit<S & object, 'sock'> : never, Partial<AcceptReply>]> = [
    ['tls_client_hello_anon', { messageType: 'clienthello', authMode: 'unauth', peername: 'nfs.example' }, { messageType: 'clienthello', authMode: 'unauth', peername: 'nfs.example', peerIdentity: [], certificate: [] }],
    ['tls_client_hello_x509', { messageType: 'clienthello', authMode: 'x509', peername: 'nfs.example', certificate: { cert: 0x11, privkey: 0x12 } }, { authMode: 'x509', certificate: [{ cert: 0x11, privkey: 0x12 }] }],
    ['tls_client_hello_psk', { messageType: 'clienthello', authMode: 'psk', peerIdentities: [0x21, 0x22, 0x23], timeoutMs: 10000, keyring: 0x30 }, { authMode: 'psk', peerIdentity: [0x21, 0x22, 0x23], timeout: 10000, keyring: 0x30 }],
    ['tls_server_hello_x509', { messageType: 'serverhello', authMode: 'x509' }, { messageType: 'serverhello', authMode: 'x509', certificate: [], peername: undefined, timeout: undefined, keyring: undefined }],
    ['tls_server_hello_psk', { messageType: 'serverhello', authMode: 'psk', timeoutMs: 10000 }, { messageType: 'serverhello', authMode: 'psk', peerIdentity: [0], timeout: 10000 }],
  ];
  it.each(apis)('%s: the ACCEPT reply carries what that API sets', async (_name, req, expected) => {
    const k = kernel();
    const l = await agent(k);
    const p = await pair();
    const result = k.submit({ sock: p.fd, ...req });
    const r = track(await l.accept());
    expect(r).toMatchObject(expected);
    await l.done({ sockfd: r.sockfd, status: 13, remoteAuth: [] });
    expect(await result).toEqual({ status: 13, remoteAuth: [], cancelled: false });
  });

  it('DONE without sockfd → EINVAL with an extack message', async () => {
    const k = kernel();
    const c = new GenlClient(k.socket());
    try {
      const e = await rejection(c.request(k.familyId, handshakeFamily, 'done', { status: 0 }));
      expect(e.code).toBe('EINVAL');
      expect(e.extack).toMatch(/missing attribute: sockfd/);
    } finally {
      c.close();
    }
  });

  it('DONE on an fd that is not open → EBADF; on a socket without a request → EBUSY', async () => {
    const l = await agent(kernel());
    const p = await pair();
    const closed = fs.openSync('/dev/null', 'r');
    fs.closeSync(closed);
    expect((await rejection(l.done({ sockfd: closed, status: 0, remoteAuth: [] }))).code).toBe('EBADF');
    expect((await rejection(l.done({ sockfd: p.fd, status: 0, remoteAuth: [] }))).code).toBe('EBUSY');
    const file = fs.openSync('/dev/null', 'r');
    agentFds.push(file);
    expect((await rejection(l.done({ sockfd: file, status: 0, remoteAuth: [] }))).code).toBe('ENOTSOCK');
  });

  it('a duplicate DONE returns 0 and changes nothing', async () => {
    const k = kernel();
    const l = await agent(k);
    const p = await pair();
    const result = k.submit({ sock: p.fd, messageType: 'clienthello', authMode: 'unauth' });
    const r = track(await l.accept());
    await l.done({ sockfd: r.sockfd, status: 0, remoteAuth: [1] });
    await expect(l.done({ sockfd: r.sockfd, status: 13, remoteAuth: [2] })).resolves.toBeUndefined();
    expect(await result).toEqual({ status: 0, remoteAuth: [1], cancelled: false });
  });

  it('strict policy: an unknown DONE attribute → EINVAL naming its offset; status > 4095 → ERANGE', async () => {
    const k = kernel();
    const c = new GenlClient(k.socket());
    try {
      const e = await rejection(c.request(k.familyId, handshakeFamily, 'done', { status: 0, sockfd: 5, 'unknown-4': '74616700' }));
      expect(e.code).toBe('EINVAL');
      expect(e.extack).toMatch(/Unknown attribute type 4/);
      const e2 = await rejection(c.request(k.familyId, handshakeFamily, 'done', { status: 4096, sockfd: 5 }));
      expect(e2.code).toBe('ERANGE');
      const e3 = await rejection(c.request(k.familyId, handshakeFamily, 'accept', { 'handler-class': 'tlshd', sockfd: 3 }));
      expect(e3.code).toBe('EINVAL');
    } finally {
      c.close();
    }
    // The error carried the attribute's offset in the request: 16 + 4 + 8 (status) + 8 (sockfd).
    const k2 = kernel();
    const s = k2.socket();
    const got = new Promise<Buffer>((r) => s.onDatagram(r));
    const { encodeMessage } = await import('../../src/netlink');
    s.send(encodeMessage({ type: k2.familyId, flags: 5, seq: 3, cmd: 'done', attrs: { status: 0, sockfd: 5, 'unknown-4': '00' } }, handshakeFamily));
    const [err] = decodeMessages(await got);
    expect(err).toMatchObject({ kind: 'error', error: -22, extack: { offset: 36 } });
  });

  it('EPERM without privilege for ACCEPT and DONE; DONE is allowed on pre-2026 kernels', async () => {
    const k = kernel();
    const l = await agent(k, false);
    expect((await rejection(l.accept())).code).toBe('EPERM');
    expect((await rejection(l.done({ sockfd: 9999, status: 0, remoteAuth: [] }))).code).toBe('EPERM');
    const old = kernel({ doneRequiresAdmin: false });
    const l2 = await agent(old, false);
    expect((await rejection(l2.done({ sockfd: 9999, status: 0, remoteAuth: [] }))).code).toBe('EBADF');
  });

  it('a consumer that times out cancels; the late DONE returns 0 and is ignored', async () => {
    const k = kernel();
    const l = await agent(k);
    const p = await pair();
    const result = k.submit({ sock: p.fd, messageType: 'clienthello', authMode: 'unauth', cancelAfterMs: 50 });
    const r = track(await l.accept());
    expect(await result).toEqual({ status: 110, remoteAuth: [], cancelled: true });
    await expect(l.done({ sockfd: r.sockfd, status: 0, remoteAuth: [] })).resolves.toBeUndefined();
    expect(k.requestFor(p.fd)?.state).toBe('cancelled');
    expect(k.cancel(p.fd)).toBe(false);
  });

  it('a cancelled pending request is no longer offered to ACCEPT', async () => {
    const k = kernel();
    const l = await agent(k);
    const p = await pair();
    const result = k.submit({ sock: p.fd, messageType: 'clienthello', authMode: 'unauth' });
    expect(k.cancel(p.fd)).toBe(true);
    await result;
    await expect(l.accept()).resolves.toBeNull();
  });

  it('lost notifications (ENOBUFS) still wake the agent', async () => {
    const l = await agent(kernel());
    const woke = new Promise<void>((r) => l.onReady(r));
    l.socket!.overflow();
    await expect(woke).resolves.toBeUndefined();
  });
});

describe('doneAttributes', () => {
  it('reads the DONE policy through GETPOLICY', async () => {
    const l = await agent(kernel());
    expect([...(await l.doneAttributes())].sort()).toEqual(['remote-auth', 'sockfd', 'status']);
    expect(l.doneAttributesSource).toBe('policy');
  });
  it('falls back to the mainline set when GETPOLICY is unsupported', async () => {
    const l = await agent(kernel({ policyDump: false }));
    expect([...(await l.doneAttributes())].sort()).toEqual(['remote-auth', 'sockfd', 'status']);
    expect(l.doneAttributesSource).toBe('fallback');
  });
});
