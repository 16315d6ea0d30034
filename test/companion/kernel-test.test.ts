/**
 * companion kernel-test against the fake kernel (src/netlink/fake-kernel.ts): every fault the
 * companion injects gets the answer the fake gives (the mainline kernel's), with a consumer that
 * submits requests when the companion waits for them.
 */
import { FakeKernel } from '../../src/netlink/fake-kernel';
import { runKernelTest } from '../../src/companion/kernel-test';
import { tcpPair } from '../unix/harness';

test('all eight cases pass on the fake kernel; the consumer sees the injected status', async () => {
  const kernel = new FakeKernel();
  const lines: string[] = [];
  const pairs: Array<Awaited<ReturnType<typeof tcpPair>>> = [];
  const results: Array<Promise<{ status: number; cancelled: boolean }>> = [];
  try {
    const failures = await runKernelTest({
      transport: () => kernel.socket({ privileged: true }),
      write: (l) => lines.push(l),
      waitMs: 10000,
      status: 13,
      delayDoneMs: 50,
      lateDoneMs: 400,
      onWaiting: (what) => {
        void tcpPair().then((p) => {
          pairs.push(p);
          results.push(kernel.submit({ sock: p.fd, messageType: 'clienthello', authMode: 'unauth', ...(what === 'late' ? { cancelAfterMs: 100 } : {}) }));
        });
      },
    });
    const out = lines.join('\n');
    expect(lines[0]).toBe('KTAP version 1');
    expect(lines[1]).toBe('1..8');
    expect(out).not.toMatch(/^not ok/m);
    for (const n of ['accept_nothing_pending', 'done_without_sockfd', 'done_closed_fd', 'done_no_request', 'done_status_over_max_errno', 'done_consumer_status', 'done_duplicate', 'done_after_consumer_timeout']) {
      expect(out).toMatch(new RegExp(`^ok \\d+ ${n}$`, 'm'));
    }
    expect(out).toMatch(/done_status_over_max_errno: kernel answered ERANGE \(34\).*2026 fix/);
    expect(failures).toBe(0);
    const settled = await Promise.all(results);
    // first request: status over max refused, then DONE with the injected EACCES; second: the consumer cancelled
    expect(settled[0]).toMatchObject({ status: 13, cancelled: false });
    expect(settled[1]).toMatchObject({ cancelled: true });
  } finally {
    kernel.close();
    for (const p of pairs) p.close();
  }
}, 60000);

test('without a consumer the request cases fail, and say why', async () => {
  const kernel = new FakeKernel();
  const lines: string[] = [];
  try {
    const failures = await runKernelTest({ transport: () => kernel.socket({ privileged: true }), write: (l) => lines.push(l), waitMs: 300, status: 0, delayDoneMs: 0, lateDoneMs: 0 });
    expect(failures).toBe(4);
    expect(lines.join('\n')).toMatch(/done_status_over_max_errno: no handshake request within 300 ms: start a consumer/);
  } finally {
    kernel.close();
  }
}, 30000);

test('a kernel without the family: every case fails with one actionable line', async () => {
  const kernel = new FakeKernel({ noHandshakeFamily: true });
  const lines: string[] = [];
  try {
    const failures = await runKernelTest({ transport: () => kernel.socket({ privileged: true }), write: (l) => lines.push(l), waitMs: 100, status: 0, delayDoneMs: 0, lateDoneMs: 0, noConsumer: true });
    expect(failures).toBe(4);
    expect(lines.join('\n')).toMatch(/cannot use the kernel's handshake family: .*not found/);
    expect(lines.filter((l) => l.startsWith('not ok'))).toHaveLength(4);
  } finally {
    kernel.close();
  }
});
