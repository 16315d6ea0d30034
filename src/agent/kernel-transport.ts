/**
 * The kernel transport: the upstream design, on the `handshake` generic-netlink family.
 *
 * READY only says "something is queued" and notifications can be lost, so the agent drains
 * with ACCEPT until EAGAIN at start-up, on every READY (the link also signals after ENOBUFS) and
 * whenever a dispatcher slot frees up after it stopped at the in-flight limit. Requests left in
 * the kernel's queue while the agent is at its limit are the kernel's back-pressure: it refuses
 * new consumers with EAGAIN once its own pending limit is reached.
 *
 * Each accepted socket fd belongs to this transport until DONE has been sent; then it is closed
 * (the kernel keeps its own reference). DONE carries only attributes the kernel's policy names
 * (learned once with a policy dump), because a kernel rejects a whole DONE with an attribute it
 * does not know.
 */
import type { AcceptReply, DoneArgs, HandshakeFamilyLink } from '../netlink/link';
import { NetlinkError } from '../netlink/link';
import { Errno } from '../sys/errno';
import { close as closeFd } from '../sys/libc';
import type { HandshakeRequest, HandshakeResult } from './request';
import { Status } from './request';
import { HandshakeAborted } from './dispatcher';
import { SELF_NETNS } from './netns';
import { StartupError, type AgentTransport, type TransportContext } from './transport';
import { Cancellation } from './cancel';

/** DONE attributes every mainline kernel since 6.4 accepts; used when the policy cannot be read. */
const BASE_DONE_ATTRIBUTES = new Set(['status', 'sockfd', 'remote-auth']);

export const MISSING_FAMILY_HINT =
  'the kernel has no "handshake" netlink family: handshaked needs Linux 6.5 or later built with ' +
  'CONFIG_NET_HANDSHAKE (selected by NFS/SunRPC or NVMe-TCP TLS support); on another kernel use --transport unix';
export const NO_PRIVILEGE_HINT =
  'the kernel refused ACCEPT with EPERM: run handshaked as root, or with CAP_NET_ADMIN in the ' +
  "initial user namespace (a container's own user namespace is not enough)";

function requestFromAccept(reply: AcceptReply): HandshakeRequest {
  return {
    fd: reply.sockfd,
    role: reply.messageType === 'clienthello' ? 'client' : 'server',
    auth: reply.authMode,
    peername: reply.peername === '' ? undefined : reply.peername,
    timeoutMs: reply.timeout && reply.timeout > 0 ? reply.timeout : undefined,
    peerIdentities: [...reply.peerIdentity],
    certificate: reply.certificate[0] ? { ...reply.certificate[0] } : undefined,
    keyring: reply.keyring ? reply.keyring : undefined,
    // The kernel consumer chose these serials; they are the kernel's own keys.
    keySerialsAllowed: true,
  };
}

export class KernelTransport implements AgentTransport {
  readonly name = 'kernel';
  private accepting = false;
  private draining = false;
  private drainAgain = false;
  private doneAttrs: Set<string> = BASE_DONE_ATTRIBUTES;
  private readonly outstanding = new Set<Promise<void>>();
  private readonly onCapacity = () => this.kick();
  /**
   * Aborted when this namespace's requests are withdrawn (the namespace went away). Every request
   * in flight listens on it (and stops when it ends): thousands of listeners are the design.
   */
  private readonly withdrawn = new Cancellation();

  constructor(
    private readonly link: HandshakeFamilyLink,
    private readonly ctx: TransportContext,
    private readonly opts: KernelTransportOptions = {},
  ) {}

  /** The label of the network namespace this link was opened in. */
  get netns(): string {
    return this.opts.netns ?? SELF_NETNS;
  }

  async start(): Promise<void> {
    if (this.ctx.ktls === 'off' && !this.opts.allowKtlsOff) {
      throw new StartupError(
        '--ktls off cannot be used with the kernel transport: the kernel consumer would be told the socket is encrypted when it is not',
      );
    }
    // A kernel is trusted to speak its own family: tolerated, but visible when debugging.
    this.link.onLenient?.((what) => this.ctx.logger.debug(`kernel transport: accepted what a strict policy reading would refuse: ${what}`));
    try {
      await this.link.open();
    } catch (e) {
      if (e instanceof NetlinkError && (e.errno === Errno.ENOENT || e.errno === Errno.EOPNOTSUPP)) throw new StartupError(MISSING_FAMILY_HINT);
      throw e;
    }
    try {
      this.doneAttrs = await this.link.doneAttributes();
      for (const must of ['status', 'sockfd']) {
        if (!this.doneAttrs.has(must)) this.ctx.logger.warn('kernel DONE policy lacks a required attribute; sending it anyway', { attribute: must });
      }
    } catch (e) {
      this.doneAttrs = BASE_DONE_ATTRIBUTES;
      this.ctx.logger.debug('could not read the kernel DONE policy; assuming status, sockfd and remote-auth', { error: errMsg(e) });
    }
    this.ctx.logger.info('kernel capabilities', { done_attributes: [...this.doneAttrs].sort() });
    this.link.onReady(() => this.kick());
    this.ctx.dispatcher.on('capacity', this.onCapacity);
    this.accepting = true;
    // The first drain is awaited so that a missing privilege stops start-up, not the first mount.
    try {
      await this.drain(true);
    } catch (e) {
      this.accepting = false;
      this.ctx.dispatcher.off('capacity', this.onCapacity);
      this.link.close();
      throw e;
    }
  }

  stopAccepting(): void {
    this.accepting = false;
    this.ctx.dispatcher.off('capacity', this.onCapacity);
  }

  /**
   * The namespace this link serves went away: take nothing more, and end the handshakes in flight
   * now (ETIMEDOUT, with `why` in their log line). close() then sends their DONEs and closes the link.
   */
  withdraw(why: string): void {
    this.stopAccepting();
    this.withdrawn.abort(new HandshakeAborted('cancelled', why));
  }

  async close(): Promise<void> {
    this.stopAccepting();
    while (this.draining) await new Promise((r) => setImmediate(r));
    while (this.outstanding.size > 0) await Promise.all([...this.outstanding]);
    this.link.close();
  }

  /** Start a drain, or ask the running one to go round again (a READY arrived meanwhile). */
  private kick(): void {
    if (!this.accepting) return;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.drain(false).catch((e: unknown) => this.ctx.logger.error('ACCEPT loop failed', { error: errMsg(e) }));
  }

  private async drain(startup: boolean): Promise<void> {
    this.draining = true;
    try {
      do {
        this.drainAgain = false;
        while (this.accepting && this.ctx.dispatcher.hasCapacity()) {
          let reply: AcceptReply | null;
          try {
            reply = await this.link.accept();
          } catch (e) {
            if (!(e instanceof NetlinkError)) throw e;
            this.ctx.metrics?.netlinkError('accept', e.code, this.netns);
            if (e.errno === Errno.EPERM && startup) throw new StartupError(NO_PRIVILEGE_HINT);
            if (e.errno === Errno.EPERM) this.ctx.logger.error(NO_PRIVILEGE_HINT);
            else this.ctx.logger.warn('ACCEPT failed; waiting for the next READY', { code: e.code, error: e.extack ?? e.message });
            return;
          }
          if (!reply) break;
          this.handle(reply);
        }
      } while (this.drainAgain && this.accepting);
    } finally {
      this.draining = false;
    }
  }

  private handle(reply: AcceptReply): void {
    const req = requestFromAccept(reply);
    this.ctx.logger.debug('accepted a handshake request', {
      fd: req.fd,
      role: req.role,
      auth: req.auth,
      peername: req.peername,
      timeout_ms: req.timeoutMs,
      peer_identities: req.peerIdentities,
      certificate: req.certificate ? `${req.certificate.cert}/${req.certificate.privkey}` : undefined,
      keyring: req.keyring,
    });
    const p: Promise<void> = this.ctx.dispatcher
      .submit(req, { transport: this.name, netns: this.netns, signal: this.withdrawn.signal })
      .then((result) => this.finish(req, result))
      .catch((e: unknown) => {
        this.ctx.logger.error('could not complete a handshake request', { fd: req.fd, error: errMsg(e) });
      })
      .finally(() => this.outstanding.delete(p));
    this.outstanding.add(p);
  }

  private async finish(req: HandshakeRequest, result: HandshakeResult): Promise<void> {
    try {
      const delay = this.ctx.config().debug.delayDoneMs;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      const args: DoneArgs = {
        sockfd: req.fd,
        status: result.status,
        remoteAuth: this.doneAttrs.has('remote-auth') && result.status === Status.OK ? result.remoteAuth : [],
      };
      try {
        await this.link.done(args);
      } catch (e) {
        if (!(e instanceof NetlinkError)) throw e;
        this.ctx.metrics?.netlinkError('done', e.code, this.netns);
        // EBUSY: the kernel no longer has a request for this socket (the consumer gave up).
        this.ctx.logger.warn('the kernel refused DONE', { fd: req.fd, code: e.code, error: e.extack ?? e.message });
      }
    } finally {
      try {
        closeFd(req.fd);
      } catch (e) {
        this.ctx.logger.warn('could not close an accepted socket fd', { fd: req.fd, error: errMsg(e) });
      }
    }
  }
}

export interface KernelTransportOptions {
  /** Tests on a fake kernel (no kTLS on the host) may run with --ktls off; a real kernel never. */
  allowKtlsOff?: boolean;
  /** The namespace the link is in, as logs and metrics name it (default `self`). */
  netns?: string;
}

export function kernelTransport(link: HandshakeFamilyLink, opts: KernelTransportOptions = {}) {
  return (ctx: TransportContext): AgentTransport => new KernelTransport(link, ctx, opts);
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
