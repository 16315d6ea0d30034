/**
 * What the genl client needs from a netlink socket: datagrams in and out, multicast
 * membership. Implemented by the kernel socket (npm `netlink`) and by the fake kernel.
 */
export interface NetlinkTransport {
  /** Our port id (nlmsg_pid of our requests). */
  readonly port: number;
  /** Send one datagram (one or more netlink messages) to the kernel. */
  send(datagram: Buffer): void;
  /** Every datagram the kernel sends us, in order. */
  onDatagram(listener: (datagram: Buffer) => void): void;
  /** Socket errors, e.g. ENOBUFS when notifications were dropped. */
  onError(listener: (err: Error & { code?: string }) => void): void;
  /** Join a multicast group by its global id (NETLINK_ADD_MEMBERSHIP). */
  addMembership(groupId: number): void;
  close(): void;
}
