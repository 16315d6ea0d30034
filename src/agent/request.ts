import type { AuthModeName } from '../netlink/link';
import { Errno } from '../sys/errno';

/**
 * The one shape every transport turns an upcall into, and the one result it sends back.
 * The kernel transport builds it from an ACCEPT reply, the unix transport from a READY packet.
 */

export type Role = 'client' | 'server';
/** The family's auth modes; the netlink layer owns the list. */
export type AuthMode = AuthModeName;

export interface HandshakeRequest {
  /** The connected TCP socket, as a file descriptor owned by the agent (closed after DONE). */
  fd: number;
  role: Role;
  auth: AuthMode;
  /** Server name (client role): a DNS name or an IP literal; used for SNI and verification. */
  peername?: string;
  /** Deadline in milliseconds from the kernel's timeout attribute; undefined = configured default. */
  timeoutMs?: number;
  /** PSK key serials (auth=psk). The server side may receive [0]: look up by the client's identity. */
  peerIdentities: number[];
  /** Certificate and private key as key serials (auth=x509), when the consumer named them. */
  certificate?: { cert: number; privkey: number };
  /** Keyring serial to search for keys (kernel 6.17+). */
  keyring?: number;
  /** Whether key serials in this request may be used (false for unprivileged unix-transport peers). */
  keySerialsAllowed: boolean;
  /**
   * The peer's address, when the transport has already checked the socket (SO_PROTOCOL is TCP,
   * getpeername answered) on receiving the request: the handshake then does not ask the kernel
   * again. Absent (the kernel transport), the handshake makes both checks itself.
   */
  peer?: PeerAddress;
}

/** The connected socket's remote end, as getpeername reports it. */
export interface PeerAddress {
  address: string;
  port: number;
  /** 'IPv4' or 'IPv6'. */
  family: string;
}

export interface HandshakeResult {
  /** 0 on success, else a positive errno (see Status). */
  status: number;
  /** Key serials the kernel consumer learns the peer by (PSK serial; 0xFFFFFFFF per verified client cert). */
  remoteAuth: number[];
}

/** Status codes as tlshd sends them to the kernel (positive errno values, x86-64/arm64 Linux). */
export const Status = {
  OK: 0,
  EIO: Errno.EIO,
  EACCES: Errno.EACCES,
  EINVAL: Errno.EINVAL,
  EOPNOTSUPP: Errno.EOPNOTSUPP,
  ETIMEDOUT: Errno.ETIMEDOUT,
  EKEYREJECTED: Errno.EKEYREJECTED,
} as const;

/** remote-auth value tlshd returns per verified client certificate (x509 server role). */
export const REMOTE_AUTH_X509_VERIFIED = 0xffffffff;
