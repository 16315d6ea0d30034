import { GenlClient, KernelHandshakeLink, KernelNetlinkTransport, NetlinkError, nlctrlFamily, resolveKernelFamily } from '../../src/netlink';

// The development kernel has nlctrl and netdev but not the handshake family (CONFIG_NET_HANDSHAKE off).
describe('generic netlink on the running kernel', () => {
  it('resolves nlctrl through GETFAMILY, with its multicast group', async () => {
    const f = await resolveKernelFamily('nlctrl');
    expect(f.id).toBe(0x10);
    expect(f.mcastGroups.get('notify')).toBeGreaterThan(0);
  });

  it('resolves a dynamically numbered family (netdev) and joins its group', async () => {
    const client = new GenlClient(new KernelNetlinkTransport(false));
    try {
      const f = await client.resolveFamily('netdev');
      expect(f.id).toBeGreaterThanOrEqual(0x10);
      expect(f.mcastGroups.has('mgmt')).toBe(true);
      expect(() => client.joinGroup(f, 'mgmt')).not.toThrow();
      expect(() => client.joinGroup(f, 'nope')).toThrow(/no multicast group "nope"/);
    } finally {
      client.close();
    }
  });

  it('dumps every family (multipart reply ending in NLMSG_DONE)', async () => {
    const client = new GenlClient(new KernelNetlinkTransport(false));
    try {
      const all = await client.request(0x10, nlctrlFamily, 'getfamily', {}, { dump: true });
      const names = all.map((m) => m.attrs['family-name']);
      expect(names).toContain('nlctrl');
      expect(names.length).toBeGreaterThan(2);
    } finally {
      client.close();
    }
  });

  it('reads a per-op policy with GETPOLICY (nest-type-value decoding against real kernel bytes)', async () => {
    const client = new GenlClient(new KernelNetlinkTransport(false));
    try {
      const msgs = await client.request(0x10, nlctrlFamily, 'getpolicy', { 'family-name': 'nlctrl', op: 3 }, { dump: true });
      const opPolicy = msgs.find((m) => m.attrs['op-policy'])?.attrs['op-policy'];
      expect(opPolicy).toHaveProperty('3');
      expect(msgs.some((m) => m.attrs.policy)).toBe(true);
    } finally {
      client.close();
    }
  });

  it('resolving handshake gives a NetlinkError with code ENOENT', async () => {
    const e = await resolveKernelFamily('handshake').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NetlinkError);
    expect((e as NetlinkError).code).toBe('ENOENT');
    expect((e as NetlinkError).errno).toBe(2);
  });

  it('KernelHandshakeLink.open() says the kernel lacks the family', async () => {
    const link = new KernelHandshakeLink();
    try {
      await expect(link.open()).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringMatching(/CONFIG_NET_HANDSHAKE, Linux 6\.5 or later/) });
    } finally {
      link.close();
    }
  });
});
