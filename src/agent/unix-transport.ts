/**
 * The unix transport (docs/unix-transport.md): consumers connect to an AF_UNIX
 * SOCK_SEQPACKET socket and send READY packets that carry the whole handshake context and the
 * TCP socket itself (SCM_RIGHTS); the agent answers each with DONE, or with NLMSG_ERROR when
 * the packet is malformed.
 *
 * Every connection is independent: its packets are read as they arrive (readiness on the event
 * loop, a bounded batch per wake-up), each request goes to the shared dispatcher at once, and
 * replies are queued per connection in completion order. A consumer that stops reading only
 * fills its own reply queue; the others never wait for it.
 *
 * Who may connect is checked with SO_PEERCRED against [handshaked] allow_uids / allow_gids
 * (read when the connection is made). A refused peer gets EPERM for every packet it sends.
 * Key serials are honoured only for peers that could read the keys themselves: uid 0, or the
 * agent's own uid; any other peer's requests run with the configured identities.
 */
import fs from 'node:fs';
import path from 'node:path';
import { encodeUnixDone, encodeUnixError } from '../netlink/handshake-messages';
import { Errno } from '../sys/errno';
import { close as closeFd } from '../sys/libc';
import { SeqpacketServer, type SeqpacketConn, type SeqpacketMessage } from '../sys/unix';
import { HandshakeAborted } from './dispatcher';
import type { HandshakeResult } from './request';
import { type AgentTransport, StartupError, type TransportContext } from './transport';
import { type FdInspector, UnixRequestError, libcFdInspector, packetHeader, parseUnixRequest } from './unix-request';

export const DEFAULT_UNIX_SOCKET = '/run/handshaked/upcall.sock';

/** Largest request packet accepted (a READY with every attribute is under 200 bytes). */
const MAX_PACKET = 4096;
/** More fds than this in one packet arrive truncated (and are closed by the receiver). */
const MAX_FDS = 8;
/** Requests one connection may have in flight; beyond it new ones get EBUSY. */
export const MAX_INFLIGHT_PER_CONNECTION = 1024;

export interface UnixTransportOptions {
  /** Socket name; default: ctx.config().unixSocket, else DEFAULT_UNIX_SOCKET. '@name' is abstract. */
  path?: string;
  /** File mode of a filesystem socket (default 0o660). */
  mode?: number;
  /** fd checks (tests may pass fake fds). */
  inspect?: FdInspector;
}

interface InFlight {
  fd: number;
  controller: AbortController;
}

export class UnixTransport implements AgentTransport {
  readonly name = 'unix';
  private server?: SeqpacketServer;
  private accepting = false;
  private readonly conns = new Set<ConsumerConnection>();
  private readonly outstanding = new Set<Promise<void>>();

  constructor(
    private readonly ctx: TransportContext,
    private readonly opts: UnixTransportOptions = {},
  ) {}

  /** The socket name in use ('@name' for abstract). */
  get address(): string {
    return this.opts.path ?? this.ctx.config().unixSocket ?? DEFAULT_UNIX_SOCKET;
  }

  /** Connections currently open (tests and diagnostics). */
  get connectionCount(): number {
    return this.conns.size;
  }

  async start(): Promise<void> {
    const name = this.address;
    if (!name.startsWith('@')) {
      try {
        fs.mkdirSync(path.dirname(name), { recursive: true, mode: 0o755 });
      } catch (e) {
        throw new StartupError(`cannot create the directory of the unix socket ${name}: ${(e as Error).message}`);
      }
    }
    try {
      this.server = SeqpacketServer.listen(name, { mode: this.opts.mode ?? 0o660, replace: true, maxMessage: MAX_PACKET, maxFds: MAX_FDS });
    } catch (e) {
      throw new StartupError(`cannot listen on the unix socket ${name}: ${(e as Error).message}`);
    }
    this.server.on('connection', (c: SeqpacketConn) => this.onConnection(c));
    this.server.on('error', (e: Error) => this.ctx.logger.warn('unix transport: accept failed', { error: e.message }));
    this.accepting = true;
    this.ctx.logger.info('unix transport listening', { socket: name });
  }

  stopAccepting(): void {
    this.accepting = false;
    this.server?.close();
  }

  async close(): Promise<void> {
    this.stopAccepting();
    while (this.outstanding.size > 0) await Promise.all([...this.outstanding]);
    for (const c of [...this.conns]) c.close();
  }

  private onConnection(conn: SeqpacketConn): void {
    const cfg = this.ctx.config();
    const cred = conn.peerCred;
    const allowed = cfg.allowUids.includes(cred.uid) || cfg.allowGids.includes(cred.gid);
    const ownUid = typeof process.getuid === 'function' ? process.getuid() : 0;
    const keySerials = cred.uid === 0 || cred.uid === ownUid;
    if (!allowed) {
      this.ctx.logger.warn('unix transport: refused a consumer not in the allow list', { pid: cred.pid, uid: cred.uid, gid: cred.gid });
    } else {
      this.ctx.logger.debug('unix transport: consumer connected', { pid: cred.pid, uid: cred.uid, gid: cred.gid });
    }
    const c = new ConsumerConnection(conn, this, allowed, keySerials);
    this.conns.add(c);
    conn.on('close', () => {
      this.conns.delete(c);
      c.abortAll();
    });
  }

  /** @internal */
  get isAccepting(): boolean {
    return this.accepting;
  }

  /** @internal */
  get context(): TransportContext {
    return this.ctx;
  }

  /** @internal */
  get inspector(): FdInspector {
    return this.opts.inspect ?? libcFdInspector;
  }

  /** @internal */
  track(p: Promise<void>): void {
    this.outstanding.add(p);
    void p.finally(() => this.outstanding.delete(p));
  }
}

class ConsumerConnection {
  private readonly inflight = new Map<number, InFlight>();

  constructor(
    private readonly conn: SeqpacketConn,
    private readonly transport: UnixTransport,
    private readonly allowed: boolean,
    private readonly keySerials: boolean,
  ) {
    conn.on('message', (m: SeqpacketMessage) => this.onMessage(m));
  }

  close(): void {
    this.conn.close();
  }

  /** The consumer went away: stop its handshakes; their fds are closed when each one settles. */
  abortAll(): void {
    for (const f of this.inflight.values()) f.controller.abort(new HandshakeAborted('cancelled'));
  }

  private onMessage(m: SeqpacketMessage): void {
    const ctx = this.transport.context;
    const refuse = (errno: number, msg: string, offset?: number): void => {
      for (const fd of m.fds) closeQuietly(fd);
      const h = packetHeader(m.data);
      const reply = encodeUnixError(h ? m.data.subarray(0, 16) : { seq: 0 }, errno, { msg, ...(offset !== undefined ? { offset } : {}) });
      ctx.logger.debug('unix transport: refused a request', { seq: h?.seq, errno, reason: msg });
      this.send(reply);
    };
    if (m.truncated) {
      refuse(Errno.EMSGSIZE, `packet larger than ${MAX_PACKET} bytes or with more than ${MAX_FDS} file descriptors; a request carries one fd and fits in ${MAX_PACKET} bytes`);
      return;
    }
    if (!this.allowed) {
      const cred = this.conn.peerCred;
      refuse(Errno.EPERM, `uid ${cred.uid} / gid ${cred.gid} is not in the agent's allow list ([handshaked] allow_uids, allow_gids)`);
      return;
    }
    let parsed;
    try {
      parsed = parseUnixRequest(m.data, m.fds, this.keySerials, this.transport.inspector);
    } catch (e) {
      if (e instanceof UnixRequestError) refuse(e.errno, e.message, e.offset);
      else refuse(Errno.EINVAL, e instanceof Error ? e.message : String(e));
      return;
    }
    const { seq, request } = parsed;
    if (!this.transport.isAccepting) {
      refuse(Errno.EAGAIN, 'the agent is shutting down; retry with the next agent');
      return;
    }
    if (this.inflight.has(seq)) {
      refuse(Errno.EEXIST, `request id (nlmsg_seq) ${seq} is already in flight on this connection`);
      return;
    }
    if (this.inflight.size >= MAX_INFLIGHT_PER_CONNECTION) {
      refuse(Errno.EBUSY, `${MAX_INFLIGHT_PER_CONNECTION} requests already in flight on this connection`);
      return;
    }
    const controller = new AbortController();
    this.inflight.set(seq, { fd: request.fd, controller });
    ctx.logger.debug('unix transport: request', {
      seq,
      fd: request.fd,
      role: request.role,
      auth: request.auth,
      peername: request.peername,
      timeout_ms: request.timeoutMs,
      key_serials: request.keySerialsAllowed,
    });
    const p = ctx.dispatcher
      .submit(request, { signal: controller.signal, transport: 'unix' })
      .then((result) => this.finish(seq, request.fd, controller, result))
      .catch((e: unknown) => {
        ctx.logger.error('unix transport: could not complete a request', { seq, error: e instanceof Error ? e.message : String(e) });
      });
    this.transport.track(p);
  }

  private async finish(seq: number, fd: number, controller: AbortController, result: HandshakeResult): Promise<void> {
    try {
      if (controller.signal.aborted || this.conn.isClosed) return;
      const delay = this.transport.context.config().debug.delayDoneMs;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (this.conn.isClosed) return;
      // The socket is the consumer's again once DONE is queued: our copy is closed either way.
      await this.send(encodeUnixDone(seq, result.status, result.status === 0 ? result.remoteAuth : []));
    } finally {
      this.inflight.delete(seq);
      closeQuietly(fd);
    }
  }

  private send(data: Buffer): Promise<void> {
    return this.conn.send(data).catch((e: unknown) => {
      this.transport.context.logger.debug('unix transport: reply not delivered (consumer gone)', { error: e instanceof Error ? e.message : String(e) });
    });
  }
}

function closeQuietly(fd: number): void {
  try {
    closeFd(fd);
  } catch {
    // already closed: nothing to release
  }
}

/** The daemon's factory (runtime.ts imports this name). */
export function createUnixTransport(ctx: TransportContext): AgentTransport {
  return new UnixTransport(ctx);
}

export function unixTransport(opts: UnixTransportOptions = {}) {
  return (ctx: TransportContext): UnixTransport => new UnixTransport(ctx, opts);
}
