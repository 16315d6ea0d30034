/**
 * The consumer side of the unix transport: one SEQPACKET connection to the agent, many requests
 * in flight on it, replies matched by nlmsg_seq (docs/unix-transport.md).
 *
 * A request's TCP socket fd is sent with SCM_RIGHTS; the agent works on its own copy and the
 * caller keeps theirs. When DONE arrives with status 0, kTLS is installed on the socket (unless
 * the agent runs with --ktls off, a test mode).
 */
import { NLMSG_ERROR, UNIX_TRANSPORT_FAMILY_ID } from '../netlink/constants';
import { type AcceptParams, encodeUnixReady } from '../netlink/handshake-messages';
import { type DecodedMessage, decodeMessages, unixTransportFamilies } from '../netlink/message';
import { errnoName } from '../sys/errno';
import { close } from '../sys/libc';
import { SeqpacketClient, type SeqpacketConn, type SeqpacketMessage } from '../sys/unix';

export const DEFAULT_AGENT_SOCKET = '/run/handshaked/upcall.sock';

export interface HandshakeParams {
  /** 'client': the agent sends ClientHello on the socket; 'server': it answers one. */
  role: 'client' | 'server';
  /** 'unauth' (client only: the server is still verified), 'x509', or 'psk'. */
  auth: 'unauth' | 'x509' | 'psk';
  /** Client role: the server's DNS name or IP address, for SNI and certificate verification. */
  peername?: string;
  /** Handshake deadline in milliseconds (0 or absent: the agent's default). */
  timeoutMs?: number;
  /** PSK key serials (auth 'psk'); used only when the agent trusts this process with key serials. */
  peerIdentities?: number[];
  /** Certificate and private key as key serials (auth 'x509'), same rule. */
  certificate?: { cert: number; privkey: number };
  /** Keyring serial the agent searches for keys. */
  keyring?: number;
}

export interface HandshakeOutcome {
  /** 0: TLS is up (kTLS installed); else a positive errno (EACCES, ETIMEDOUT, EKEYREJECTED, EIO, EOPNOTSUPP). */
  status: number;
  /** Status as a name: 'OK', 'EACCES', ... */
  code: string;
  /** Key serials (PSK) or 0xFFFFFFFF per verified client certificate (server role). */
  remoteAuth: number[];
}

/** The agent refused the request itself (NLMSG_ERROR): the request was malformed or not allowed. */
export class AgentRequestError extends Error {
  constructor(
    /** Positive errno. */
    readonly errno: number,
    readonly code: string,
    /** The agent's explanation (extack message), when it sent one. */
    readonly extack?: string,
    /** Offset in the request of the attribute at fault (extack). */
    readonly offset?: number,
  ) {
    super(`the agent refused the request: ${code}${extack ? `: ${extack}` : ''}`);
    this.name = 'AgentRequestError';
  }
}

/** The connection to the agent failed or closed before the reply. */
export class AgentConnectionError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AgentConnectionError';
  }
}

/** Any reply the agent sends: DONE or NLMSG_ERROR. */
export type AgentReply =
  | { kind: 'done'; seq: number; status: number; remoteAuth: number[]; message: DecodedMessage }
  | { kind: 'error'; seq: number; errno: number; extack?: string; offset?: number; message: DecodedMessage };

interface Waiter {
  resolve: (r: AgentReply) => void;
  reject: (e: Error) => void;
}

function paramsToAccept(p: HandshakeParams): AcceptParams {
  const out: AcceptParams = { messageType: p.role === 'client' ? 'clienthello' : 'serverhello', authMode: p.auth };
  if (p.peername !== undefined && p.peername !== '') out.peername = p.peername;
  if (p.timeoutMs !== undefined && p.timeoutMs > 0) out.timeout = Math.floor(p.timeoutMs);
  if (p.peerIdentities?.length) out.peerIdentity = [...p.peerIdentities];
  if (p.certificate) out.certificate = [{ ...p.certificate }];
  if (p.keyring) out.keyring = p.keyring;
  return out;
}

export class AgentConnection {
  private nextSeq = 1;
  private readonly waiters = new Map<number, Waiter>();
  private closedWith?: Error;

  private constructor(private readonly conn: SeqpacketConn) {
    conn.on('message', (m: SeqpacketMessage) => this.onMessage(m));
    conn.on('close', (err?: Error) => {
      this.closedWith = new AgentConnectionError(
        err ? ((err as { code?: string }).code ?? 'EIO') : 'ECONNRESET',
        err ? `the connection to the agent failed: ${err.message}` : 'the agent closed the connection',
      );
      for (const w of this.waiters.values()) w.reject(this.closedWith);
      this.waiters.clear();
    });
  }

  /** Connect to the agent's socket ('@name' for the abstract namespace). */
  static async connect(agentSocket: string = DEFAULT_AGENT_SOCKET): Promise<AgentConnection> {
    try {
      return new AgentConnection(await SeqpacketClient.connect(agentSocket, { maxFds: 1 }));
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'EIO';
      const hint = code === 'ENOENT' || code === 'ECONNREFUSED' ? ' (is `handshaked serve --transport unix` running?)' : code === 'EACCES' ? ' (the socket is mode 0660: join its group)' : '';
      throw new AgentConnectionError(code, `cannot connect to the handshake agent at ${agentSocket}: ${(e as Error).message}${hint}`);
    }
  }

  get isClosed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Ask for a handshake on `fd` (a connected TCP socket); resolves with DONE, rejects on NLMSG_ERROR. */
  async handshake(fd: number, params: HandshakeParams): Promise<HandshakeOutcome> {
    const seq = this.allocSeq();
    const reply = await this.exchange(encodeUnixReady(seq, paramsToAccept(params)), [fd], seq);
    if (reply.kind === 'error') throw new AgentRequestError(reply.errno, errnoName(reply.errno), reply.extack, reply.offset);
    return { status: reply.status, code: reply.status === 0 ? 'OK' : errnoName(reply.status), remoteAuth: reply.remoteAuth };
  }

  /** A request id not in use on this connection. */
  allocSeq(): number {
    for (;;) {
      const s = this.nextSeq;
      this.nextSeq = this.nextSeq >= 0xffffffff ? 1 : this.nextSeq + 1;
      if (!this.waiters.has(s)) return s;
    }
  }

  /**
   * Send any packet (well-formed or not: the companion tests agents with both) and wait for the
   * reply carrying `seq` (0 for packets too short to have one).
   */
  exchange(packet: Buffer, fds: readonly number[], seq: number): Promise<AgentReply> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.waiters.has(seq)) return Promise.reject(new AgentConnectionError('EEXIST', `request id ${seq} is already waiting for a reply`));
    return new Promise<AgentReply>((resolve, reject) => {
      this.waiters.set(seq, { resolve, reject });
      this.conn.send(packet, fds).catch((e: unknown) => {
        this.waiters.delete(seq);
        reject(new AgentConnectionError((e as { code?: string }).code ?? 'EIO', `cannot send to the agent: ${(e as Error).message}`));
      });
    });
  }

  close(): void {
    this.conn.close();
  }

  /** Keep the process alive only while requests are waiting (the connection itself does not). */
  unref(): void {
    this.conn.unref();
  }

  private onMessage(m: SeqpacketMessage): void {
    // The agent never sends fds; if one arrives anyway it must not leak.
    for (const fd of m.fds) closeQuietly(fd);
    let msgs: DecodedMessage[];
    try {
      msgs = decodeMessages(m.data, { families: unixTransportFamilies(), unknown: 'keep' });
    } catch {
      return; // not ours to interpret; the waiter times out or the connection closes
    }
    for (const msg of msgs) {
      let reply: AgentReply | undefined;
      if (msg.kind === 'error' && msg.header.type === NLMSG_ERROR) {
        reply = { kind: 'error', seq: msg.request.seq, errno: -msg.error, extack: msg.extack.msg, offset: msg.extack.offset, message: msg };
      } else if (msg.kind === 'genl' && msg.header.type === UNIX_TRANSPORT_FAMILY_ID && msg.cmdName === 'done') {
        const ra = msg.attrs['remote-auth'];
        reply = {
          kind: 'done',
          seq: msg.header.seq,
          status: typeof msg.attrs.status === 'number' ? msg.attrs.status : 5,
          remoteAuth: Array.isArray(ra) ? ra.filter((x): x is number => typeof x === 'number') : [],
          message: msg,
        };
      }
      if (!reply) continue;
      const w = this.waiters.get(reply.seq);
      if (!w) continue;
      this.waiters.delete(reply.seq);
      w.resolve(reply);
    }
  }
}

function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // nothing to release
  }
}
