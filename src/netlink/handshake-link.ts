/**
 * HandshakeFamilyLink over a GenlClient: the part shared by the real kernel link and the fake
 * one. Subclasses only say how to open the transport.
 */
import { Errno } from '../sys/errno';
import type { AttrObject } from './codec';
import { handshakeFamily, HANDSHAKE_FAMILY_NAME, HANDSHAKE_MCGRP_TLSHD } from './families/handshake';
import { CTRL_CMD_GETPOLICY, nlctrlFamily } from './families/nlctrl';
import { GenlClient, type ResolvedFamily } from './genl-client';
import { doneAttrs, toAcceptReply } from './handshake-messages';
import { type AcceptReply, type DoneArgs, type HandshakeFamilyLink, NetlinkError } from './link';
import type { NetlinkTransport } from './transport';

/** The DONE attributes of mainline kernels (docs/kernel-interface.md): what we assume when GETPOLICY cannot tell. */
export const MAINLINE_DONE_ATTRIBUTES: ReadonlySet<string> = new Set(['status', 'sockfd', 'remote-auth']);

export interface HandshakeLinkOptions {
  /** Milliseconds to wait for any one kernel answer (default 10000). */
  requestTimeoutMs?: number;
}

export abstract class GenlHandshakeLink implements HandshakeFamilyLink {
  private client: GenlClient | undefined;
  private family: ResolvedFamily | undefined;
  private readonly readyListeners: Array<() => void> = [];
  private policyCache: Promise<Set<string>> | undefined;
  /** How doneAttributes() got its answer: 'policy' (GETPOLICY dump) or 'fallback' (mainline set). */
  doneAttributesSource: 'policy' | 'fallback' | undefined;

  protected constructor(private readonly opts: HandshakeLinkOptions = {}) {}

  /** Open the underlying netlink socket. */
  protected abstract openTransport(): NetlinkTransport;

  async open(): Promise<void> {
    if (this.client) return;
    const client = new GenlClient(this.openTransport());
    this.client = client;
    const onLenient = this.lenientListener;
    if (onLenient) client.reportLenient([HANDSHAKE_FAMILY_NAME], (v) => onLenient(v.message));
    try {
      this.family = await client.resolveFamily(HANDSHAKE_FAMILY_NAME, handshakeFamily);
      client.joinGroup(this.family, HANDSHAKE_MCGRP_TLSHD);
    } catch (e) {
      this.client = undefined;
      client.close();
      if (e instanceof NetlinkError && e.code === 'ENOENT' && !this.family) {
        throw new NetlinkError(e.errno, 'ENOENT', 'the kernel lacks the handshake netlink family (needs CONFIG_NET_HANDSHAKE, Linux 6.5 or later)', e.extack);
      }
      throw e;
    }
    client.onNotification((m) => {
      if (m.family === handshakeFamily && m.cmdName === 'ready' && (m.attrs['handler-class'] === 'tlshd' || m.attrs['handler-class'] === undefined)) {
        this.readyListeners.forEach((l) => l());
      }
    });
    client.onError((e) => {
      // Lost notifications: pretend a READY came, so the agent drains with ACCEPT.
      if (e.code === 'ENOBUFS') this.readyListeners.forEach((l) => l());
    });
  }

  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  private lenientListener?: (what: string) => void;

  onLenient(listener: (what: string) => void): void {
    this.lenientListener = listener;
  }

  async accept(): Promise<AcceptReply | null> {
    const { client, family } = this.ready();
    try {
      const replies = await client.request(family.id, handshakeFamily, 'accept', { 'handler-class': 'tlshd' }, { timeoutMs: this.opts.requestTimeoutMs });
      const reply = replies.find((r) => r.cmdName === 'accept');
      if (!reply) throw new NetlinkError(Errno.EPROTO, 'EPROTO', 'ACCEPT: the kernel acknowledged without a reply message');
      return toAcceptReply(reply.attrs, reply.offset);
    } catch (e) {
      if (e instanceof NetlinkError && e.code === 'EAGAIN') return null;
      throw e;
    }
  }

  async done(args: DoneArgs): Promise<void> {
    const { client, family } = this.ready();
    await client.request(family.id, handshakeFamily, 'done', doneAttrs(args), { timeoutMs: this.opts.requestTimeoutMs });
  }

  /**
   * The DONE attributes the kernel's policy accepts, from an nlctrl GETPOLICY dump for op DONE
   * (Linux 5.10+). When the kernel cannot answer that (EOPNOTSUPP/EINVAL/ENOENT on older kernels,
   * or a dump without DONE's policy) the mainline set {status, sockfd, remote-auth} is returned:
   * it is what every kernel with the family accepts. Cached after the first call.
   */
  doneAttributes(): Promise<Set<string>> {
    this.policyCache ??= this.queryDonePolicy();
    return this.policyCache;
  }

  private async queryDonePolicy(): Promise<Set<string>> {
    const { client, family } = this.ready();
    const doneOp = handshakeFamily.opsByName.get('done')!.value;
    let replies;
    try {
      replies = await client.request(nlctrlFamily.fixedId!, nlctrlFamily, CTRL_CMD_GETPOLICY, { 'family-id': family.id, op: doneOp }, { dump: true, timeoutMs: this.opts.requestTimeoutMs });
    } catch (e) {
      if (e instanceof NetlinkError && ['EOPNOTSUPP', 'EINVAL', 'ENOENT'].includes(e.code)) return this.fallback();
      throw e;
    }
    let policyIdx: number | undefined;
    const policies = new Map<number, Set<number>>();
    for (const r of replies) {
      const op = r.attrs['op-policy'] as AttrObject | undefined;
      const forDone = op?.[String(doneOp)] as AttrObject | undefined;
      if (forDone && typeof forDone.do === 'number') policyIdx = forDone.do;
      const pol = r.attrs.policy as AttrObject | undefined;
      for (const [idx, attrs] of Object.entries(pol ?? {})) {
        const set = policies.get(Number(idx)) ?? new Set<number>();
        for (const [attrId, desc] of Object.entries(attrs as AttrObject)) {
          if ((desc as AttrObject).type !== 'invalid') set.add(Number(attrId));
        }
        policies.set(Number(idx), set);
      }
    }
    const ids = policyIdx === undefined ? undefined : policies.get(policyIdx);
    if (!ids) return this.fallback();
    const names = new Set<string>();
    const doneSet = handshakeFamily.attrSets.get('done')!;
    for (const id of ids) names.add(doneSet.byValue.get(id)?.name ?? `unknown-${id}`);
    this.doneAttributesSource = 'policy';
    return names;
  }

  private fallback(): Set<string> {
    this.doneAttributesSource = 'fallback';
    return new Set(MAINLINE_DONE_ATTRIBUTES);
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }

  /** The resolved family (id and multicast group ids), after open(). */
  get resolvedFamily(): ResolvedFamily | undefined {
    return this.family;
  }

  private ready(): { client: GenlClient; family: ResolvedFamily } {
    if (!this.client || !this.family) throw new NetlinkError(Errno.EBADF, 'EBADF', 'handshake link is not open: call open() first');
    return { client: this.client, family: this.family };
  }
}
