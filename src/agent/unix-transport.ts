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
 * (read when the connection is made). A refused peer gets EPERM for its first packet and the
 * connection is closed (also when it sends nothing for REFUSED_IDLE_MS): refused peers must not
 * hold the agent's fds.
 *
 * Bounds, so that no consumer can wedge the agent or starve the others (docs/security.md):
 * connections per uid and in total; requests in flight per connection; replies queued for a
 * consumer that does not read (at the bound it is disconnected, its handshakes aborted). A
 * handshake's TCP fd is closed as soon as its outcome is known, before the reply is queued, so
 * a slow reader pins no sockets. close() waits for owed replies at most CLOSE_MARGIN_MS, then
 * closes every connection, so shutdown ends in shutdown_grace_ms plus that margin.
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
import { LogLimiter, suppressedMeta } from './log-limit';
import type { HandshakeResult } from './request';
import { type AgentTransport, StartupError, type TransportContext } from './transport';
import { type FdInspector, UnixRequestError, libcFdInspector, packetHeader, parseUnixRequest } from './unix-request';
import { Cancellation } from './cancel';

export const DEFAULT_UNIX_SOCKET = '/run/handshaked/upcall.sock';

/** Largest request packet accepted (a READY with every attribute is under 200 bytes). */
const MAX_PACKET = 4096;
/** More fds than this in one packet arrive truncated (and are closed by the receiver). */
const MAX_FDS = 8;
/** Requests one connection may have in flight; beyond it new ones get EBUSY. */
export const MAX_INFLIGHT_PER_CONNECTION = 1024;
/**
 * Replies queued for a consumer beyond what its socket buffer took (it stopped reading). At the
 * bound the consumer is disconnected: it can no longer learn its results anyway, and the queue
 * would otherwise grow with every request it keeps sending.
 */
export const MAX_QUEUED_REPLIES = 256;
/** Open connections from one uid; beyond it new ones are told so (EUSERS) and closed. */
export const MAX_CONNECTIONS_PER_UID = 64;
/** Open connections in all. */
export const MAX_CONNECTIONS = 512;
/** A refused (not allowed) peer that sends no request is closed after this long. */
export const REFUSED_IDLE_MS = 1000;
/** How long close() waits for owed replies to be written before closing the connections. */
export const CLOSE_MARGIN_MS = 1000;

export interface UnixTransportOptions {
  /** Socket name; default: ctx.config().unixSocket, else DEFAULT_UNIX_SOCKET. '@name' is abstract. */
  path?: string;
  /** File mode of a filesystem socket (default 0o660). */
  mode?: number;
  /** fd checks (tests may pass fake fds). */
  inspect?: FdInspector;
  /** Connection caps; default MAX_CONNECTIONS_PER_UID and MAX_CONNECTIONS (tests lower them). */
  maxConnectionsPerUid?: number;
  maxConnections?: number;
}

interface InFlight {
  fd: number;
  controller: Cancellation;
}

export class UnixTransport implements AgentTransport {
  readonly name = 'unix';
  private server?: SeqpacketServer;
  private accepting = false;
  private readonly conns = new Set<ConsumerConnection>();
  private readonly perUid = new Map<number, number>();
  private readonly outstanding = new Set<Promise<void>>();
  /** @internal Rate limit for lines any peer can trigger at will. */
  readonly logLimit = new LogLimiter();

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
    this.server.on('error', (e: Error & { code?: string }) =>
      this.logLimit.log(`accept:${e.code ?? e.message}`, (n) =>
        this.ctx.logger.warn('unix transport: accept failed; retrying in 100 ms', { error: e.message, ...suppressedMeta(n) }),
      ),
    );
    this.accepting = true;
    this.ctx.logger.info('unix transport listening', { socket: name });
  }

  stopAccepting(): void {
    this.accepting = false;
    this.server?.close();
  }

  /**
   * Owed replies get CLOSE_MARGIN_MS to be written; then every connection is closed whatever its
   * consumer does (queued replies to a consumer that is not reading are dropped).
   */
  async close(): Promise<void> {
    this.stopAccepting();
    let timer: NodeJS.Timeout | undefined;
    const margin = new Promise<void>((r) => (timer = setTimeout(r, CLOSE_MARGIN_MS)));
    const drained = (async () => {
      while (this.outstanding.size > 0) await Promise.all([...this.outstanding]);
    })();
    await Promise.race([drained, margin]);
    clearTimeout(timer);
    // Closing rejects the sends still queued, which settles what was waiting on them; a reply
    // held back by [debug] delay_done is dropped when its timer fires.
    for (const c of [...this.conns]) c.close();
  }

  private onConnection(conn: SeqpacketConn): void {
    const cfg = this.ctx.config();
    const cred = conn.peerCred;
    const fromUid = this.perUid.get(cred.uid) ?? 0;
    const total = this.opts.maxConnections ?? MAX_CONNECTIONS;
    const perUid = this.opts.maxConnectionsPerUid ?? MAX_CONNECTIONS_PER_UID;
    if (this.conns.size >= total || fromUid >= perUid) {
      const which = this.conns.size >= total ? `${total} connections are open (the agent's limit)` : `uid ${cred.uid} has ${perUid} connections open (the per-uid limit)`;
      this.logLimit.log(`cap:${cred.uid}`, (n) => this.ctx.logger.warn(`unix transport: connection refused: ${which}`, { pid: cred.pid, uid: cred.uid, ...suppressedMeta(n) }));
      // Told why on the socket (an NLMSG_ERROR with seq 0), then closed; the send cannot block on a new socket.
      conn.send(encodeUnixError({ seq: 0 }, Errno.EUSERS, { msg: `connection refused: ${which}; reuse a connection (many requests may be in flight on one)` })).catch(() => undefined);
      conn.close();
      return;
    }
    const allowed = cfg.allowUids.includes(cred.uid) || cfg.allowGids.includes(cred.gid);
    const ownUid = typeof process.getuid === 'function' ? process.getuid() : 0;
    const keySerials = cred.uid === 0 || cred.uid === ownUid;
    if (!allowed) {
      this.logLimit.log(`refused:${cred.uid}`, (n) =>
        this.ctx.logger.warn('unix transport: refused a consumer not in the allow list', { pid: cred.pid, uid: cred.uid, gid: cred.gid, ...suppressedMeta(n) }),
      );
    } else {
      this.ctx.logger.debug('unix transport: consumer connected', { pid: cred.pid, uid: cred.uid, gid: cred.gid });
    }
    const c = new ConsumerConnection(conn, this, allowed, keySerials);
    this.conns.add(c);
    this.perUid.set(cred.uid, fromUid + 1);
    conn.on('close', () => {
      this.conns.delete(c);
      const left = (this.perUid.get(cred.uid) ?? 1) - 1;
      if (left > 0) this.perUid.set(cred.uid, left);
      else this.perUid.delete(cred.uid);
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
  private idleTimer?: NodeJS.Timeout;

  constructor(
    private readonly conn: SeqpacketConn,
    private readonly transport: UnixTransport,
    private readonly allowed: boolean,
    private readonly keySerials: boolean,
  ) {
    conn.on('message', (m: SeqpacketMessage) => this.onMessage(m));
    if (!allowed) {
      this.idleTimer = setTimeout(() => this.close(), REFUSED_IDLE_MS);
      conn.on('close', () => clearTimeout(this.idleTimer));
    }
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
    if (!this.allowed) {
      // One answer, then the connection goes: a refused peer must not keep holding an fd here.
      for (const fd of m.fds) closeQuietly(fd);
      const cred = this.conn.peerCred;
      const h = packetHeader(m.data);
      const reply = encodeUnixError(h ? m.data.subarray(0, 16) : { seq: 0 }, Errno.EPERM, {
        msg: `uid ${cred.uid} / gid ${cred.gid} is not in the agent's allow list ([handshaked] allow_uids, allow_gids)`,
      });
      clearTimeout(this.idleTimer);
      this.conn.pause();
      void this.send(reply).finally(() => this.close());
      return;
    }
    if (m.controlTruncated && !m.dataTruncated && m.fdsReceived < MAX_FDS) {
      // The kernel could not install the passed fd in our table and dropped it (MSG_CTRUNC).
      this.transport.logLimit.log('emfile', (n) =>
        ctx.logger.warn('unix transport: out of file descriptors; a request\'s socket was dropped by the kernel', suppressedMeta(n)),
      );
      refuse(Errno.EMFILE, 'the agent is out of file descriptors: the kernel dropped the attached socket (MSG_CTRUNC); retry later');
      return;
    }
    if (m.truncated) {
      refuse(Errno.EMSGSIZE, `packet larger than ${MAX_PACKET} bytes or with more than ${MAX_FDS} file descriptors; a request carries one fd and fits in ${MAX_PACKET} bytes`);
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
    const controller = new Cancellation();
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
      // Scheduled fairly per uid: one consumer's flood queues behind its own requests, not everyone's.
      .submit(request, { signal: controller.signal, transport: 'unix', consumer: `unix:uid=${this.conn.peerCred.uid}` })
      .then((result) => this.finish(seq, request.fd, controller, result))
      .catch((e: unknown) => {
        ctx.logger.error('unix transport: could not complete a request', { seq, error: e instanceof Error ? e.message : String(e) });
      });
    this.transport.track(p);
  }

  private async finish(seq: number, fd: number, controller: Cancellation, result: HandshakeResult): Promise<void> {
    // The outcome is decided: the socket is the consumer's alone from here, whatever happens to
    // the reply (a consumer that never reads must not pin its sockets in the agent).
    closeQuietly(fd);
    try {
      if (controller.signal.aborted || this.conn.isClosed) return;
      const delay = this.transport.context.config().debug.delayDoneMs;
      // Unref'd: a debugging delay must not keep a stopping agent alive.
      if (delay > 0) await new Promise((r) => setTimeout(r, delay).unref());
      if (this.conn.isClosed) return;
      await this.send(encodeUnixDone(seq, result.status, result.status === 0 ? result.remoteAuth : []));
    } finally {
      this.inflight.delete(seq);
    }
  }

  private send(data: Buffer): Promise<void> {
    if (this.conn.queuedSends >= MAX_QUEUED_REPLIES) {
      const cred = this.conn.peerCred;
      this.transport.logLimit.log(`queue:${cred.uid}`, (n) =>
        this.transport.context.logger.warn(`unix transport: disconnecting a consumer that is not reading its replies (${MAX_QUEUED_REPLIES} queued)`, {
          pid: cred.pid,
          uid: cred.uid,
          ...suppressedMeta(n),
        }),
      );
      this.close();
      return Promise.resolve();
    }
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
