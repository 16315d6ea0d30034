/**
 * The OpenSSL baseline in the agent's position: a process that is handed connected TCP sockets
 * (over Node's IPC channel, a unix socket with SCM_RIGHTS, as the agent gets them over its
 * SEQPACKET socket), runs the TLS 1.3 handshake on each with Node's tls, and answers "done".
 * Contexts are built once, as the agent parses its configuration once.
 */
import type net from 'node:net';
import tls from 'node:tls';
import { loadPkiFiles, nodeClientContext, nodeClientSocketOptions, nodeServerContext, nodeServerSocketOptions, type AuthMode, type BenchPsk, type Role } from './shape';

export type ToNodeAgent = { type: 'hs'; id: number; role: Role; auth: AuthMode } | { type: 'exit' };
export type FromNodeAgent = { type: 'ready' } | { type: 'done'; id: number; ok: boolean; error?: string };

const HANDSHAKE_TIMEOUT_MS = 60_000;

function runNodeAgent(psk: BenchPsk): void {
  // The driver went away (killed, crashed): nothing left to serve.
  process.on('disconnect', () => process.exit(0));
  const pki = loadPkiFiles();
  const ctx = new Map<string, tls.SecureContext>();
  const context = (role: Role, auth: AuthMode): tls.SecureContext => {
    const k = `${role}/${auth}`;
    let c = ctx.get(k);
    if (!c) ctx.set(k, (c = role === 'server' ? nodeServerContext(pki) : nodeClientContext(pki, auth)));
    return c;
  };
  const reply = (m: FromNodeAgent): void => {
    process.send?.(m);
  };

  process.on('message', (m: ToNodeAgent, socket?: net.Socket) => {
    if (m.type === 'exit') {
      process.disconnect();
      return;
    }
    if (!socket) {
      reply({ type: 'done', id: m.id, ok: false, error: 'no socket came with the request' });
      return;
    }
    let settled = false;
    // A stuck handshake must show up as a failure, not hang the benchmark.
    const timer = setTimeout(() => finish(t, new Error(`no handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`)), HANDSHAKE_TIMEOUT_MS);
    const finish = (s: tls.TLSSocket, error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reply({ type: 'done', id: m.id, ok: !error, error: error?.message });
      if (error) {
        s.destroy();
        return;
      }
      // A TLS 1.3 client's last flight (Certificate, CertificateVerify, Finished) may still sit
      // in the TLS layer when 'secureConnect' fires; destroy() would drop it and the peer would
      // never finish (nor verify our certificate), unlike with the agent, whose flight is in the
      // kernel before DONE. end() flushes it (plus a close_notify) before the FIN.
      s.end();
      setTimeout(() => s.destroy(), 2000).unref();
    };
    let t: tls.TLSSocket;
    if (m.role === 'server') {
      t = new tls.TLSSocket(socket, { isServer: true, secureContext: context('server', m.auth), ...nodeServerSocketOptions(m.auth, psk) });
      t.once('secure', () => finish(t));
    } else {
      t = tls.connect({ socket, secureContext: context('client', m.auth), ...nodeClientSocketOptions(m.auth, psk) });
      t.once('secureConnect', () => finish(t));
    }
    t.on('error', (e) => finish(t, e));
    t.once('close', () => finish(t, new Error('closed before the handshake completed')));
  });
  reply({ type: 'ready' });
}

if (require.main === module) runNodeAgent(JSON.parse(process.argv[2] ?? '{}') as BenchPsk);
