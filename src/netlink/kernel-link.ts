/**
 * The real kernel: a NETLINK_GENERIC socket from npm `netlink` (its lowest, raw layer: we frame
 * and parse every byte ourselves with ./message, so request/ACK matching by sequence number and
 * extack handling are ours, not the library's).
 *
 * Limitation: npm `netlink` exposes no setsockopt, so NETLINK_EXT_ACK and NETLINK_CAP_ACK stay
 * off; kernel errors then carry an errno but no extack text.
 */
import { RawNetlinkSocket } from 'netlink';
import { NETLINK_GENERIC } from './constants';
import { GenlClient, type ResolvedFamily } from './genl-client';
import { GenlHandshakeLink, type HandshakeLinkOptions } from './handshake-link';
import type { FamilySpec } from './spec';
import type { NetlinkTransport } from './transport';

/** A NetlinkTransport on a real NETLINK_GENERIC socket. */
export class KernelNetlinkTransport implements NetlinkTransport {
  private readonly sock: RawNetlinkSocket;
  readonly port: number;

  /**
   * @param keepAlive hold the event loop open while the socket is open (a daemon waiting for
   *                  notifications); false for one-shot requests (the socket is still usable).
   */
  constructor(keepAlive = true) {
    this.sock = new RawNetlinkSocket(NETLINK_GENERIC, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 16 });
    if (!keepAlive) this.sock.unref();
    this.port = this.sock.address().port;
  }

  send(datagram: Buffer): void {
    this.sock.send(datagram, { port: 0 });
  }
  onDatagram(listener: (d: Buffer) => void): void {
    this.sock.on('message', (msg) => listener(msg));
  }
  onError(listener: (e: Error & { code?: string }) => void): void {
    this.sock.on('error', (e) => listener(e));
  }
  addMembership(groupId: number): void {
    this.sock.addMembership(groupId);
  }
  close(): void {
    this.sock.close();
  }
}

/**
 * Runs the socket's creation: the agent passes one that enters another network namespace for
 * the moment (a netlink socket belongs to the namespace it was created in for its whole life).
 */
export type SocketCreation = <T>(create: () => T) => T;

/** HandshakeFamilyLink on the running kernel (Linux 6.5+ with CONFIG_NET_HANDSHAKE). */
export class KernelHandshakeLink extends GenlHandshakeLink {
  constructor(
    opts: HandshakeLinkOptions = {},
    private readonly creation?: SocketCreation,
  ) {
    super(opts);
  }
  protected openTransport(): NetlinkTransport {
    return this.creation ? this.creation(() => new KernelNetlinkTransport(true)) : new KernelNetlinkTransport(true);
  }
}

/** Resolve one generic-netlink family on this kernel (a short-lived socket). ENOENT as NetlinkError when absent. */
export async function resolveKernelFamily(name: string, spec?: FamilySpec): Promise<ResolvedFamily> {
  const client = new GenlClient(new KernelNetlinkTransport(false));
  try {
    return await client.resolveFamily(name, spec);
  } finally {
    client.close();
  }
}
