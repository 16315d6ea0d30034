/**
 * The other end of every benchmark handshake, in its own process so that neither the agent's
 * nor the baseline's CPU figures include it: always Node's tls. For the agent's client role it
 * is a TLS server; for the server role it is a load generator of TLS clients. A client holds
 * its connection until the side under test closes it, so the storm's concurrency is the number
 * of handshakes the side under test really has in hand.
 */
import net from 'node:net';
import tls from 'node:tls';
import { loadPkiFiles, nodeClientContext, nodeClientSocketOptions, nodeServerContextOptions, nodeServerSocketOptions, type AuthMode, type BenchPsk } from './shape';

export type ToPeer =
  | { type: 'serve'; auth: AuthMode }
  | { type: 'load'; port: number; auth: AuthMode; count: number; concurrency: number }
  | { type: 'exit' };
export type FromPeer =
  | { type: 'ready' }
  | { type: 'serving'; port: number }
  | { type: 'loaded'; ok: number; failed: number; firstError?: string };

const HOLD_TIMEOUT_MS = 120_000;

function send(m: FromPeer): void {
  process.send?.(m);
}

/** One client handshake; resolves once the far side has closed the connection. */
function clientOnce(port: number, ctx: tls.SecureContext, opts: tls.ConnectionOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    let secured = false;
    const s = tls.connect({ host: '127.0.0.1', port, secureContext: ctx, ...opts });
    const t = setTimeout(() => s.destroy(new Error('no close from the side under test within 120 s')), HOLD_TIMEOUT_MS);
    s.once('secureConnect', () => {
      secured = true;
      s.resume();
    });
    s.on('error', (e) => {
      if (!secured) {
        clearTimeout(t);
        reject(e);
      }
    });
    s.once('close', () => {
      clearTimeout(t);
      if (secured) resolve();
      else reject(new Error('connection closed before the handshake completed'));
    });
  });
}

async function load(m: Extract<ToPeer, { type: 'load' }>, psk: BenchPsk): Promise<FromPeer> {
  const pki = loadPkiFiles();
  const ctx = nodeClientContext(pki, m.auth);
  const opts = nodeClientSocketOptions(m.auth, psk);
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < m.count) {
      next++;
      try {
        await clientOnce(m.port, ctx, opts);
        ok++;
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(m.concurrency, m.count) }, worker));
  return { type: 'loaded', ok, failed, firstError };
}

function serve(auth: AuthMode, psk: BenchPsk): Promise<net.Server> {
  const pki = loadPkiFiles();
  // tls.Server builds its context from these options (it ignores a `secureContext` option).
  const server = tls.createServer({ ...nodeServerContextOptions(pki), ...nodeServerSocketOptions(auth, psk) }, (s) => {
    s.on('error', () => undefined);
    s.on('end', () => s.destroy());
    s.resume();
  });
  server.on('tlsClientError', () => undefined);
  return new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 8192 }, () => resolve(server)));
}

export function runPeer(psk: BenchPsk): void {
  const servers: net.Server[] = [];
  // The driver went away (killed, crashed): nothing left to serve.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: ToPeer) => {
    if (m.type === 'exit') {
      for (const s of servers) s.close();
      process.disconnect();
      setTimeout(() => process.exit(0), 1000).unref();
    } else if (m.type === 'serve') {
      void serve(m.auth, psk).then((s) => {
        servers.push(s);
        send({ type: 'serving', port: (s.address() as net.AddressInfo).port });
      });
    } else {
      void load(m, psk).then(send);
    }
  });
  send({ type: 'ready' });
}

if (require.main === module) runPeer(JSON.parse(process.argv[2] ?? '{}') as BenchPsk);
