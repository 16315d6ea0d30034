/**
 * `inspect monitor` on the fake kernel: every notification and socket error is printed with the
 * namespace it came from, in the tree and in JSON.
 */
import net from 'node:net';
import { monitor } from '../../src/netlink/inspect/monitor';
import { FakeKernel } from '../../src/netlink/fake-kernel';
import { socketFd } from '../../src/sys/socket-fd';

async function watch(json: boolean): Promise<string[]> {
  const kernels = { self: new FakeKernel(), tenant1: new FakeKernel({ familyId: 0x22 }) };
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const lines: string[] = [];
  try {
    const sockets = { self: kernels.self.socket(), tenant1: kernels.tenant1.socket() };
    const running = monitor({ json, count: 2, write: (l) => lines.push(l), namespaces: (['self', 'tenant1'] as const).map((label) => ({ label, open: () => sockets[label] })) });
    // Both have joined the tlshd group once the monitor has resolved the family in each.
    for (let i = 0; i < 200 && (sockets.self.groups.size === 0 || sockets.tenant1.groups.size === 0); i++) await new Promise((r) => setTimeout(r, 5));
    sockets.tenant1.overflow();
    void kernels.tenant1.submit({ sock: socketFd(server), messageType: 'clienthello', authMode: 'unauth', peername: 'nfs.example' }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20)); // tenant1's line first, so the order below is fixed
    void kernels.self.submit({ sock: socketFd(server), messageType: 'serverhello', authMode: 'x509' }).catch(() => undefined);
    await running;
  } finally {
    kernels.self.close();
    kernels.tenant1.close();
    await new Promise((r) => server.close(r));
  }
  return lines;
}

describe('inspect monitor with namespaces', () => {
  it('tree: netns=LABEL before each notification, and before each socket error', async () => {
    expect(await watch(false)).toEqual([
      '# netns=tenant1 ENOBUFS: netlink receive queue overflowed',
      'netns=tenant1 handshake ready  (offset 0, 28 bytes)\n  flags 0 (0x0)  seq 0  port 0  type 0x0022\n  genl version 1\n  handler-class: tlshd (1)',
      'netns=self handshake ready  (offset 0, 28 bytes)\n  flags 0 (0x0)  seq 0  port 0  type 0x001d\n  genl version 1\n  handler-class: tlshd (1)',
    ]);
  });

  it('JSON: a leading "netns" key', async () => {
    const ready = (type: number) => `"offset":0,"len":28,"type":${type},"flags":[],"seq":0,"port":0,"family":"handshake","cmd":"ready","version":1,"attrs":{"handler-class":"tlshd"}}`;
    expect(await watch(true)).toEqual(['# netns=tenant1 ENOBUFS: netlink receive queue overflowed', `{"netns":"tenant1",${ready(0x22)}`, `{"netns":"self",${ready(0x1d)}`]);
  });
});
