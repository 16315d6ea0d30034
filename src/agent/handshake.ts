/**
 * One handshake: a HandshakeRequest in, a HandshakeResult (plus what the log line says) out.
 *
 * Steps: check the socket is TCP; choose identities (configuration, or key serials when the
 * request names them and may use them); build the engine; drive it one record at a time on a
 * dup of the fd (the record reader owns and closes the dup, the transport keeps the original for
 * DONE); install kTLS on success. TCP_NODELAY is on during the exchange (small flights go out at
 * once) and restored after, as tlshd does.
 *
 * Status codes (tlshd's; docs/unix-transport.md lists them): 0 success; EACCES handshake or verification failure;
 * ETIMEDOUT peer went away (EOF, reset, close_notify) or deadline passed; EKEYREJECTED the peer
 * sent unknown_psk_identity; EIO local failure; EOPNOTSUPP not a TCP socket or no kTLS.
 *
 * Names (as tlshd checks them; docs/serve.md): the client verifies the server against the request's peername (DNS
 * name or IP literal; SNI only for a DNS name). Without a peername the client uses the peer's
 * IP address as an IP literal: the server certificate must then carry that IP SAN. This never
 * consults reverse DNS (tlshd 0.9 did and it was insecure) and never skips verification.
 */
import type {
  AlertName,
  AsymmetricKey,
  CertifiedKey,
  ClientConfig,
  CommonConfig,
  Connection,
  ExtractedSecrets,
  PskEntry,
  ServerConfig,
  SessionInfo,
  Step,
} from '../tls/api';
import { TlsError } from '../tls/api';
import { plaintextAlertRecord } from '../tls';
import { keyMatchesCertificate, privateKeyFromDer } from '../tls/x509';
import type { AgentConfig, ClientCertificatePolicy } from './config';
import { abortKind, HandshakeAborted, type RunContext, type RunOutcome } from './run-context';
import { trustFor, type Identities, type RoleIdentity } from './identities';
import type { Logger } from './logging';
import { NvmeIdentityError, pskHashFor } from './nvme-identity';
import { accessDenied, clientCertificateFor, serverCertificateFor, type VerifiedPeer } from './peer-policy';
import { REMOTE_AUTH_X509_VERIFIED, Status, type HandshakeRequest, type PeerAddress } from './request';
import type { CancelSignal } from './cancel';

/** The record-exact view of the socket the engine needs. */
export interface RecordChannel {
  /** The next whole record (5-byte header + body). Rejects on EOF or a socket error. */
  readRecord(): Promise<Buffer>;
  write(data: Buffer): Promise<void>;
  /** Stop reading and release the channel's fd. Idempotent. */
  close(): void;
}

/** The part of the logger a handshake uses (a worker thread forwards it without loading winston). */
export type HandshakeLog = Pick<Logger, 'debug'>;

/** What the handshake needs from the OS layer and the engine; the daemon binds the real ones. */
export interface HandshakeEnv {
  createClient(config: ClientConfig): Connection;
  createServer(config: ServerConfig): Connection;
  sys: {
    /** SO_PROTOCOL of fd. */
    protocol(fd: number): number;
    /** "address:port" of the peer, or undefined when not connected. */
    peerAddress(fd: number): PeerAddress | undefined;
    getNoDelay(fd: number): boolean;
    setNoDelay(fd: number, on: boolean): void;
    dup(fd: number): number;
    close(fd: number): void;
    /** Write bytes straight to the socket (an alert before any engine exists). */
    send(fd: number, data: Buffer): void;
  };
  /** Wrap a dup'ed fd; the channel owns it from then on. */
  openChannel(fd: number): RecordChannel;
  ktls: {
    available(): boolean;
    install(fd: number, secrets: ExtractedSecrets): void;
  };
  keys: {
    /** Make the request's and the configured keyrings searchable; returns the undo. */
    linkKeyrings(req: HandshakeRequest, configured: readonly string[]): () => void;
    /** Raw payload of a key (DER certificate or private key). */
    read(serial: number): Buffer;
    /** A PSK key by serial, as the engine wants it (tag = serial). */
    psk(serial: number): PskEntry;
    /** Server side: the PSK whose identity the client offered, if any (tag = its serial). */
    findPsk(identity: Buffer): PskEntry | undefined;
  };
}

/** The configuration a handshake runs with: taken when it starts, kept to the end (reload-safe). */
export interface Profile {
  readonly config: AgentConfig;
  readonly identities: Identities;
}

export interface HandshakeOptions {
  ktls: 'on' | 'off';
  keyLog?: (line: string) => void;
  /** Only debug detail is logged from here (the outcome's line is the dispatcher's). */
  logger: HandshakeLog;
}

const IPPROTO_TCP = 6;
/** kernel keeps at most 5 remote-auth ids. */
const MAX_REMOTE_AUTH = 5;
/** Errors of the socket that mean the peer is gone, not that we failed. */
const PEER_GONE = new Set(['EOF', 'EOF_MID_RECORD', 'ECONNRESET', 'EPIPE', 'ENOTCONN', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED']);

/** A failure with the status to report. */
class Outcome extends Error {
  constructor(
    readonly status: number,
    reason: string,
    readonly alert?: AlertName,
  ) {
    super(reason);
  }
}

export async function runHandshake(
  req: HandshakeRequest,
  ctx: RunContext,
  profile: Profile,
  env: HandshakeEnv,
  opts: HandshakeOptions,
): Promise<RunOutcome> {
  const log = opts.logger;
  // A transport that checked the socket on receipt (the unix transport) passes what it found:
  // neither check can change its answer since, except for a disconnect, which the first read
  // reports as the same status (ETIMEDOUT, peer gone).
  if (!req.peer) {
    let protocol: number;
    try {
      protocol = env.sys.protocol(req.fd);
    } catch (e) {
      return fail(Status.EOPNOTSUPP, `fd ${req.fd} is not a socket (${errText(e)})`);
    }
    if (protocol !== IPPROTO_TCP) return fail(Status.EOPNOTSUPP, `fd ${req.fd} is not a TCP socket (protocol ${protocol})`);
  }
  if (opts.ktls === 'on' && !env.ktls.available()) {
    return fail(Status.EOPNOTSUPP, 'kernel TLS is not available on this host (TCP_ULP "tls": load the tls module or build CONFIG_TLS)');
  }
  const addr = req.peer ?? env.sys.peerAddress(req.fd);
  if (!addr) return fail(Status.ETIMEDOUT, 'the socket is no longer connected');
  const peer = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;

  // Keyrings matter only to handshakes that read keys (PSKs, or key serials the consumer may
  // use); linking costs a dozen keyctl calls and a read of /proc/keys per handshake.
  const unlink = usesKeys(req) ? env.keys.linkKeyrings(req, profile.config.keyrings) : () => undefined;
  let channel: RecordChannel | undefined;
  let noDelay: boolean | undefined;
  let conn: Connection | undefined;
  let built: Built | undefined;
  try {
    built = buildConnection(req, addr.address, profile, env, opts);
    conn = built.conn;
    noDelay = env.sys.getNoDelay(req.fd);
    if (!noDelay) env.sys.setNoDelay(req.fd, true);
    channel = env.openChannel(env.sys.dup(req.fd));
    const info = await drive(conn, channel, ctx, log);
    const denied = req.role === 'server' ? accessDenied(profile.identities.server.access, verifiedPeer(req, info)) : undefined;
    if (denied) {
      // The client proved who it is (its Finished is in); it is refused for who it is, not for a failure.
      try {
        await channel.write(conn.abort('access_denied'));
      } catch {
        // The peer may be gone already; the status says so either way.
      }
      throw new Outcome(Status.EACCES, denied, 'access_denied');
    }
    const secrets = conn.secrets();
    if (opts.ktls === 'on') {
      try {
        env.ktls.install(req.fd, secrets);
      } catch (e) {
        throw new Outcome(Status.EIO, `installing kTLS failed: ${errText(e)}`);
      }
    }
    return {
      status: Status.OK,
      remoteAuth: remoteAuth(req, info),
      peer,
      suite: info.suite,
      group: info.group,
      signatureScheme: info.signatureScheme,
      clientSignatureScheme: info.clientSignatureScheme,
    };
  } catch (e) {
    // A local fault found inside the engine's callbacks (a misdescribed PSK key) is EIO, not the alert it caused.
    const o = built?.fault?.() ?? classify(e);
    if (o.status === Status.ETIMEDOUT && ctx.signal.aborted && conn && channel) {
      // Tell the peer we gave up (deadline, shutdown, consumer gone) before the socket is handed back.
      try {
        await channel.write(conn.abort('user_canceled'));
      } catch {
        // The peer may be gone already; the status says so either way.
      }
    }
    if (o.alert === 'record_overflow' && conn && channel && !(e instanceof TlsError)) {
      // The reader refused an oversized record header before the engine saw it: the engine has
      // not answered, so send the alert RFC 8446 §5.1/§5.2 names (protected once keys exist).
      try {
        await channel.write(conn.abort('record_overflow'));
      } catch {
        // The peer may be gone already; the status says so either way.
      }
    }
    if (o.alert && !conn) {
      // Failed before the engine existed (server misconfiguration): still tell the client why.
      try {
        env.sys.send(req.fd, plaintextAlertRecord(o.alert));
      } catch {
        // Nothing more to do: the status carries the failure.
      }
    }
    log.debug('handshake failure detail', { fd: req.fd, peer, status: o.status, reason: o.message, alert: o.alert });
    return { status: o.status, remoteAuth: [], peer, reason: o.message, alert: o.alert };
  } finally {
    channel?.close();
    if (noDelay === false) {
      try {
        env.sys.setNoDelay(req.fd, false);
      } catch {
        // The consumer owns the socket options from here; a closed socket has none to restore.
      }
    }
    unlink();
  }

  function fail(status: number, reason: string): RunOutcome {
    return { status, remoteAuth: [], reason };
  }
}

/** What the server's finished handshake proved about the client; undefined for an anonymous client (no allow list applies). */
function verifiedPeer(req: HandshakeRequest, info: SessionInfo): VerifiedPeer | undefined {
  if (req.auth === 'psk' || info.psk) return info.psk ? { kind: 'psk', identity: info.psk.identity, serial: info.psk.tag } : undefined;
  if (info.peerVerified && info.peerCertificates.length > 0) return { kind: 'x509', leaf: info.peerCertificates[0] };
  return undefined;
}

/** Whether the handshake reads keys from the keyrings (see buildConnection/requestCertificate). */
export function usesKeys(req: HandshakeRequest): boolean {
  return req.auth === 'psk' || (req.keySerialsAllowed && req.certificate !== undefined);
}

const NOTHING = Buffer.alloc(0);

/** Runs the engine to 'done' or throws an Outcome. */
async function drive(conn: Connection, channel: RecordChannel, ctx: RunContext, log: HandshakeLog): Promise<SessionInfo> {
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(new Outcome(Status.ETIMEDOUT, `${abortMessage(ctx.signal)}`));
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  let step: Step = conn.start();
  for (;;) {
    if (step.send.length > 0) {
      const out = step.send;
      // Not held while this handshake waits on its peer's next record (a slab of Buffer's pool).
      step = { ...step, send: NOTHING };
      await Promise.race([channel.write(out), aborted]);
    }
    if (step.status === 'done') return conn.info();
    if (step.status === 'failed') throw step.error ?? new TlsError('internal_error', 'the engine failed without saying why');
    const record = await Promise.race([channel.readRecord(), aborted]);
    log.debug('record received', { type: record[0], length: record.length - 5 });
    step = conn.receiveRecord(record);
  }
}

function abortMessage(signal: CancelSignal): string {
  switch (abortKind(signal)) {
    case 'deadline':
      return 'deadline passed before the handshake finished';
    case 'shutdown':
      return 'the agent is shutting down';
    case 'idle':
      // Says for how long and which setting: the reason the dispatcher gave.
      return (signal.reason as Error).message;
    case 'cancelled':
      // The consumer may have said why (its network namespace went away).
      return signal.reason instanceof HandshakeAborted ? signal.reason.message : 'the consumer withdrew the request';
    default:
      return 'the consumer withdrew the request';
  }
}

function classify(e: unknown): Outcome {
  if (e instanceof Outcome) return e;
  if (e instanceof TlsError) {
    if (e.peerAlert && e.alert === 'unknown_psk_identity') {
      return new Outcome(Status.EKEYREJECTED, `the peer does not know our PSK identity: ${e.message}`, e.alert);
    }
    // A peer that closes mid-handshake is "premature termination": tlshd asks the kernel to retry.
    if (e.peerAlert && e.alert === 'close_notify') return new Outcome(Status.ETIMEDOUT, `the peer closed the session: ${e.message}`, e.alert);
    return new Outcome(Status.EACCES, `${e.peerAlert ? 'peer sent' : 'sent'} ${e.alert}: ${e.message}`, e.alert);
  }
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && PEER_GONE.has(code)) return new Outcome(Status.ETIMEDOUT, `the peer went away (${code})`);
  // The record reader refuses a header announcing more than TLS allows: the peer does not speak TLS.
  if (code === 'RECORD_OVERFLOW') return new Outcome(Status.EACCES, `the peer does not speak TLS: ${errText(e)}`, 'record_overflow');
  return new Outcome(Status.EIO, `local failure: ${errText(e)}`);
}

/** `x509.client_certificate` → the engine's clientAuth. */
const CLIENT_AUTH: Record<ClientCertificatePolicy, ServerConfig['clientAuth']> = { request: 'optional', require: 'required', none: 'none' };

interface Built {
  conn: Connection;
  /** A local failure the engine only saw as an internal_error (server PSK lookup), if one happened. */
  fault?: () => Outcome | undefined;
}

function buildConnection(req: HandshakeRequest, peerIp: string, profile: Profile, env: HandshakeEnv, opts: HandshakeOptions): Built {
  const c = profile.config;
  const common: CommonConfig = {
    ...(c.cipherSuites ? { cipherSuites: [...c.cipherSuites] } : {}),
    ...(c.groups ? { groups: [...c.groups] } : {}),
    ...(opts.keyLog ? { keyLog: opts.keyLog } : {}),
  };
  if (req.role === 'client') {
    const role = profile.identities.client;
    const cfg: ClientConfig = { ...common, serverName: req.peername ?? peerIp };
    if (req.auth === 'psk') {
      if (!req.keySerialsAllowed) throw new Outcome(Status.EACCES, 'PSK key serials from this consumer may not be used');
      const psks = req.peerIdentities.filter((s) => s !== 0).map((s) => readPsk(env, s));
      if (psks.length === 0) throw new Outcome(Status.EIO, 'a PSK client request named no key');
      // All of them in one ClientHello (tlshd tries one handshake per key); the engine offers only suites of their hashes.
      cfg.psks = psks;
      if (c.pskModes) cfg.pskModes = [...c.pskModes];
      // PSK-only: the server proves itself with the key, no certificate is involved.
    } else {
      cfg.trust = trustFor(role);
      if (req.auth === 'x509') {
        Object.assign(cfg, localCertificates(req, env, role, cfg.serverName as string, opts.logger));
        if (!cfg.certificate && !cfg.pqCertificate) {
          throw new Outcome(Status.EIO, 'x509 client handshake but no certificate: set x509.certificate and x509.private_key (or x509.pq.*) in [authenticate.client]');
        }
      }
    }
    return { conn: env.createClient(cfg) };
  }
  const role = profile.identities.server;
  if (req.auth === 'psk') {
    let fault: Outcome | undefined;
    const cfg: ServerConfig = {
      ...common,
      clientAuth: 'none',
      ...(c.pskModes ? { pskModes: [...c.pskModes] } : {}),
      pskLookup: (identity) => {
        let entry: PskEntry | undefined;
        try {
          entry = env.keys.findPsk(identity);
        } catch {
          return undefined;
        }
        if (!entry) return undefined;
        try {
          return { ...entry, hash: pskHashFor(entry.identity.toString('utf8'), entry.key) };
        } catch (e) {
          if (!(e instanceof NvmeIdentityError)) throw e;
          fault = new Outcome(Status.EIO, `PSK key ${entry.tag ?? '?'} cannot be used: ${e.message}`);
          throw new TlsError('internal_error', fault.message);
        }
      },
    };
    return { conn: env.createServer(cfg), fault: () => fault };
  }
  const certs = localCertificates(req, env, role, undefined, opts.logger);
  if (!certs.certificate && !certs.pqCertificate) {
    // tlshd sends access_denied on a server misconfiguration, so the client stops retrying.
    throw new Outcome(Status.EACCES, 'server handshake but no certificate: set x509.certificate and x509.private_key (or x509.pq.*) in [authenticate.server]', 'access_denied');
  }
  const cfg: ServerConfig = { ...common, ...certs, clientAuth: CLIENT_AUTH[c.server.clientCertificate ?? 'request'], trust: trustFor(role) };
  return { conn: env.createServer(cfg) };
}

function readPsk(env: HandshakeEnv, serial: number): PskEntry {
  let entry: PskEntry;
  try {
    entry = { ...env.keys.psk(serial), tag: serial };
  } catch (e) {
    throw new Outcome(Status.EIO, `PSK key ${serial} cannot be read: ${errText(e)}`);
  }
  try {
    // An NVMe identity names the PSK's hash; the key length rule is only the fallback.
    return { ...entry, hash: pskHashFor(entry.identity.toString('utf8'), entry.key) };
  } catch (e) {
    throw new Outcome(Status.EIO, `PSK key ${serial} cannot be used: ${errText(e)}`);
  }
}

type LocalCertificates = Pick<ServerConfig, 'certificate' | 'pqCertificate' | 'certificateFor'>;

/**
 * Our certificates: the consumer's key serials when given and allowed (one certificate, as with
 * tlshd), else the configured classic and ML-DSA identities; the engine picks per handshake.
 * With per-peer pairs configured (docs/serve.md "Per-peer certificates and access"), the client
 * picks the pair for `peername`, and the server lets the engine ask per ClientHello, by SNI.
 */
function localCertificates(req: HandshakeRequest, env: HandshakeEnv, role: RoleIdentity, peername: string | undefined, log: HandshakeLog): LocalCertificates {
  const fromKeyring = requestCertificate(req, env);
  if (fromKeyring) return { certificate: fromKeyring };
  const all = role.certificates;
  if (peername !== undefined) {
    const named = all.filter((c) => c.peers.length > 0);
    if (named.length === 0) return { certificate: role.certificate, pqCertificate: role.pqCertificate };
    const pick = clientCertificateFor(named, peername, all.find((c) => c.peers.length === 0));
    if (pick) log.debug('client certificate chosen', { peername, section: pick.section });
    return { certificate: pick?.certificate, pqCertificate: pick?.pqCertificate };
  }
  if (all.length <= 1) return { certificate: all[0]?.certificate, pqCertificate: all[0]?.pqCertificate };
  const certificateFor = (sni: string | undefined) => {
    const pick = serverCertificateFor(all, sni);
    log.debug('server certificate chosen', { sni: sni ?? '(none)', section: pick?.section });
    return { certificate: pick?.certificate, pqCertificate: pick?.pqCertificate };
  };
  return { certificate: all[0].certificate, pqCertificate: all[0].pqCertificate, certificateFor };
}

/**
 * Whether the handshake reads the certificate and private key the consumer names by serial:
 * given and allowed, in a handshake that presents a certificate (a client's x509, a server's
 * non-PSK). buildConnection reads them only there; pool/keys.ts reads them ahead by this.
 */
export function readsCertificateKeys(req: HandshakeRequest): boolean {
  const c = req.certificate;
  if (!c || !req.keySerialsAllowed || c.cert === 0 || c.privkey === 0) return false;
  return req.role === 'client' ? req.auth === 'x509' : req.auth !== 'psk';
}

/** Certificate and key from the consumer's key serials (DER payloads), when given and allowed. */
function requestCertificate(req: HandshakeRequest, env: HandshakeEnv): CertifiedKey | undefined {
  if (!readsCertificateKeys(req)) return undefined;
  const { cert, privkey } = req.certificate!;
  let der: Buffer;
  let keyDer: Buffer;
  try {
    der = env.keys.read(cert);
    keyDer = env.keys.read(privkey);
  } catch (e) {
    throw new Outcome(Status.EIO, `certificate key ${cert} or private key ${privkey} cannot be read: ${errText(e)}`);
  }
  let key: AsymmetricKey;
  try {
    key = privateKeyFromDer(keyDer, `private key ${privkey}`);
  } catch (e) {
    throw new Outcome(Status.EIO, errText(e));
  }
  try {
    if (!keyMatchesCertificate(der, key)) throw new Error('the private key does not match the certificate');
  } catch (e) {
    throw new Outcome(Status.EIO, `certificate key ${cert}: ${errText(e)}`);
  }
  return { chain: [der], key };
}

/**
 * remote-auth (docs/kernel-interface.md, "remote-auth and keys"): PSK: the serial of the key used. x509 server: 0xFFFFFFFF per
 * verified client certificate (none when the client sent none). x509 client: none — tlshd adds
 * the server's certificates to the user keyring so their serials can be returned, which makes the
 * kernel parse them; no kernel consumer reads a client-side id (NFS ignores it), so we do not.
 */
function remoteAuth(req: HandshakeRequest, info: SessionInfo): number[] {
  if (req.auth === 'psk') return info.psk?.tag !== undefined ? [info.psk.tag] : [];
  if (req.role === 'server' && info.peerVerified && info.peerCertificates.length > 0) {
    return new Array<number>(Math.min(info.peerCertificates.length, MAX_REMOTE_AUTH)).fill(REMOTE_AUTH_X509_VERIFIED);
  }
  return [];
}

/** An error as a status reason says it: its code (EACCES), if it has one, then its message. */
export function errText(e: unknown): string {
  if (e instanceof Error) return (e as { code?: string }).code ? `${(e as { code?: string }).code}: ${e.message}` : e.message;
  return String(e);
}
