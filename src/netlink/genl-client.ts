/**
 * A generic-netlink client over any NetlinkTransport: resolves families through nlctrl, joins
 * multicast groups by name, sends requests and matches replies, ACKs and errors by sequence
 * number, and hands everything unasked (notifications) to listeners. All bytes go through the
 * codec in ./message, so the same client runs against the kernel and the fake kernel.
 */
import type { AttrObject } from './codec';
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST } from './constants';
import { NetlinkFormatError, errnoName } from './errors';
import { CTRL_CMD_GETFAMILY, nlctrlFamily } from './families/nlctrl';
import { NetlinkError } from './link';
import { type DecodedMessage, type GenlMessage, decodeMessages, encodeMessage } from './message';
import type { FamilySpec } from './spec';
import type { NetlinkTransport } from './transport';

export interface ResolvedFamily {
  id: number;
  name: string;
  version: number;
  /** Multicast group name → global group id. */
  mcastGroups: Map<string, number>;
}

export interface RequestOptions {
  /** A dump (NLM_F_DUMP): replies until NLMSG_DONE. */
  dump?: boolean;
  /** Milliseconds before giving up with ETIMEDOUT (default 10000). */
  timeoutMs?: number;
  /** Extra nlmsg_flags. */
  flags?: number;
}

interface Pending {
  replies: GenlMessage[];
  dump: boolean;
  resolve: (msgs: GenlMessage[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

/** Build a NetlinkError from an errno, with the kernel's extack text when there is one. */
export function netlinkError(errno: number, what: string, extack?: string): NetlinkError {
  const code = errnoName(errno);
  return new NetlinkError(Math.abs(errno), code, `${what}: kernel replied ${code}${extack ? ` (${extack})` : ''}`, extack);
}

export class GenlClient {
  private seq = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly families = new Map<number, FamilySpec>();
  private readonly notificationListeners: Array<(m: GenlMessage) => void> = [];
  private readonly errorListeners: Array<(e: Error & { code?: string }) => void> = [];
  private closed = false;
  private onLenient?: (violation: NetlinkFormatError) => void;
  private strictFamilies?: readonly string[];

  constructor(readonly transport: NetlinkTransport) {
    transport.onDatagram((d) => this.receive(d));
    transport.onError((e) => this.errorListeners.forEach((l) => l(e)));
  }

  /** Messages nobody asked for (multicast notifications), decoded when their family is known. */
  onNotification(listener: (m: GenlMessage) => void): void {
    this.notificationListeners.push(listener);
  }

  /**
   * Tell `listener` of every attribute of `families` that the kernel's strict policy would refuse;
   * the message is still read leniently (what a kernel sends is not ours to refuse).
   */
  reportLenient(families: readonly string[], listener: (violation: NetlinkFormatError) => void): void {
    this.strictFamilies = families;
    this.onLenient = listener;
  }

  /** Socket errors (ENOBUFS: notifications were lost) and datagrams that did not decode. */
  onError(listener: (e: Error & { code?: string }) => void): void {
    this.errorListeners.push(listener);
  }

  /** CTRL_CMD_GETFAMILY by name. ENOENT (as NetlinkError) when the kernel has no such family. */
  async resolveFamily(name: string, spec?: FamilySpec): Promise<ResolvedFamily> {
    const [reply] = await this.request(nlctrlFamily.fixedId!, nlctrlFamily, CTRL_CMD_GETFAMILY, { 'family-name': name }).catch((e: unknown) => {
      if (e instanceof NetlinkError && e.code === 'ENOENT') {
        throw new NetlinkError(e.errno, 'ENOENT', `generic netlink family "${name}" not found: the kernel does not provide it`, e.extack);
      }
      throw e;
    });
    if (!reply) throw new NetlinkError(71, 'EPROTO', `GETFAMILY ${name}: the kernel sent no reply message`);
    const a = reply.attrs;
    const id = a['family-id'];
    if (typeof id !== 'number') throw new NetlinkError(71, 'EPROTO', `GETFAMILY ${name}: reply has no family-id`);
    const groups = new Map<string, number>();
    for (const g of Array.isArray(a['mcast-groups']) ? a['mcast-groups'] : []) {
      const o = g as AttrObject;
      if (typeof o.name === 'string' && typeof o.id === 'number') groups.set(o.name, o.id);
    }
    if (spec) this.families.set(id, spec);
    return { id, name, version: typeof a.version === 'number' ? a.version : 0, mcastGroups: groups };
  }

  /** Join a multicast group of a resolved family by name. */
  joinGroup(family: ResolvedFamily, group: string): void {
    const id = family.mcastGroups.get(group);
    if (id === undefined) {
      throw new NetlinkError(2, 'ENOENT', `family ${family.name} has no multicast group "${group}" (it has: ${[...family.mcastGroups.keys()].join(', ') || 'none'})`);
    }
    this.transport.addMembership(id);
  }

  /** Register a spec for a family id, so its replies and notifications decode by name. */
  addFamily(id: number, spec: FamilySpec): void {
    this.families.set(id, spec);
  }

  /**
   * Send a request (REQUEST|ACK, plus DUMP for dumps) and wait for its end: the ACK (do) or
   * NLMSG_DONE (dump). Resolves with the reply messages; rejects with NetlinkError on an error reply.
   */
  request(familyId: number, spec: FamilySpec, cmd: number | string, attrs: AttrObject, opts: RequestOptions = {}): Promise<GenlMessage[]> {
    if (this.closed) return Promise.reject(new NetlinkError(9, 'EBADF', 'netlink socket is closed'));
    const seq = this.nextSeq();
    const flags = NLM_F_REQUEST | NLM_F_ACK | (opts.dump ? NLM_F_DUMP : 0) | (opts.flags ?? 0);
    const bytes = encodeMessage({ type: familyId, flags, seq, pid: this.transport.port, cmd, attrs }, spec);
    const what = `${spec.name} ${typeof cmd === 'string' ? cmd : (spec.opsByValue.get(cmd)?.name ?? cmd)}`;
    return new Promise<GenlMessage[]>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? 10000;
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new NetlinkError(110, 'ETIMEDOUT', `${what}: no answer from the kernel within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, { replies: [], dump: opts.dump === true, resolve, reject, timer, what });
      try {
        this.transport.send(bytes);
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(seq);
        const err = e as Error & { errno?: number; code?: string };
        reject(new NetlinkError(Math.abs(err.errno ?? 5), err.code ?? 'EIO', `${what}: send failed: ${err.message}`));
      }
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new NetlinkError(9, 'EBADF', `${p.what}: netlink socket closed before the answer`));
      this.pending.delete(seq);
    }
    this.transport.close();
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1; // 0 is what notifications carry
    return this.seq;
  }

  private receive(datagram: Buffer): void {
    let msgs: DecodedMessage[];
    try {
      msgs = decodeMessages(datagram, {
        families: this.families,
        unknownCommands: 'keep',
        ...(this.onLenient ? { strict: this.onLenient, strictFamilies: this.strictFamilies } : {}),
      });
    } catch (e) {
      this.errorListeners.forEach((l) => l(e as Error));
      return;
    }
    for (const m of msgs) this.dispatch(m);
  }

  private dispatch(m: DecodedMessage): void {
    const p = m.header.seq !== 0 ? this.pending.get(m.header.seq) : undefined;
    if (!p) {
      // Notifications; stray ACKs of requests we gave up on are dropped.
      if (m.kind === 'genl') this.notificationListeners.forEach((l) => l(m));
      return;
    }
    const finish = (err?: Error) => {
      clearTimeout(p.timer);
      this.pending.delete(m.header.seq);
      if (err) p.reject(err);
      else p.resolve(p.replies);
    };
    switch (m.kind) {
      case 'genl':
        p.replies.push(m);
        return;
      case 'error':
        if (m.error !== 0) finish(netlinkError(m.error, p.what, m.extack.msg));
        else finish();
        return;
      case 'done':
        if (m.error < 0) finish(netlinkError(m.error, p.what, m.extack.msg));
        else finish();
        return;
      default:
        return;
    }
  }
}
