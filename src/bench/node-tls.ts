/**
 * Node's tls configured for the same handshake as the engine: one TLS 1.3 suite, one group, the
 * same certificates. Contexts are created once and shared (docs/platform.md: passing `ca` to
 * every tls.connect builds a new context per connection and costs ~0.4 ms of client CPU).
 */
import type net from 'node:net';
import tls from 'node:tls';
import type { CipherSuiteName, GroupName } from '../tls/api';
import { isHybrid } from '../tls/crypto/pq';
import type { BenchPki } from './pki';

/**
 * OpenSSL's group names (Node's `ecdhCurve`, `openssl -groups`). The hybrids need OpenSSL 3.5;
 * Node 20's OpenSSL 3.0 has no ML-KEM (nodeGroup refuses them).
 */
export const NODE_GROUP: Record<GroupName, string> = {
  x25519: 'X25519',
  secp256r1: 'P-256',
  secp384r1: 'P-384',
  x448: 'X448',
  secp521r1: 'P-521',
  ffdhe2048: 'ffdhe2048',
  ffdhe3072: 'ffdhe3072',
  ffdhe4096: 'ffdhe4096',
  ffdhe6144: 'ffdhe6144',
  ffdhe8192: 'ffdhe8192',
  X25519MLKEM768: 'X25519MLKEM768',
  SecP256r1MLKEM768: 'SecP256r1MLKEM768',
  SecP384r1MLKEM1024: 'SecP384r1MLKEM1024',
};

/** The name for Node's own tls; an error for a group its OpenSSL lacks. */
export function nodeGroup(group: GroupName): string {
  if (isHybrid(group) && !/^(3\.([5-9]|\d\d)|[4-9])/.test(process.versions.openssl)) {
    throw new Error(`Node's tls (OpenSSL ${process.versions.openssl}) does not support the ${group} group`);
  }
  return NODE_GROUP[group];
}

export interface HandshakeShape {
  suite: CipherSuiteName;
  group: GroupName;
  /** Fixture name of the server certificate (fixtures/pki/<cert>.chain.pem). */
  cert: string;
}

function base(shape: HandshakeShape): tls.SecureContextOptions {
  return { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: shape.suite, ecdhCurve: nodeGroup(shape.group) };
}

export function nodeServerOptions(shape: HandshakeShape, pki: BenchPki): tls.TlsOptions {
  return { ...base(shape), cert: pki.certPem, key: pki.keyPem };
}

export function nodeClientContext(shape: HandshakeShape, pki: BenchPki): tls.SecureContext {
  return tls.createSecureContext({ ...base(shape), ca: pki.caPem });
}

/**
 * Half-closes and waits for the server to close. Destroying right after the handshake would reset
 * the connection under a server still writing its session tickets, and Node's server then reports
 * the handshake as failed ("socket hang up") instead of completed.
 */
export function endGracefully(s: net.Socket, timeoutMs = 10000): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => s.destroy(), timeoutMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    s.on('error', () => undefined);
    s.resume();
    s.end();
  });
}

/** One Node client handshake on a shared context (chain and name verified); ends gracefully. */
export function nodeClientHandshake(port: number, ctx: tls.SecureContext): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', secureContext: ctx, rejectUnauthorized: true });
    s.once('secureConnect', () => {
      s.off('error', reject);
      void endGracefully(s).then(resolve);
    });
    s.once('error', (e) => {
      s.destroy();
      reject(e);
    });
  });
}

/** Runs `count` handshakes with at most `concurrency` in flight; counts failures instead of stopping. */
export async function runPool(count: number, concurrency: number, one: () => Promise<void>): Promise<{ ok: number; failed: number; firstError?: string }> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        await one();
        ok++;
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { ok, failed, firstError };
}
