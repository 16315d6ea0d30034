/**
 * One unix-transport packet (docs/unix-transport.md) → a HandshakeRequest, or
 * the reason it is refused: an errno for the NLMSG_ERROR and an extack text naming what is
 * wrong (and the byte offset of the attribute at fault when there is one).
 *
 * Checks, in this order: the packet fit the receive buffer; it is one netlink message of type
 * 0x0100 with NLM_F_REQUEST, genl version 1, reserved 0; the command is READY; handler-class
 * is tlshd; no sockfd attribute (the fd travels in SCM_RIGHTS); message-type and auth-mode are
 * present and valid; PSK requests name 1..5 identities; exactly one fd came with it; the fd is
 * a connected TCP socket. The caller closes every received fd when this returns an error.
 */
import { NLM_F_ACK, NLM_F_ECHO, NLM_F_REQUEST, UNIX_TRANSPORT_FAMILY_ID } from '../netlink/constants';
import { NetlinkFormatError } from '../netlink/errors';
import { handshakeFamily } from '../netlink/families/handshake';
import { decodeUnixPacket, toAcceptParams } from '../netlink/handshake-messages';
import type { GenlMessage, NlHeader } from '../netlink/message';
import type { OpDef } from '../netlink/spec';
import { Errno } from '../sys/errno';
import { IPPROTO_TCP, SysError, getSocketProtocol, getpeername } from '../sys/libc';
import type { HandshakeRequest, PeerAddress } from './request';

/** Most PSK identities a request may name (the kernel's TLS_MAX_PEERIDS). */
export const MAX_PEER_IDENTITIES = 5;

export class UnixRequestError extends Error {
  readonly code = 'EUNIXREQUEST';
  constructor(
    /** Positive errno; sent negated in the NLMSG_ERROR. */
    readonly errno: number,
    message: string,
    /** Byte offset in the request of the attribute at fault. */
    readonly offset?: number,
  ) {
    super(message);
    this.name = 'UnixRequestError';
  }
}

export interface ParsedUnixRequest {
  /** nlmsg_seq: the consumer's request id. */
  seq: number;
  request: HandshakeRequest;
}

/** The OS checks of the passed fd, injectable so the validation can be tested on any fd kind. */
export interface FdInspector {
  protocol(fd: number): number;
  /** The peer's address; throws (ENOTCONN) when the socket is not connected. */
  peer(fd: number): PeerAddress;
}

export const libcFdInspector: FdInspector = {
  protocol: (fd) => getSocketProtocol(fd),
  peer: (fd) => {
    const { address, port, family } = getpeername(fd);
    return { address, port, family };
  },
};

/**
 * The header of a packet, when at least one can be read (for the NLMSG_ERROR's echo of it).
 * Undefined for packets shorter than a header.
 */
export function packetHeader(packet: Buffer): NlHeader | undefined {
  if (packet.length < 16) return undefined;
  return {
    len: packet.readUInt32LE(0),
    type: packet.readUInt16LE(4),
    flags: packet.readUInt16LE(6),
    seq: packet.readUInt32LE(8),
    pid: packet.readUInt32LE(12),
  };
}

const ALLOWED_FLAGS = NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO;

/** Decode and validate a packet and its fds. Throws UnixRequestError; never closes fds. */
export function parseUnixRequest(packet: Buffer, fds: readonly number[], keySerialsAllowed: boolean, inspect: FdInspector = libcFdInspector): ParsedUnixRequest {
  const msg = decodeAndCheckHeader(packet);
  let params;
  try {
    params = toAcceptParams(msg.attrs, msg.offset);
  } catch (e) {
    throw fromFormat(e);
  }
  const identities = params.peerIdentity?.length ?? 0;
  if (identities > MAX_PEER_IDENTITIES) throw new UnixRequestError(Errno.EINVAL, `peer-identity: ${identities} given, at most ${MAX_PEER_IDENTITIES} allowed`);
  if (params.authMode === 'psk' && params.messageType === 'clienthello' && identities === 0) {
    throw new UnixRequestError(Errno.EINVAL, 'auth-mode psk: a client request needs at least one peer-identity (PSK key serial)');
  }
  if ((params.certificate?.length ?? 0) > 1) throw new UnixRequestError(Errno.EINVAL, `certificate: ${params.certificate!.length} nests given, at most one allowed`);
  if (params.messageType === 'serverhello' && params.authMode === 'unauth') {
    throw new UnixRequestError(Errno.EINVAL, 'auth-mode unauth is for clients only: a server request needs x509 or psk');
  }
  const peer = checkFds(fds, inspect);
  const cert = params.certificate?.[0];
  return {
    seq: msg.header.seq,
    request: {
      fd: fds[0],
      role: params.messageType === 'clienthello' ? 'client' : 'server',
      auth: params.authMode,
      peername: params.peername === '' ? undefined : params.peername,
      timeoutMs: params.timeout && params.timeout > 0 ? params.timeout : undefined,
      peerIdentities: params.peerIdentity ?? [],
      certificate: cert && (cert.cert !== 0 || cert.privkey !== 0) ? { ...cert } : undefined,
      keyring: params.keyring ? params.keyring : undefined,
      keySerialsAllowed,
      peer,
    },
  };
}

function decodeAndCheckHeader(packet: Buffer): GenlMessage {
  const h = packetHeader(packet);
  if (!h) throw new UnixRequestError(Errno.EINVAL, `packet of ${packet.length} byte(s) is shorter than a 16-byte netlink header`);
  if (h.type !== UNIX_TRANSPORT_FAMILY_ID) {
    throw new UnixRequestError(Errno.EINVAL, `nlmsg_type 0x${h.type.toString(16).padStart(4, '0')} is not the unix transport's 0x0100`);
  }
  if (!(h.flags & NLM_F_REQUEST)) throw new UnixRequestError(Errno.EINVAL, 'nlmsg_flags lacks NLM_F_REQUEST');
  if (h.flags & ~ALLOWED_FLAGS) throw new UnixRequestError(Errno.EINVAL, `nlmsg_flags 0x${h.flags.toString(16)} has bits other than REQUEST, ACK and ECHO`);
  // The command decides the attribute set, so it is checked before any attribute is read: a
  // DONE's attributes would otherwise be reported as unknown instead of the DONE itself.
  const op = packet.length > 16 ? handshakeFamily.opsByValue.get(packet[16]) : undefined;
  if (op && op.name !== 'ready') throw new UnixRequestError(Errno.EOPNOTSUPP, notAConsumerRequest(op), 16);
  let msg;
  try {
    msg = decodeUnixPacket(packet);
  } catch (e) {
    throw fromFormat(e);
  }
  if (msg.kind !== 'genl') throw new UnixRequestError(Errno.EINVAL, 'not a generic-netlink message');
  if (msg.version !== 1) throw new UnixRequestError(Errno.EINVAL, `genlmsghdr.version ${msg.version}: the unix transport speaks version 1`, 17);
  if (msg.reserved !== 0) throw new UnixRequestError(Errno.EINVAL, `genlmsghdr.reserved is ${msg.reserved}, must be 0`, 18);
  if (msg.cmdName !== 'ready') {
    throw new UnixRequestError(Errno.EOPNOTSUPP, `command ${msg.cmdName ?? '?'} (${msg.cmd}) is not a consumer request: send READY (1)`, 16);
  }
  const hc = msg.attrs['handler-class'];
  if (hc === undefined) throw new UnixRequestError(Errno.EINVAL, 'missing attribute handler-class (2): must be tlshd (1)');
  if (hc !== 'tlshd') throw new UnixRequestError(Errno.EINVAL, `handler-class: ${handlerClassText(hc)}; must be tlshd (1)`);
  if (msg.attrs.sockfd !== undefined) throw new UnixRequestError(Errno.EINVAL, 'attribute sockfd (1) is not sent on the unix transport: pass the socket with SCM_RIGHTS');
  return msg;
}

/** Why a command other than READY is refused, in terms of who sends that command. */
function notAConsumerRequest(op: OpDef): string {
  const who = op.name === 'accept' ? 'is what an agent sends the kernel' : "is the agent's reply";
  return `command ${op.name} (${op.value}) ${who}, not a consumer request: send READY (1)`;
}

/**
 * The handler-class enum is none (0), tlshd (1), then max (2), which is the enum's end marker
 * (the count of classes), not a class: name each value for what it is.
 */
function handlerClassText(hc: unknown): string {
  if (hc === 'none') return 'none (0) names no handler';
  if (hc === 'max') return '2 is the end-of-enum marker (HANDSHAKE_HANDLER_CLASS_MAX), not a handler class';
  return `${String(hc)} is not a handler class`;
}

/** The one fd is a connected TCP socket: its peer's address, for the handshake to reuse. */
function checkFds(fds: readonly number[], inspect: FdInspector): PeerAddress {
  if (fds.length === 0) throw new UnixRequestError(Errno.EBADF, 'no file descriptor: attach the connected TCP socket with SCM_RIGHTS');
  if (fds.length > 1) throw new UnixRequestError(Errno.EINVAL, `${fds.length} file descriptors attached: exactly one (the TCP socket) is expected`);
  let proto: number;
  try {
    proto = inspect.protocol(fds[0]);
  } catch (e) {
    const code = e instanceof SysError ? e.code : 'error';
    throw new UnixRequestError(Errno.EOPNOTSUPP, `the attached file descriptor is not a socket (${code}): a connected TCP socket is expected`);
  }
  if (proto !== IPPROTO_TCP) throw new UnixRequestError(Errno.EOPNOTSUPP, `the attached socket is not TCP (protocol ${proto}): a connected TCP socket is expected`);
  try {
    return inspect.peer(fds[0]);
  } catch (e) {
    const code = e instanceof SysError ? e.code : 'error';
    throw new UnixRequestError(Errno.ENOTCONN, `the attached TCP socket is not connected (${code})`);
  }
}

function fromFormat(e: unknown): UnixRequestError {
  if (e instanceof NetlinkFormatError) return new UnixRequestError(Errno.EINVAL, `${e.field}: ${e.problem}`, e.offset);
  if (e instanceof UnixRequestError) return e;
  return new UnixRequestError(Errno.EINVAL, e instanceof Error ? e.message : String(e));
}
