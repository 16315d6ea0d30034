/**
 * The benchmark's other side, in a child process so that process.cpuUsage() in the parent counts
 * only the side being measured. It is always Node's tls, whichever implementation the parent
 * runs, so both implementations meet the same peer: a server for the client measurements, and
 * a client load generator for the server measurements.
 */
import tls from 'node:tls';
import { loadBenchPki } from './pki';
import { nodeClientContext, nodeClientHandshake, nodeServerOptions, runPool, type HandshakeShape } from './node-tls';

export type ToPeer = { type: 'load'; port: number; count: number; concurrency: number } | { type: 'exit' };
export type FromPeer = { type: 'ready'; port: number } | { type: 'loaded'; ok: number; failed: number; firstError?: string };

function send(msg: FromPeer): void {
  process.send?.(msg);
}

export function runPeer(shape: HandshakeShape): void {
  const pki = loadBenchPki(shape.cert);
  const server = tls.createServer(nodeServerOptions(shape, pki), (s) => {
    s.on('error', () => undefined);
    s.destroy();
  });
  server.on('tlsClientError', () => undefined);
  const clientCtx = nodeClientContext(shape, pki);
  process.on('message', (m: ToPeer) => {
    if (m.type === 'exit') {
      server.close();
      process.disconnect();
      return;
    }
    void runPool(m.count, m.concurrency, () => nodeClientHandshake(m.port, clientCtx)).then((r) => send({ type: 'loaded', ...r }));
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    if (a && typeof a !== 'string') send({ type: 'ready', port: a.port });
  });
}

if (require.main === module) {
  runPeer(JSON.parse(process.argv[2] ?? '{}') as HandshakeShape);
}
