/**
 * Netlink and generic-netlink wire constants (include/uapi/linux/netlink.h, genetlink.h).
 * Numbers only; the families themselves are data in ./families.
 */

export const NETLINK_GENERIC = 16;
export const SOL_NETLINK = 270;

export const NLMSG_HDRLEN = 16;
export const GENL_HDRLEN = 4;
export const NLA_HDRLEN = 4;

/** Control message types (below NLMSG_MIN_TYPE = 16, never a family id). */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLMSG_MIN_TYPE = 16;

/** nlmsg_flags, general. */
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_ECHO = 0x08;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP_FILTERED = 0x20;
/** nlmsg_flags for GET requests. */
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_ATOMIC = 0x400;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** nlmsg_flags on NLMSG_ERROR acks. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/** nla_type bits that are not part of the attribute type. */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** Extended-ack TLVs after an NLMSG_ERROR (enum nlmsgerr_attrs). */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;
export const NLMSGERR_ATTR_COOKIE = 3;
export const NLMSGERR_ATTR_POLICY = 4;
export const NLMSGERR_ATTR_MISS_TYPE = 5;
export const NLMSGERR_ATTR_MISS_NEST = 6;

/** Fixed id of the nlctrl family. */
export const GENL_ID_CTRL = 0x10;

/**
 * nlmsg_type of the unix transport (docs/unix-transport.md): the handshake
 * family's messages, with a fixed family id because there is no nlctrl to resolve one.
 */
export const UNIX_TRANSPORT_FAMILY_ID = 0x0100;

/** Netlink socket options (SOL_NETLINK). */
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_DROP_MEMBERSHIP = 2;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;

export function align4(n: number): number {
  // Arithmetic, not `& ~3`: lengths are u32 and a bitwise op would wrap 0xfffffffd.. to negative.
  return n + ((4 - (n % 4)) % 4);
}
