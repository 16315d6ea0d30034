/**
 * The real bindings behind the daemon: the TLS engine, libc, the record channel, kTLS, the
 * keyrings, the kernel's handshake family and the unix transport. Kept apart from
 * the daemon so tests can build a Daemon on a fake kernel with the same handshake code.
 */
import * as libc from '../sys/libc';
import { DEFAULT_KEYRINGS, KeyringLinker, findPskEntry, pskEntry, readKey } from './keyring';
import { installKtls, ktlsAvailable } from './ktls';
import { createClient, createServer } from '../tls';
import type { HandshakeEnv } from './handshake';
import { SocketReader } from './socket-reader';
import type { TransportFactory } from './transport';

/** One per process: handshakes share the session keyring, so links are counted (see KeyringLinker). */
const keyringLinker = new KeyringLinker();

/** Envs built by defaultHandshakeEnv() without overrides: what a worker thread builds for itself. */
const plainEnvs = new WeakSet<HandshakeEnv>();

/**
 * Whether handshakes on `env` may run in worker threads: only the plain default env, since a
 * worker cannot be handed functions (tests that override parts of it run on the main thread).
 */
export function isDefaultHandshakeEnv(env: HandshakeEnv): boolean {
  return plainEnvs.has(env);
}

/** The OS-facing parts every handshake uses, bound to libc and the engine. */
export function defaultHandshakeEnv(overrides: Partial<HandshakeEnv> = {}): HandshakeEnv {
  const env: HandshakeEnv = {
    createClient,
    createServer,
    sys: {
      protocol: (fd) => libc.getSocketProtocol(fd),
      peerAddress: (fd) => {
        try {
          return libc.getpeername(fd);
        } catch {
          return undefined;
        }
      },
      getNoDelay: (fd) => libc.getTcpNoDelay(fd),
      setNoDelay: (fd, on) => libc.setTcpNoDelay(fd, on),
      dup: (fd) => libc.dup(fd),
      close: (fd) => libc.close(fd),
      send: (fd, data) => {
        libc.send(fd, data, libc.MSG_DONTWAIT);
      },
    },
    openChannel: (fd) => new SocketReader(fd),
    ktls: {
      available: () => ktlsAvailable().available,
      install: (fd, secrets) => installKtls(fd, secrets),
    },
    keys: {
      linkKeyrings: (req, configured) =>
        keyringLinker.acquire(
          req.keyring !== undefined && req.keySerialsAllowed ? [req.keyring] : [],
          [...DEFAULT_KEYRINGS, ...configured],
        ),
      read: (serial) => readKey(serial),
      psk: (serial) => pskEntry(serial),
      findPsk: (identity) => findPskEntry(identity),
    },
    ...overrides,
  };
  if (Object.keys(overrides).length === 0) plainEnvs.add(env);
  return env;
}

/**
 * The kernel transport in every network namespace [handshaked] namespaces covers: the agent's
 * own link as before, any other namespace's socket created there by setns (netns.ts inPlace).
 * Its modules (the generic netlink client, the npm netlink socket) are loaded only here, so a
 * unix-only agent never loads them.
 */
export async function kernelNamespacesTransport(): Promise<TransportFactory> {
  const { KernelHandshakeLink } = await import('../netlink/kernel-link');
  const { namespacesTransport } = await import('./netns-transport');
  const { inPlace } = await import('./netns');
  return namespacesTransport({ linkFor: (place) => new KernelHandshakeLink({}, (create) => inPlace(place, create)) });
}

/** The unix transport, loaded only when asked for. */
export async function unixTransportFactory(): Promise<TransportFactory> {
  const { createUnixTransport } = await import('./unix-transport');
  return createUnixTransport;
}
