/**
 * A fake Linux kernel for tests: the `handshake` generic-netlink family
 * (docs/kernel-interface.md) plus the nlctrl subset that finds it, speaking encoded netlink bytes through ./message so the
 * codec is exercised on every exchange. In the spirit of Go's nltest/genltest. Test support:
 * the netlink layer's exports (./index) leave it out, and tests import this module by path.
 *
 * ```ts
 * const kernel = new FakeKernel();
 * const link = new FakeHandshakeLink(kernel);      // the agent's side: a HandshakeFamilyLink
 * await link.open();                               // GETFAMILY + join "tlshd"
 * link.onReady(async () => {
 *   const req = await link.accept();               // fd = dup of the consumer's socket
 *   ...handshake on req.sockfd...
 *   await link.done({ sockfd: req.sockfd, status: 0, remoteAuth: [] });
 * });
 * const result = await kernel.submit({ sock: fd, messageType: 'clienthello', authMode: 'unauth' });
 * // → { status: 0, remoteAuth: [] }
 * ```
 *
 * Behaviour kept from the kernel: ESRCH when no socket has joined group tlshd; EBUSY for a
 * second submit on a socket; EAGAIN past the pending limit; READY multicast on submit; ACCEPT →
 * EAGAIN when nothing is pending, else an fd and the parameters; DONE without sockfd → EINVAL,
 * fd not open → EBADF, not a socket → ENOTSOCK, socket without a request → EBUSY, duplicate or
 * late DONE → 0 and ignored; strict policies (unknown attribute → EINVAL with extack message and
 * offset; out-of-range value → ERANGE); EPERM for sockets opened without privilege.
 */
import { AttributeDecoder } from './attributes';
import type { AttrObject } from './codec';
import { GENL_HDRLEN, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST } from './constants';
import { Errno as E, errnoName } from '../sys/errno';
import { NetlinkFormatError } from './errors';
import { closeFd, dupFd, fdKind } from './fd';
import { handshakeFamily } from './families/handshake';
import { nlctrlFamily } from './families/nlctrl';
import { GenlHandshakeLink, type HandshakeLinkOptions } from './handshake-link';
import { acceptReplyAttrs, type AcceptParams } from './handshake-messages';
import { type AuthModeName, type MessageType, NetlinkError } from './link';
import { type Extack, type GenlMessage, decodeMessages, encodeDone, encodeError, encodeMessage } from './message';
import type { FamilySpec } from './spec';
import type { NetlinkTransport } from './transport';

/** What a kernel consumer (NFS, NVMe, ...) passes to tls_client_hello_* / tls_server_hello_*. */
export interface SubmitRequest {
  /** The consumer's connected socket (an fd of this process). The fake kernel holds a dup until completion. */
  sock: number;
  messageType: MessageType;
  authMode: AuthModeName;
  peername?: string;
  /** ta_timeout_ms: sent to the agent as the timeout attribute when non-zero. */
  timeoutMs?: number;
  /** PSK key serials (1–5 for a client; the NVMe target passes [0]). */
  peerIdentities?: number[];
  certificate?: { cert: number; privkey: number };
  keyring?: number;
  /** The consumer stops waiting after this many ms and cancels: the result is ETIMEDOUT, `cancelled`. */
  cancelAfterMs?: number;
}

export interface SubmitResult {
  /** 0 or a positive errno, as the agent reported it (ETIMEDOUT when cancelled). */
  status: number;
  /** remote-auth serials from DONE (the kernel keeps up to 5). */
  remoteAuth: number[];
  /** True when the consumer timed out / cancelled before a DONE. */
  cancelled: boolean;
}

type RequestState = 'pending' | 'accepted' | 'completed' | 'cancelled';

interface Request {
  id: number;
  key: string;
  heldFd: number;
  params: AcceptParams;
  state: RequestState;
  resolve: (r: SubmitResult) => void;
  timer?: NodeJS.Timeout;
}

/** A snapshot of one request, for assertions. */
export interface RequestInfo {
  id: number;
  state: RequestState;
  params: AcceptParams;
}

export interface FakeKernelOptions {
  /** Family id the fake assigns to `handshake` (dynamic in a real kernel). Default 0x1d. */
  familyId?: number;
  /** Global multicast group ids of `none` and `tlshd`. Default [0x0b, 0x0c]. */
  groupIds?: [number, number];
  /** hn_pending_max; default 10 (a 4 GiB machine). */
  pendingMax?: number;
  /** DONE requires CAP_NET_ADMIN (2026 kernels and stable backports). Default true. */
  doneRequiresAdmin?: boolean;
  /** Answer nlctrl GETPOLICY (Linux 5.10+). False: EOPNOTSUPP, like an old kernel. Default true. */
  policyDump?: boolean;
  /** The family is absent (a kernel without CONFIG_NET_HANDSHAKE): GETFAMILY → ENOENT. */
  noHandshakeFamily?: boolean;
  /**
   * Raw attribute bytes appended to every ACCEPT reply: plays a kernel whose replies a strict
   * policy reading would refuse (a repeated attribute, a flag out of place).
   */
  acceptReplyExtra?: Buffer;
}

interface PolicyEntry {
  type: 'u32' | 's32';
  max?: number;
}

// Per-op policies of net/handshake/genl.c; anything else in a request is refused (strict ops).
const POLICIES: Record<string, Map<number, PolicyEntry>> = {
  accept: new Map([[2, { type: 'u32', max: 2 }]]),
  done: new Map<number, PolicyEntry>([
    [1, { type: 'u32', max: 4095 }],
    [2, { type: 's32' }],
    [3, { type: 'u32' }],
  ]),
};

class KernelReply extends Error {
  constructor(
    readonly errno: number,
    readonly extack: Extack = {},
  ) {
    super(extack.msg ?? errnoName(errno));
  }
}

/** One netlink socket of a "process" talking to the fake kernel. Implements NetlinkTransport. */
export class FakeNetlinkSocket implements NetlinkTransport {
  private readonly datagramListeners: Array<(d: Buffer) => void> = [];
  private readonly errorListeners: Array<(e: Error & { code?: string }) => void> = [];
  readonly groups = new Set<number>();
  closed = false;

  constructor(
    private readonly kernel: FakeKernel,
    readonly port: number,
    /** CAP_NET_ADMIN in the initial user namespace. */
    readonly privileged: boolean,
  ) {}

  send(datagram: Buffer): void {
    if (this.closed) throw Object.assign(new Error('send on a closed netlink socket'), { errno: E.EBADF, code: 'EBADF' });
    this.kernel.receive(this, Buffer.from(datagram));
  }
  onDatagram(listener: (d: Buffer) => void): void {
    this.datagramListeners.push(listener);
  }
  onError(listener: (e: Error & { code?: string }) => void): void {
    this.errorListeners.push(listener);
  }
  addMembership(groupId: number): void {
    if (!this.kernel.groupExists(groupId)) throw Object.assign(new Error(`no multicast group ${groupId}`), { errno: E.EINVAL, code: 'EINVAL' });
    this.groups.add(groupId);
  }
  close(): void {
    this.closed = true;
    this.groups.clear();
  }
  /** Kernel → socket, asynchronously like a real receive queue. */
  deliver(datagram: Buffer): void {
    setImmediate(() => {
      if (!this.closed) this.datagramListeners.forEach((l) => l(datagram));
    });
  }
  /** Simulate a receive-queue overflow (notifications lost): the socket reports ENOBUFS. */
  overflow(): void {
    setImmediate(() => this.errorListeners.forEach((l) => l(Object.assign(new Error('ENOBUFS: netlink receive queue overflowed'), { code: 'ENOBUFS' }))));
  }
}

export class FakeKernel {
  readonly familyId: number;
  readonly groupIds: [number, number];
  readonly pendingMax: number;
  private readonly opts: FakeKernelOptions;
  private readonly sockets = new Set<FakeNetlinkSocket>();
  private readonly requests = new Map<string, Request>();
  private readonly queue: Request[] = [];
  private nextPort = 1000;
  private nextId = 1;
  private readonly families: Map<number, FamilySpec>;
  /** Every datagram the kernel received, for assertions on what an agent sent. */
  readonly received: Buffer[] = [];

  constructor(opts: FakeKernelOptions = {}) {
    this.opts = opts;
    this.familyId = opts.familyId ?? 0x1d;
    this.groupIds = opts.groupIds ?? [0x0b, 0x0c];
    this.pendingMax = opts.pendingMax ?? 10;
    this.families = new Map([[this.familyId, handshakeFamily]]);
  }

  /** Open a netlink socket, as a privileged (CAP_NET_ADMIN) process or not. */
  socket(opts: { privileged?: boolean } = {}): FakeNetlinkSocket {
    const s = new FakeNetlinkSocket(this, this.nextPort++, opts.privileged ?? true);
    this.sockets.add(s);
    return s;
  }

  groupExists(id: number): boolean {
    return !this.opts.noHandshakeFamily && this.groupIds.includes(id);
  }

  /** Number of submitted requests not yet accepted. */
  get pendingCount(): number {
    return this.queue.length;
  }

  /** Snapshot of the request on a socket (by any fd of it), or undefined. */
  requestFor(sock: number): RequestInfo | undefined {
    const k = fdKind(sock);
    if (!k.open) return undefined;
    const r = this.requests.get(`${k.dev}:${k.ino}`);
    return r && { id: r.id, state: r.state, params: r.params };
  }

  /**
   * A kernel consumer asks for a handshake on `sock` (handshake_req_submit). Rejects at once with
   * NetlinkError EINVAL (not a socket, bad arguments), EAGAIN (pending limit), EBUSY (a request
   * already outstanding on this socket) or ESRCH (no agent has joined group tlshd). Otherwise
   * READY is multicast and the promise settles when the agent sends DONE or the consumer cancels.
   */
  submit(req: SubmitRequest): Promise<SubmitResult> {
    const reject = (errno: number, why: string) => Promise.reject(new NetlinkError(errno, errnoName(errno), `submit: ${why}`));
    const k = fdKind(req.sock);
    if (!k.open || !k.socket) return reject(E.EINVAL, `fd ${req.sock} is not an open socket`);
    const ids = req.peerIdentities ?? [];
    if (ids.length > 5) return reject(E.EINVAL, `at most 5 peer identities, got ${ids.length}`);
    if (req.authMode === 'psk' && req.messageType === 'clienthello' && ids.length === 0) return reject(E.EINVAL, 'a PSK client needs 1–5 peer identities');
    if (this.queue.length >= this.pendingMax) return reject(E.EAGAIN, `${this.queue.length} requests pending (limit ${this.pendingMax})`);
    const key = `${k.dev}:${k.ino}`;
    const prev = this.requests.get(key);
    if (prev && (prev.state === 'pending' || prev.state === 'accepted')) return reject(E.EBUSY, `socket already has handshake request ${prev.id} outstanding`);
    const members = [...this.sockets].filter((s) => !s.closed && s.groups.has(this.groupIds[1]));
    if (members.length === 0) return reject(E.ESRCH, 'no handshake agent has joined multicast group tlshd');

    const params: AcceptParams = { messageType: req.messageType, authMode: req.authMode };
    if (req.peername !== undefined) params.peername = req.peername;
    if (req.timeoutMs) params.timeout = req.timeoutMs;
    if (req.keyring) params.keyring = req.keyring;
    if (req.authMode === 'psk') params.peerIdentity = req.messageType === 'serverhello' ? [ids[0] ?? 0] : [...ids];
    if (req.authMode === 'x509' && req.certificate && (req.certificate.cert || req.certificate.privkey)) params.certificate = [{ ...req.certificate }];

    return new Promise<SubmitResult>((resolve) => {
      const r: Request = { id: this.nextId++, key, heldFd: dupFd(req.sock), params, state: 'pending', resolve };
      this.requests.set(key, r);
      this.queue.push(r);
      if (req.cancelAfterMs !== undefined) r.timer = setTimeout(() => this.cancelRequest(r), req.cancelAfterMs);
      const ready = encodeMessage({ type: this.familyId, flags: 0, seq: 0, pid: 0, cmd: 'ready', attrs: { 'handler-class': 'tlshd' } }, handshakeFamily);
      for (const s of members) s.deliver(ready);
    });
  }

  /** tls_handshake_cancel: true when the request was still pending or accepted (the consumer sees ETIMEDOUT). */
  cancel(sock: number): boolean {
    const k = fdKind(sock);
    if (!k.open) return false;
    const r = this.requests.get(`${k.dev}:${k.ino}`);
    return r ? this.cancelRequest(r) : false;
  }

  /** Cancel everything outstanding, release the kernel's socket references, close all netlink sockets. */
  close(): void {
    for (const r of this.requests.values()) this.cancelRequest(r);
    for (const s of this.sockets) s.close();
    this.sockets.clear();
  }

  private cancelRequest(r: Request): boolean {
    if (r.state !== 'pending' && r.state !== 'accepted') return false;
    this.unqueue(r);
    r.state = 'cancelled';
    this.release(r);
    r.resolve({ status: E.ETIMEDOUT, remoteAuth: [], cancelled: true });
    return true;
  }

  private release(r: Request): void {
    if (r.timer) clearTimeout(r.timer);
    if (r.heldFd >= 0) closeFd(r.heldFd);
    r.heldFd = -1;
  }

  private unqueue(r: Request): void {
    const i = this.queue.indexOf(r);
    if (i >= 0) this.queue.splice(i, 1);
  }

  // --- the netlink side ------------------------------------------------------------------

  /** @internal A datagram from a socket: every message in it is processed in order. */
  receive(sock: FakeNetlinkSocket, datagram: Buffer): void {
    this.received.push(datagram);
    let pos = 0;
    while (pos + NLMSG_HDRLEN <= datagram.length) {
      const len = datagram.readUInt32LE(pos);
      if (len < NLMSG_HDRLEN || pos + len > datagram.length) break; // the kernel drops a bad tail silently
      this.handle(sock, datagram.subarray(pos, pos + len));
      pos += (len + 3) & ~3;
    }
  }

  private handle(sock: FakeNetlinkSocket, msg: Buffer): void {
    const flags = msg.readUInt16LE(6);
    if (!(flags & NLM_F_REQUEST)) return; // the kernel ignores non-requests
    const replies: Buffer[] = [];
    let errno = 0;
    let extack: Extack | undefined;
    try {
      replies.push(...this.dispatch(sock, msg));
    } catch (e) {
      if (e instanceof KernelReply) {
        errno = e.errno;
        extack = e.extack;
      } else if (e instanceof NetlinkFormatError) {
        errno = E.EINVAL;
        extack = { msg: e.problem, offset: e.offset };
      } else throw e;
    }
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP && errno === 0;
    if (dump) {
      replies.push(encodeDone({ seq: msg.readUInt32LE(8), pid: sock.port }));
      sock.deliver(Buffer.concat(replies));
      return;
    }
    for (const r of replies) sock.deliver(r);
    if (errno !== 0 || flags & NLM_F_ACK) {
      sock.deliver(encodeError({ error: -errno, request: msg, pid: sock.port, extack: errno ? extack : undefined }));
    }
  }

  private dispatch(sock: FakeNetlinkSocket, msg: Buffer): Buffer[] {
    const type = msg.readUInt16LE(4);
    if (type === nlctrlFamily.fixedId) return this.nlctrl(sock, msg);
    if (type !== this.familyId || this.opts.noHandshakeFamily) throw new KernelReply(E.EOPNOTSUPP, { msg: `no generic netlink family with id ${type}` });
    if (msg.length < NLMSG_HDRLEN + GENL_HDRLEN) throw new KernelReply(E.EINVAL, { msg: 'message too short for a genl header', offset: NLMSG_HDRLEN });
    if (msg.readUInt16LE(NLMSG_HDRLEN + 2) !== 0) throw new KernelReply(E.EINVAL, { msg: 'genlmsghdr.reserved must be 0', offset: NLMSG_HDRLEN + 2 });
    const cmd = msg.readUInt8(NLMSG_HDRLEN);
    const op = handshakeFamily.opsByValue.get(cmd);
    if (!op || op.kind !== 'do') throw new KernelReply(E.EOPNOTSUPP, { msg: `handshake family has no command ${cmd}` });
    this.validate(msg, POLICIES[op.name]);
    // Past the policy, the codec decodes the request just as the agent encoded it.
    const [m] = decodeMessages(msg, { families: this.families, unknown: 'reject' }) as GenlMessage[];
    if (op.name === 'accept') return this.accept(sock, msg, m.attrs);
    this.done(sock, m.attrs);
    return [];
  }

  /** Strict policy validation (nla_parse with NL_VALIDATE_STRICT): unknown types, lengths, ranges. */
  private validate(msg: Buffer, policy: Map<number, PolicyEntry>): void {
    const base = NLMSG_HDRLEN + GENL_HDRLEN;
    const d = new AttributeDecoder(msg.subarray(base), base, 'attributes');
    while (d.next()) {
      const p = policy.get(d.type);
      if (!p) throw new KernelReply(E.EINVAL, { msg: `Unknown attribute type ${d.type}`, offset: d.offset });
      if (d.data.length !== 4) throw new KernelReply(E.EINVAL, { msg: `invalid attribute length ${d.data.length} for type ${d.type}`, offset: d.offset });
      const v = p.type === 's32' ? d.data.readInt32LE(0) : d.data.readUInt32LE(0);
      if (p.max !== undefined && v > p.max) throw new KernelReply(E.ERANGE, { msg: `integer out of range (max ${p.max})`, offset: d.offset });
    }
    if (d.err) throw new KernelReply(E.EINVAL, { msg: d.err.problem, offset: d.err.offset });
  }

  private accept(sock: FakeNetlinkSocket, msg: Buffer, attrs: AttrObject): Buffer[] {
    if (!sock.privileged) throw new KernelReply(E.EPERM, { msg: 'ACCEPT needs CAP_NET_ADMIN' });
    const cls = attrs['handler-class'];
    if (cls === undefined) throw new KernelReply(E.EINVAL, { msg: 'missing attribute: handler-class', missType: 2 });
    if (cls !== 'tlshd') throw new KernelReply(E.EAGAIN);
    const r = this.queue.shift();
    if (!r) throw new KernelReply(E.EAGAIN);
    // fd_install into "the caller's" fd table: the fake runs in the agent's process, so a dup.
    const fd = dupFd(r.heldFd);
    r.state = 'accepted';
    const reply = encodeMessage(
      { type: this.familyId, flags: 0, seq: msg.readUInt32LE(8), pid: msg.readUInt32LE(12), cmd: 'accept', attrs: acceptReplyAttrs(fd, r.params) },
      handshakeFamily,
    );
    const extra = this.opts.acceptReplyExtra;
    if (!extra) return [reply];
    const mangled = Buffer.concat([reply, extra]);
    mangled.writeUInt32LE(mangled.length, 0);
    return [mangled];
  }

  private done(sock: FakeNetlinkSocket, attrs: AttrObject): void {
    if (this.opts.doneRequiresAdmin !== false && !sock.privileged) throw new KernelReply(E.EPERM, { msg: 'DONE needs CAP_NET_ADMIN' });
    const fd = attrs.sockfd;
    if (typeof fd !== 'number') throw new KernelReply(E.EINVAL, { msg: 'missing attribute: sockfd', missType: 2 });
    const k = fdKind(fd);
    if (!k.open) throw new KernelReply(E.EBADF, { msg: `fd ${fd} is not open` });
    if (!k.socket) throw new KernelReply(E.ENOTSOCK, { msg: `fd ${fd} is not a socket` });
    const r = this.requests.get(`${k.dev}:${k.ino}`);
    if (!r) throw new KernelReply(E.EBUSY, { msg: `no handshake request on fd ${fd}` });
    if (r.state !== 'accepted' && r.state !== 'pending') return; // duplicate or late DONE: 0, ignored
    this.unqueue(r);
    r.state = 'completed';
    this.release(r);
    const status = typeof attrs.status === 'number' ? attrs.status : E.EIO; // absent status is a failure
    const ra = Array.isArray(attrs['remote-auth']) ? (attrs['remote-auth'] as number[]).slice(0, 5) : [];
    r.resolve({ status, remoteAuth: ra, cancelled: false });
  }

  private nlctrl(sock: FakeNetlinkSocket, msg: Buffer): Buffer[] {
    const [m] = decodeMessages(msg, { unknownCommands: 'keep' }) as GenlMessage[];
    const seq = m.header.seq;
    const pid = m.header.pid;
    const dump = (m.header.flags & NLM_F_DUMP) === NLM_F_DUMP;
    const a = m.attrs;
    const known = this.knownFamilies();
    const wanted = (): { id: number; spec: FamilySpec } | undefined =>
      known.find((f) => (typeof a['family-name'] === 'string' ? f.spec.name === a['family-name'] : f.id === a['family-id']));
    if (m.cmdName === 'getfamily') {
      if (dump) return known.map((f) => this.familyReply(f.id, f.spec, seq, pid));
      const f = wanted();
      if (!f) throw new KernelReply(E.ENOENT, { msg: 'Unknown family' });
      return [this.familyReply(f.id, f.spec, seq, pid)];
    }
    if (m.cmdName === 'getpolicy') {
      if (this.opts.policyDump === false) throw new KernelReply(E.EOPNOTSUPP);
      const f = wanted();
      if (!f || f.spec !== handshakeFamily) throw new KernelReply(E.ENOENT, { msg: 'Unknown family' });
      return this.policyReplies(f.id, typeof a.op === 'number' ? a.op : undefined, seq, pid);
    }
    throw new KernelReply(E.EOPNOTSUPP, { msg: `nlctrl command ${m.cmd} is not supported here` });
  }

  private knownFamilies(): Array<{ id: number; spec: FamilySpec }> {
    const out = [{ id: nlctrlFamily.fixedId!, spec: nlctrlFamily }];
    if (!this.opts.noHandshakeFamily) out.push({ id: this.familyId, spec: handshakeFamily });
    return out;
  }

  private familyReply(id: number, spec: FamilySpec, seq: number, pid: number): Buffer {
    const groups = spec === handshakeFamily ? spec.mcastGroups.map((name, i) => ({ name, id: this.groupIds[i] })) : [{ name: 'notify', id: 0x10 }];
    const maxattr = Math.max(0, ...[...spec.attrSets.values()].flatMap((s) => s.attrs.map((x) => x.value)));
    return encodeMessage(
      {
        type: nlctrlFamily.fixedId!,
        flags: 0,
        seq,
        pid,
        cmd: 'newfamily',
        attrs: {
          'family-name': spec.name,
          'family-id': id,
          version: spec.version,
          hdrsize: 0,
          maxattr,
          ops: spec.ops.filter((o) => o.kind === 'do' || o.kind === 'dump').map((o) => ({ id: o.value, flags: 0 })),
          'mcast-groups': groups,
        },
      },
      nlctrlFamily,
    );
  }

  /** One op-policy message, then one message per policy attribute, as ctrl_dumppolicy does. */
  private policyReplies(id: number, op: number | undefined, seq: number, pid: number): Buffer[] {
    const ops = handshakeFamily.ops.filter((o) => o.kind === 'do' && (op === undefined || o.value === op));
    if (op !== undefined && ops.length === 0) throw new KernelReply(E.ENOENT, { msg: `no op ${op}` });
    const out: Buffer[] = [];
    const enc = (attrs: AttrObject) => encodeMessage({ type: nlctrlFamily.fixedId!, flags: 2, seq, pid, cmd: 'getpolicy', attrs: { 'family-id': id, ...attrs } }, nlctrlFamily);
    ops.forEach((o, idx) => out.push(enc({ 'op-policy': { [String(o.value)]: { do: idx } } })));
    ops.forEach((o, idx) => {
      for (const [attrId, p] of POLICIES[o.name]) {
        const desc: AttrObject = { type: p.type };
        if (p.max !== undefined) Object.assign(desc, p.type === 'u32' ? { 'min-value-u': 0, 'max-value-u': p.max } : { 'min-value-s': -0x80000000, 'max-value-s': p.max });
        out.push(enc({ policy: { [String(idx)]: { [String(attrId)]: desc } } }));
      }
    });
    return out;
  }
}

/** The agent's HandshakeFamilyLink against a FakeKernel: all bytes go through the codec. */
export class FakeHandshakeLink extends GenlHandshakeLink {
  /** The netlink socket, once open (e.g. to call overflow()). */
  socket: FakeNetlinkSocket | undefined;

  constructor(
    private readonly kernel: FakeKernel,
    private readonly linkOpts: HandshakeLinkOptions & { privileged?: boolean } = {},
  ) {
    super(linkOpts);
  }

  protected openTransport(): NetlinkTransport {
    this.socket = this.kernel.socket({ privileged: this.linkOpts.privileged ?? true });
    return this.socket;
  }
}
