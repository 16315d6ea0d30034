/**
 * Loopback TCP plumbing: a listening server on an ephemeral port, connected socket pairs, and
 * an "accept the next connection" queue. Everything binds an ephemeral port on 127.0.0.1 (or
 * the host asked for). tcpPair() is the one TCP-pair helper of the test suite.
 */
import net from 'node:net';

/** A net.Server on 127.0.0.1 with a queue of accepted sockets. */
export class LoopbackListener {
  readonly server: net.Server;
  private queue: net.Socket[] = [];
  private waiting: Array<(s: net.Socket) => void> = [];
  private readonly all = new Set<net.Socket>();

  private constructor(pauseOnConnect: boolean) {
    this.server = net.createServer({ pauseOnConnect }, (s) => {
      this.all.add(s);
      s.on('close', () => this.all.delete(s));
      const w = this.waiting.shift();
      if (w) w(s);
      else this.queue.push(s);
    });
  }

  /** `pauseOnConnect`: Node never reads the accepted sockets (their bytes belong to whoever takes the fd). */
  static async open(opts: { host?: string; pauseOnConnect?: boolean } = {}): Promise<LoopbackListener> {
    const l = new LoopbackListener(opts.pauseOnConnect ?? false);
    await new Promise<void>((resolve, reject) => {
      l.server.once('error', reject);
      l.server.listen(0, opts.host ?? '127.0.0.1', () => resolve());
    });
    return l;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The next accepted connection; rejects after timeoutMs. */
  accept(timeoutMs = 15000): Promise<net.Socket> {
    const s = this.queue.shift();
    if (s) return Promise.resolve(s);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== got);
        reject(new Error(`no connection on port ${this.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      const got = (sock: net.Socket) => {
        clearTimeout(t);
        resolve(sock);
      };
      this.waiting.push(got);
    });
  }

  /** Stops listening and destroys every accepted socket. */
  async close(): Promise<void> {
    for (const s of this.all) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

export interface TcpPair {
  /** The connecting end. */
  client: net.Socket;
  /** The accepted end; never read by Node when opened with `pauseAccepted`. */
  server: net.Socket;
  /** Destroys both ends. */
  close(): Promise<void>;
}

/** Two ends of one loopback TCP connection; the listener is closed once the connection is accepted. */
export async function tcpPair(opts: { host?: string; pauseAccepted?: boolean } = {}): Promise<TcpPair> {
  const l = await LoopbackListener.open({ host: opts.host, pauseOnConnect: opts.pauseAccepted });
  const [client, server] = await Promise.all([connect(l.port, opts.host), l.accept()]);
  // Stop listening; the accepted socket lives on (close()'s callback would wait for it).
  l.server.close();
  return {
    client,
    server,
    close: async () => {
      client.destroy();
      server.destroy();
    },
  };
}
