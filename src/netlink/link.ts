/**
 * What the daemon needs from the kernel's `handshake` family, independent of how it is reached:
 * the real kernel (generic netlink through npm `netlink`) or the fake kernel used in tests.
 */

export type MessageType = 'clienthello' | 'serverhello';
export type AuthModeName = 'unauth' | 'psk' | 'x509';

/** A decoded ACCEPT reply (docs/kernel-interface.md). Unknown attributes are ignored. */
export interface AcceptReply {
  sockfd: number;
  messageType: MessageType;
  authMode: AuthModeName;
  /** Milliseconds; absent when the consumer set none. */
  timeout?: number;
  /** Every peer-identity attribute, in order (repeated attribute). */
  peerIdentity: number[];
  /** Every certificate nest, in order (the kernel sends at most one today). */
  certificate: Array<{ cert: number; privkey: number }>;
  peername?: string;
  keyring?: number;
}

export interface DoneArgs {
  sockfd: number;
  /** 0 or a positive errno. */
  status: number;
  remoteAuth: number[];
}

/** A kernel error reply, named by errno (EAGAIN, EPERM, ENOENT, ...). */
export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    readonly code: string,
    message: string,
    /** The extended-ack message string, when the kernel sent one. */
    readonly extack?: string,
  ) {
    super(message);
    this.name = 'NetlinkError';
  }
}

export interface HandshakeFamilyLink {
  /** Resolve the family and join multicast group `tlshd`. ENOENT when the kernel lacks the family. */
  open(): Promise<void>;
  /** Called on every READY notification for handler class tlshd, and after ENOBUFS (lost notifications). */
  onReady(listener: () => void): void;
  /** One ACCEPT for handler class tlshd; null when nothing is pending (EAGAIN). Other errors throw NetlinkError. */
  accept(): Promise<AcceptReply | null>;
  /** Send DONE and wait for the kernel's ack; errors throw NetlinkError. */
  done(args: DoneArgs): Promise<void>;
  /** Names of the DONE attributes the kernel's policy accepts (nlctrl GETPOLICY), e.g. status, sockfd, remote-auth. */
  doneAttributes(): Promise<Set<string>>;
  /**
   * Before open(): be told of each handshake-family attribute from the kernel that a strict
   * policy reading would refuse; the message is still used as the kernel sent it.
   */
  onLenient?(listener: (what: string) => void): void;
  close(): void;
}
