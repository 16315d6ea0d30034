/**
 * The other end of each scenario's TCP connection, played by a real TLS stack: OpenSSL through
 * Node's tls module (in-process, key log from its 'keylog' event), the `openssl` command
 * (s_client -keylogfile) and GnuTLS's gnutls-cli (SSLKEYLOGFILE), or a misbehaving peer.
 *
 * Every scenario gets a fresh loopback connection whose agent end is accepted with
 * pauseOnConnect: Node never reads it, so every byte the peer sends reaches the agent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { socketFd } from '../sys/socket-fd';

export interface Link {
  /** The consumer's (our) end: its fd goes to the agent. Never read by Node until kTLS is up. */
  agentEnd: net.Socket;
  fd: number;
  /** The peer's end (for in-process peers), already connected. */
  peerEnd: net.Socket;
  close(): void;
}

/** A listener that hands out paused accepted sockets; one per run. */
export class LinkFactory {
  private waiting: Array<(s: net.Socket) => void> = [];
  private constructor(private readonly server: net.Server) {
    server.on('connection', (s: net.Socket) => {
      s.on('error', () => undefined);
      const w = this.waiting.shift();
      if (w) w(s);
      else s.destroy();
    });
  }

  static async open(): Promise<LinkFactory> {
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new LinkFactory(server);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The next connection any process makes to `port`. */
  nextAccepted(timeoutMs = 20000): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== got);
        reject(new Error(`no connection to 127.0.0.1:${this.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      const got = (s: net.Socket) => {
        clearTimeout(t);
        resolve(s);
      };
      this.waiting.push(got);
    });
  }

  /** A loopback connection with an in-process peer end. */
  async link(): Promise<Link> {
    const accepted = this.nextAccepted();
    const peerEnd = net.connect(this.port, '127.0.0.1');
    peerEnd.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => peerEnd.once('connect', resolve).once('error', reject));
    const agentEnd = await accepted;
    return wrap(agentEnd, peerEnd);
  }

  close(): void {
    this.server.close();
  }
}

/** The fd of a connected socket (kept for the companion's importers; see sys/socket-fd). */
export const fdOf = socketFd;

function wrap(agentEnd: net.Socket, peerEnd: net.Socket): Link {
  return {
    agentEnd,
    peerEnd,
    fd: fdOf(agentEnd),
    close: () => {
      agentEnd.destroy();
      peerEnd.destroy();
    },
  };
}

export interface PeerResult {
  /** The peer completed the handshake. */
  ok: boolean;
  error?: string;
}

/** A running peer: its handshake outcome, the NSS key-log lines it produced, and clean-up. */
export interface Peer {
  readonly label: string;
  readonly done: Promise<PeerResult>;
  keylog(): string[];
  /** Read one line from the consumer end (through TLS), answer `echo:<line>`; resolves with the line. */
  echo?(): Promise<string>;
  /** Resolves when the peer's transport sees EOF/close. */
  closed: Promise<void>;
  destroy(): void;
}

export interface NodePeerOptions {
  suite?: string;
  /** key + chain the peer presents. */
  identity?: { key: Buffer; cert: Buffer };
  ca: Buffer;
  /** Server: ask for and verify a client certificate. */
  requestCert?: boolean;
  /** Client: the name to verify the server's certificate against (and SNI). */
  servername?: string;
}

function tlsOptions(o: NodePeerOptions): tls.SecureContextOptions {
  return {
    minVersion: 'TLSv1.3',
    ...(o.suite ? { ciphersuites: o.suite } : {}),
    ...(o.identity ? { key: o.identity.key, cert: o.identity.cert } : {}),
    ca: o.ca,
  };
}

/** A Node TLS socket as a Peer: key log from its 'keylog' event, echo once kTLS carries data. */
export function nodePeer(label: string, sock: tls.TLSSocket, secureEvent: 'secure' | 'secureConnect'): Peer {
  const lines: string[] = [];
  sock.on('keylog', (l: Buffer) => lines.push(l.toString('latin1').trim()));
  const done = new Promise<PeerResult>((resolve) => {
    sock.once(secureEvent, () => resolve({ ok: true }));
    sock.once('error', (e: Error) => resolve({ ok: false, error: e.message }));
    sock.once('close', () => resolve({ ok: false, error: 'closed before the handshake finished' }));
  });
  const closed = new Promise<void>((resolve) => {
    sock.once('close', () => resolve());
    sock.once('end', () => resolve());
  });
  return {
    label,
    done,
    closed,
    keylog: () => [...lines],
    echo: () =>
      new Promise<string>((resolve, reject) => {
        let got = '';
        const t = setTimeout(() => reject(new Error(`peer received ${JSON.stringify(got)} only`)), 10000);
        sock.on('data', (d: Buffer) => {
          got += d.toString();
          if (got.includes('\n')) {
            clearTimeout(t);
            sock.write(`echo:${got}`);
            resolve(got.trim());
          }
        });
      }),
    destroy: () => sock.destroy(),
  };
}

/** OpenSSL (Node tls) as the TLS server on the peer end: the agent is the client. */
export function nodeServer(link: Link, o: NodePeerOptions): Peer {
  const sock = new tls.TLSSocket(link.peerEnd, {
    isServer: true,
    secureContext: tls.createSecureContext(tlsOptions(o)),
    requestCert: o.requestCert === true,
    rejectUnauthorized: o.requestCert === true,
  });
  sock.on('error', () => undefined);
  return nodePeer('node-tls server', sock, 'secure');
}

/** OpenSSL (Node tls) as the TLS client on the peer end: the agent is the server. */
export function nodeClient(link: Link, o: NodePeerOptions): Peer {
  const sock = tls.connect({ socket: link.peerEnd, servername: o.servername ?? 'localhost', rejectUnauthorized: true, ...tlsOptions(o) });
  sock.on('error', () => undefined);
  return nodePeer('node-tls client', sock, 'secureConnect');
}

export type Misbehaviour = 'close-after-hello' | 'stall' | 'garbage';

/**
 * A peer that is not a TLS stack: reads the ClientHello, then closes (peer went away), says
 * nothing (stall past the deadline), or answers with plain text (not TLS at all).
 */
export function misbehavingPeer(link: Link, kind: Misbehaviour): Peer {
  const s = link.peerEnd;
  s.once('data', () => {
    if (kind === 'close-after-hello') s.destroy();
    else if (kind === 'garbage') s.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  });
  const closed = new Promise<void>((resolve) => {
    s.once('close', () => resolve());
    s.once('end', () => resolve());
  });
  return {
    label: `${kind} peer`,
    done: Promise.resolve({ ok: false, error: 'not a TLS peer' }),
    closed,
    keylog: () => [],
    destroy: () => s.destroy(),
  };
}

// --- command-line peers --------------------------------------------------------------------

export function haveCommand(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      // next directory
    }
  }
  return false;
}

export class ProcessPeer implements Peer {
  readonly done: Promise<PeerResult>;
  readonly closed: Promise<void>;
  private out = '';
  private readonly proc: ChildProcess;

  constructor(
    readonly label: string,
    cmd: string,
    args: string[],
    private readonly keylogFile: string,
    success: RegExp,
    env: NodeJS.ProcessEnv = process.env,
    /** More files of this peer's (PSK session files) to remove with it. */
    private readonly scratch: string[] = [],
  ) {
    this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.proc.stdin?.on('error', () => undefined);
    const collect = (d: Buffer) => (this.out += d.toString('latin1'));
    this.proc.stdout?.on('data', collect);
    this.proc.stderr?.on('data', collect);
    this.closed = new Promise<void>((resolve) => this.proc.once('close', () => resolve()));
    this.done = new Promise<PeerResult>((resolve) => {
      const check = () => {
        if (success.test(this.out)) resolve({ ok: true });
      };
      this.proc.stdout?.on('data', check);
      this.proc.stderr?.on('data', check);
      this.proc.once('error', (e) => resolve({ ok: false, error: e.message }));
      this.proc.once('close', (code) => {
        check();
        resolve({ ok: false, error: `${label} exited (${code}): ${this.out.trim().split('\n').slice(-3).join(' | ')}` });
      });
    });
  }

  /** The first match of `re` in the process's output, once it appears. */
  waitFor(re: RegExp, timeoutMs = 20000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = re.exec(this.out);
        if (!m) return false;
        cleanup();
        resolve(m);
        return true;
      };
      const onExit = () => {
        if (check()) return;
        cleanup();
        reject(new Error(`${this.label} exited before printing ${re}: ${this.out.trim().split('\n').slice(-3).join(' | ')}`));
      };
      const t = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.label} did not print ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(t);
        this.proc.stdout?.off('data', check);
        this.proc.stderr?.off('data', check);
        this.proc.off('close', onExit);
      };
      if (check()) return;
      this.proc.stdout?.on('data', check);
      this.proc.stderr?.on('data', check);
      this.proc.once('close', onExit);
    });
  }

  keylog(): string[] {
    try {
      return fs.readFileSync(this.keylogFile, 'latin1').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    } catch {
      return [];
    }
  }

  destroy(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    for (const f of [this.keylogFile, ...this.scratch]) {
      try {
        fs.unlinkSync(f);
      } catch {
        // never written
      }
    }
  }
}

export function tmpKeylog(tag: string): string {
  return path.join(os.tmpdir(), `handshaked-companion-${process.pid}-${tag}-${Math.random().toString(16).slice(2)}.keylog`);
}

/** `openssl s_client` connecting to the link listener (agent is the server). */
export function opensslClient(port: number, o: { caFile: string; servername: string; suite?: string; certFile?: string; keyFile?: string; chainFile?: string }): Peer {
  const keylog = tmpKeylog('openssl');
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-servername', o.servername, '-verify_return_error', '-verify', '5'];
  args.push('-CAfile', o.caFile, '-verify_hostname', o.servername, '-keylogfile', keylog, '-nocommands', '-ign_eof');
  if (o.suite) args.push('-ciphersuites', o.suite);
  // -cert reads one certificate; the intermediates go in -cert_chain.
  if (o.certFile && o.keyFile) args.push('-cert', o.certFile, '-key', o.keyFile, ...(o.chainFile ? ['-cert_chain', o.chainFile] : []));
  return new ProcessPeer('openssl s_client', 'openssl', args, keylog, /Verify return code: 0 \(ok\)/);
}

const GNUTLS_CIPHER: Record<string, string> = {
  TLS_AES_128_GCM_SHA256: 'AES-128-GCM',
  TLS_AES_256_GCM_SHA384: 'AES-256-GCM',
  TLS_CHACHA20_POLY1305_SHA256: 'CHACHA20-POLY1305',
  TLS_AES_128_CCM_SHA256: 'AES-128-CCM',
};

/** `gnutls-cli` connecting to the link listener (agent is the server); key log via SSLKEYLOGFILE. */
export function gnutlsClient(port: number, o: { caFile: string; servername: string; suite?: string; certFile?: string; keyFile?: string; chainFile?: string }): Peer {
  const keylog = tmpKeylog('gnutls');
  let prio = 'NORMAL:-VERS-ALL:+VERS-TLS1.3';
  if (o.suite && GNUTLS_CIPHER[o.suite]) prio += `:-CIPHER-ALL:+${GNUTLS_CIPHER[o.suite]}`;
  const args = ['127.0.0.1', '-p', String(port), `--priority=${prio}`, `--x509cafile=${o.caFile}`, `--sni-hostname=${o.servername}`, `--verify-hostname=${o.servername}`];
  // gnutls-cli sends every certificate of --x509certfile: give it the leaf and its chain.
  if (o.certFile && o.keyFile) args.push(`--x509certfile=${o.certFile.replace(/\.crt\.pem$/, '.chain.pem')}`, `--x509keyfile=${o.keyFile}`);
  return new ProcessPeer('gnutls-cli', 'gnutls-cli', args, keylog, /- Handshake was completed/, { ...process.env, SSLKEYLOGFILE: keylog });
}
