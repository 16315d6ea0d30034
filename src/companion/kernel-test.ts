/**
 * `handshaked companion kernel-test`: a fault-injecting agent on a kernel's `handshake` family,
 * for kernel developers (and the VM tests). It joins group tlshd like an agent, then sends what a
 * broken or hostile agent would, and checks the kernel's answer:
 *
 *   accept_nothing_pending      ACCEPT with an empty queue          → EAGAIN
 *   done_without_sockfd         DONE with status only               → EINVAL
 *   done_closed_fd              DONE naming a closed fd             → EBADF
 *   done_no_request             DONE on a socket nobody submitted   → EBUSY
 *   -- the rest needs handshake requests from a consumer (e.g. an NFS mount with xprtsec=tls) --
 *   done_status_over_max_errno  DONE status 5000                    → ERANGE (2026 fix) or 0 (older)
 *   done_consumer_status        DONE --status after --delay-done    → 0
 *   done_duplicate              the same DONE again                 → 0 (ignored) or EBUSY
 *   done_after_consumer_timeout DONE once the consumer gave up      → 0 (ignored) or EBUSY
 * Answers that differ between kernel versions pass, with a diagnostic naming which one this is.
 *
 * The link is injectable (any NetlinkTransport): the real kernel, or the fake kernel in tests.
 */
import net from 'node:net';
import type { AttrObject } from '../netlink/codec';
import { GenlClient, type ResolvedFamily } from '../netlink/genl-client';
import { HANDSHAKE_FAMILY_NAME, HANDSHAKE_MCGRP_TLSHD, handshakeFamily } from '../netlink/families/handshake';
import { toAcceptReply } from '../netlink/handshake-messages';
import { type AcceptReply, NetlinkError } from '../netlink/link';
import type { NetlinkTransport } from '../netlink/transport';
import { Errno, errnoName } from '../sys/errno';
import { close as closeFd } from '../sys/libc';
import { KtapWriter, type CaseResult } from './ktap';
import { socketFd } from '../sys/socket-fd';

export interface KernelTestOptions {
  /** Opens the netlink socket (real kernel: KernelNetlinkTransport). */
  transport: () => NetlinkTransport;
  write: (line: string) => void;
  /** How long to wait for each consumer request (ms). */
  waitMs: number;
  /** Status for the DONE of a normal request (drives the consumer's error paths; default 0). */
  status: number;
  /** Wait this long before that DONE (ms). */
  delayDoneMs: number;
  /** How long after ACCEPT the consumer is known to have given up (its timeout, plus margin). */
  lateDoneMs: number;
  /** Called when the test waits for a consumer request (tests submit one; the CLI prints a hint). */
  onWaiting?: (what: string) => void;
  /** Only the cases that need no consumer. */
  noConsumer?: boolean;
}

const CASES_NO_CONSUMER = ['accept_nothing_pending', 'done_without_sockfd', 'done_closed_fd', 'done_no_request'];
const CASES_CONSUMER = ['done_status_over_max_errno', 'done_consumer_status', 'done_duplicate', 'done_after_consumer_timeout'];

class Family {
  private readyWaiters: Array<() => void> = [];
  private constructor(
    readonly client: GenlClient,
    readonly fam: ResolvedFamily,
  ) {
    client.onNotification((m) => {
      if (m.family === handshakeFamily && m.cmdName === 'ready') this.readyWaiters.splice(0).forEach((w) => w());
    });
  }

  static async open(t: NetlinkTransport): Promise<Family> {
    const client = new GenlClient(t);
    try {
      const fam = await client.resolveFamily(HANDSHAKE_FAMILY_NAME, handshakeFamily);
      client.joinGroup(fam, HANDSHAKE_MCGRP_TLSHD);
      return new Family(client, fam);
    } catch (e) {
      client.close();
      throw e;
    }
  }

  /** The errno of the kernel's answer: 0 for an ACK. */
  async errnoOf(cmd: 'accept' | 'done', attrs: AttrObject): Promise<{ errno: number; replies: Awaited<ReturnType<GenlClient['request']>>; extack?: string }> {
    try {
      const replies = await this.client.request(this.fam.id, handshakeFamily, cmd, attrs);
      return { errno: 0, replies };
    } catch (e) {
      if (e instanceof NetlinkError) return { errno: e.errno, replies: [], extack: e.extack };
      throw e;
    }
  }

  async accept(): Promise<AcceptReply | number> {
    const r = await this.errnoOf('accept', { 'handler-class': 'tlshd' });
    if (r.errno) return r.errno;
    const reply = r.replies.find((m) => m.cmdName === 'accept');
    if (!reply) return Errno.EPROTO;
    return toAcceptReply(reply.attrs);
  }

  /** ACCEPT until a request comes, waking on READY; EAGAIN while nothing is queued. */
  async nextRequest(waitMs: number): Promise<AcceptReply> {
    const end = Date.now() + waitMs;
    for (;;) {
      const r = await this.accept();
      if (typeof r !== 'number') return r;
      if (r !== Errno.EAGAIN) throw new Error(`ACCEPT failed with ${errnoName(r)}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no handshake request within ${waitMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500));
        this.readyWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.client.close();
  }
}

const name = (errno: number) => (errno === 0 ? '0' : `${errnoName(errno)} (${errno})`);

function expectOne(caseName: string, got: { errno: number; extack?: string }, want: number, why: string): CaseResult {
  const ok = got.errno === want;
  const diag = `${caseName}: kernel answered ${name(got.errno)}${got.extack ? ` "${got.extack}"` : ''}; expected ${name(want)} (${why})`;
  return { name: caseName, ok, diagnostics: ok ? [] : [diag] };
}

function expectEither(caseName: string, got: { errno: number; extack?: string }, versions: Array<[number, string]>): CaseResult {
  const hit = versions.find(([e]) => e === got.errno);
  const answer = `${caseName}: kernel answered ${name(got.errno)}${got.extack ? ` "${got.extack}"` : ''}`;
  if (hit) return { name: caseName, ok: true, diagnostics: [`${answer}: ${hit[1]}`] };
  return { name: caseName, ok: false, diagnostics: [`${answer}; expected ${versions.map(([e, w]) => `${name(e)} (${w})`).join(' or ')}`] };
}

function closeQuietly(fd: number): void {
  try {
    closeFd(fd);
  } catch {
    // already closed
  }
}

/** A connected loopback TCP socket that no consumer submitted; resolves with its fd and a closer. */
async function unsubmittedSocket(): Promise<{ fd: number; close: () => void }> {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r, j) => c.once('connect', r).once('error', j));
  const s = await accepted;
  server.close();
  const fd = socketFd(s);
  return {
    fd,
    close: () => {
      s.destroy();
      c.destroy();
    },
  };
}

export async function runKernelTest(o: KernelTestOptions): Promise<number> {
  const names = o.noConsumer ? CASES_NO_CONSUMER : [...CASES_NO_CONSUMER, ...CASES_CONSUMER];
  const ktap = new KtapWriter(o.write, names.length);
  let fam: Family;
  try {
    fam = await Family.open(o.transport());
  } catch (e) {
    ktap.diag(`cannot use the kernel's handshake family: ${(e as Error).message}`);
    for (const n of names) ktap.result({ name: n, ok: false, diagnostics: [] });
    ktap.totals();
    return ktap.failures;
  }
  try {
    ktap.diag(`handshake family id ${fam.fam.id}, group tlshd ${fam.fam.mcastGroups.get(HANDSHAKE_MCGRP_TLSHD)}`);
    // 1. nothing pending
    ktap.result(expectOne('accept_nothing_pending', await fam.errnoOf('accept', { 'handler-class': 'tlshd' }), Errno.EAGAIN, 'no request is queued'));
    // 2. DONE without the required sockfd
    ktap.result(expectOne('done_without_sockfd', await fam.errnoOf('done', { status: 0 }), Errno.EINVAL, 'sockfd is a required attribute'));
    // 3. DONE naming an fd that is not open
    {
      const t = await unsubmittedSocket();
      const fd = t.fd;
      t.close();
      await new Promise((r) => setImmediate(r));
      ktap.result(expectOne('done_closed_fd', await fam.errnoOf('done', { status: 0, sockfd: fd }), Errno.EBADF, `fd ${fd} is closed`));
    }
    // 4. DONE on a socket that has no request
    {
      const t = await unsubmittedSocket();
      try {
        ktap.result(expectOne('done_no_request', await fam.errnoOf('done', { status: 0, sockfd: t.fd }), Errno.EBUSY, 'no handshake request exists for this socket'));
      } finally {
        t.close();
      }
    }
    if (!o.noConsumer) await consumerCases(fam, ktap, o);
  } finally {
    fam.close();
  }
  ktap.totals();
  return ktap.failures;
}

async function consumerCases(fam: Family, ktap: KtapWriter, o: KernelTestOptions): Promise<void> {
  const start = ktap.count;
  const failAll = (upTo: number, why: string) => {
    for (const n of CASES_CONSUMER.slice(ktap.count - start, upTo)) ktap.result({ name: n, ok: false, diagnostics: [`${n}: ${why}`] });
  };
  /** The consumer's next request; when none comes, every case left fails, saying so. */
  const awaitRequest = async (which: 'first' | 'late'): Promise<AcceptReply | undefined> => {
    try {
      o.onWaiting?.(which);
      return await fam.nextRequest(o.waitMs);
    } catch (e) {
      failAll(4, `${(e as Error).message}: start a consumer (see docs/companion.md)`);
      return undefined;
    }
  };
  const first = await awaitRequest('first');
  if (!first) return;
  let req = first;
  try {
    ktap.diag(`accepted fd ${req.sockfd}: ${req.messageType} auth ${req.authMode}${req.peername ? ` peername ${req.peername}` : ''}${req.timeout ? ` timeout ${req.timeout} ms` : ''}`);
    const over = await fam.errnoOf('done', { status: 5000, sockfd: req.sockfd });
    ktap.result(
      expectEither('done_status_over_max_errno', over, [
        [Errno.ERANGE, 'this kernel has the 2026 fix (status policy max 4095)'],
        [0, 'this kernel predates the 2026 fix: the consumer received status 5000'],
      ]),
    );
    if (over.errno === 0) {
      // The request is complete already; the consumer-status case needs another one.
      closeQuietly(req.sockfd);
      o.onWaiting?.('second');
      req = await fam.nextRequest(o.waitMs);
    }
    if (o.delayDoneMs > 0) await new Promise((r) => setTimeout(r, o.delayDoneMs));
    ktap.result(expectOne('done_consumer_status', await fam.errnoOf('done', { status: o.status, sockfd: req.sockfd }), 0, `DONE status ${name(o.status)} after ${o.delayDoneMs} ms`));
    ktap.result(
      expectEither('done_duplicate', await fam.errnoOf('done', { status: o.status, sockfd: req.sockfd }), [
        [0, 'the duplicate was ignored'],
        [Errno.EBUSY, 'the duplicate was refused: the request is gone'],
      ]),
    );
  } catch (e) {
    failAll(3, (e as Error).message);
    failAll(4, 'not run: an earlier case failed');
    return;
  } finally {
    closeQuietly(req.sockfd);
  }
  const late = await awaitRequest('late');
  if (!late) return;
  try {
    await new Promise((r) => setTimeout(r, o.lateDoneMs));
    ktap.result(
      expectEither('done_after_consumer_timeout', await fam.errnoOf('done', { status: 0, sockfd: late.sockfd }), [
        [0, 'the late DONE was ignored'],
        [Errno.EBUSY, 'the late DONE was refused: the consumer had cancelled'],
      ]),
    );
  } finally {
    closeQuietly(late.sockfd);
  }
}
