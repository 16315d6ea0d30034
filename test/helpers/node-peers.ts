/**
 * Node's own `tls` (OpenSSL inside Node) as an in-process peer: an echo server and a client,
 * configured from the same PeerOptions as the command-line peers.
 */
import tls from 'node:tls';
import { NODE_GROUP } from '../../src/bench/node-tls';
import type { PeerOptions } from './cli-peers';
import { CA_BUNDLE, files, pem } from './pki';


function commonOptions(o: PeerOptions): tls.SecureContextOptions {
  const opts: tls.SecureContextOptions = {
    minVersion: o.tls12Only ? 'TLSv1.2' : 'TLSv1.3',
    maxVersion: o.tls12Only ? 'TLSv1.2' : 'TLSv1.3',
    ca: pem(o.caFile ?? CA_BUNDLE),
  };
  // TLS 1.3 suite names given in `ciphers` go to SSL_CTX_set_ciphersuites (Node splits them out).
  if (o.suites && !o.tls12Only) opts.ciphers = o.suites.join(':');
  if (o.groups) opts.ecdhCurve = o.groups.map((g) => NODE_GROUP[g]).join(':');
  return opts;
}

function certOptions(name: string): { cert: string; key: string } {
  const f = files(name);
  return { cert: pem(f.chain), key: pem(f.key) };
}

/** An echo server on 127.0.0.1:0 that queues its secured connections and its handshake errors. */
export class NodeTlsServer {
  readonly server: tls.Server;
  readonly tlsErrors: Error[] = [];
  private secured: tls.TLSSocket[] = [];
  private waiting: Array<() => void> = [];
  private readonly sockets = new Set<tls.TLSSocket>();

  private constructor(o: PeerOptions) {
    const psk = o.psk;
    this.server = tls.createServer({
      ...commonOptions(o),
      ...certOptions(o.cert ?? 'server-p256'),
      requestCert: o.requireClientCert ?? false,
      rejectUnauthorized: o.requireClientCert ?? false,
      ...(psk ? { pskCallback: (_s: tls.TLSSocket, id: string) => (id === psk.identity ? psk.key : null) } : {}),
    });
    this.server.on('secureConnection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => s.write(d));
      this.secured.push(s);
      this.poke();
    });
    this.server.on('tlsClientError', (err) => {
      this.tlsErrors.push(err);
      this.poke();
    });
  }

  private poke(): void {
    const ws = this.waiting;
    this.waiting = [];
    for (const w of ws) w();
  }

  static async start(o: PeerOptions): Promise<NodeTlsServer> {
    const s = new NodeTlsServer(o);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(0, '127.0.0.1', () => resolve());
    });
    return s;
  }

  get port(): number {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('server is not listening on TCP');
    return a.port;
  }

  private async until<T>(take: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = take();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) {
        const errs = this.tlsErrors.map((e) => e.message).join('; ');
        throw new Error(`Node tls server: no ${what} within ${timeoutMs} ms${errs ? ` (TLS errors: ${errs})` : ''}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiting.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The next connection whose handshake completed on the server side. */
  nextSecure(timeoutMs = 15000): Promise<tls.TLSSocket> {
    return this.until(() => this.secured.shift(), 'secured connection', timeoutMs);
  }

  /** The next handshake failure the server saw. */
  nextTlsError(timeoutMs = 15000): Promise<Error> {
    return this.until(() => this.tlsErrors.shift(), 'TLS error', timeoutMs);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A Node tls client to 127.0.0.1:port verifying the server (chain and name). Resolves on
 * secureConnect, rejects with Node's error (e.g. ERR_SSL_… or a verification code) otherwise.
 */
export function nodeConnect(port: number, o: PeerOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      ...commonOptions(o),
      ...(o.cert ? certOptions(o.cert) : {}),
      host: '127.0.0.1',
      port,
      servername: o.serverName ?? 'localhost',
      rejectUnauthorized: true,
      ...(o.psk ? { pskCallback: () => ({ psk: o.psk!.key, identity: o.psk!.identity }) } : {}),
    });
    s.once('secureConnect', () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', (e) => {
      s.destroy();
      reject(e);
    });
  });
}

/** Collects what the socket delivers until `until` accepts it; rejects on end or timeout. */
export function readSome(s: tls.TLSSocket, until: (data: Buffer) => boolean, timeoutMs = 15000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const done = (err?: Error) => {
      clearTimeout(t);
      s.off('data', onData);
      s.off('end', onEnd);
      if (err) reject(err);
      else resolve(got);
    };
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (until(got)) done();
    };
    const onEnd = () => done(new Error(`socket ended after ${got.length} bytes`));
    const t = setTimeout(() => done(new Error(`no expected data within ${timeoutMs} ms (got ${JSON.stringify(got.toString('latin1'))})`)), timeoutMs);
    s.on('data', onData);
    s.on('end', onEnd);
  });
}
