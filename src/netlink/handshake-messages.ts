/**
 * Typed helpers over the handshake family's messages, for the kernel link, the fake kernel and
 * the unix transport. Everything goes through the generic codec; these only give names and
 * TypeScript types to the plain attribute objects.
 */
import type { AttrObject } from './codec';
import { NLM_F_REQUEST, UNIX_TRANSPORT_FAMILY_ID } from './constants';
import { NetlinkFormatError } from './errors';
import { handshakeFamily } from './families/handshake';
import { type DecodedMessage, type Extack, decodeMessages, encodeError, encodeMessage, unixTransportFamilies } from './message';
import type { AcceptReply, AuthModeName, DoneArgs, MessageType } from './link';

/** The handshake parameters as the ACCEPT reply and the unix-transport READY carry them. */
export interface AcceptParams {
  messageType: MessageType;
  authMode: AuthModeName;
  timeout?: number;
  peerIdentity?: number[];
  certificate?: Array<{ cert: number; privkey: number }>;
  peername?: string;
  keyring?: number;
}

/**
 * Attributes of an ACCEPT reply in the order net/handshake/tlshd.c emits them (sockfd,
 * message-type, peername, timeout, keyring, auth-mode, then peer-identity or certificate).
 */
export function acceptReplyAttrs(sockfd: number | undefined, p: AcceptParams): AttrObject {
  const o: AttrObject = {};
  if (sockfd !== undefined) o.sockfd = sockfd;
  o['message-type'] = p.messageType;
  if (p.peername !== undefined) o.peername = p.peername;
  if (p.timeout) o.timeout = p.timeout;
  if (p.keyring) o.keyring = p.keyring;
  o['auth-mode'] = p.authMode;
  if (p.peerIdentity?.length) o['peer-identity'] = [...p.peerIdentity];
  if (p.certificate?.length) o.certificate = p.certificate.map((c) => ({ cert: c.cert, privkey: c.privkey }));
  return o;
}

/** An ACCEPT reply's attributes as the daemon's AcceptReply; throws when a required attribute is missing. */
export function toAcceptReply(attrs: AttrObject, offset = 0): AcceptReply {
  const params = toAcceptParams(attrs, offset);
  const sockfd = attrs.sockfd;
  if (typeof sockfd !== 'number') throw new NetlinkFormatError(offset, 'accept reply', 'no sockfd attribute');
  return {
    sockfd,
    messageType: params.messageType,
    authMode: params.authMode,
    timeout: params.timeout,
    peerIdentity: params.peerIdentity ?? [],
    certificate: params.certificate ?? [],
    peername: params.peername,
    keyring: params.keyring,
  };
}

/** Handshake parameters from accept-set attributes (ACCEPT reply or unix READY). */
export function toAcceptParams(attrs: AttrObject, offset = 0): AcceptParams {
  const mt = attrs['message-type'];
  if (mt !== 'clienthello' && mt !== 'serverhello') throw new NetlinkFormatError(offset, 'message-type', `missing or unusable (${String(mt)}); expected clienthello or serverhello`);
  const am = attrs['auth-mode'];
  if (am !== 'unauth' && am !== 'psk' && am !== 'x509') throw new NetlinkFormatError(offset, 'auth-mode', `missing or unusable (${String(am)}); expected unauth, psk or x509`);
  const p: AcceptParams = { messageType: mt, authMode: am };
  if (typeof attrs.timeout === 'number') p.timeout = attrs.timeout;
  if (typeof attrs.peername === 'string') p.peername = attrs.peername;
  if (typeof attrs.keyring === 'number') p.keyring = attrs.keyring;
  const pi = attrs['peer-identity'];
  if (Array.isArray(pi)) p.peerIdentity = pi.filter((x): x is number => typeof x === 'number');
  const certs = attrs.certificate;
  if (Array.isArray(certs)) {
    p.certificate = certs.map((c) => {
      const o = (typeof c === 'object' && c !== null && !Array.isArray(c) && !Buffer.isBuffer(c) ? c : {}) as AttrObject;
      return { cert: typeof o.cert === 'number' ? o.cert : 0, privkey: typeof o.privkey === 'number' ? o.privkey : 0 };
    });
  }
  return p;
}

/** DONE attributes: status, sockfd (omitted when undefined: the unix transport), remote-auth. */
export function doneAttrs(args: { status: number; sockfd?: number; remoteAuth?: number[] }): AttrObject {
  const o: AttrObject = { status: args.status };
  if (args.sockfd !== undefined) o.sockfd = args.sockfd;
  if (args.remoteAuth?.length) o['remote-auth'] = [...args.remoteAuth];
  return o;
}

export function fromDoneAttrs(attrs: AttrObject): Partial<DoneArgs> {
  const out: Partial<DoneArgs> = {};
  if (typeof attrs.status === 'number') out.status = attrs.status;
  if (typeof attrs.sockfd === 'number') out.sockfd = attrs.sockfd;
  const ra = attrs['remote-auth'];
  out.remoteAuth = Array.isArray(ra) ? ra.filter((x): x is number => typeof x === 'number') : [];
  return out;
}

// --- unix transport (docs/unix-transport.md) ---------------------------------------------------

/** Consumer → agent: READY (cmd 1) with the whole handshake context, nlmsg_seq = request id. */
export function encodeUnixReady(seq: number, p: AcceptParams): Buffer {
  return encodeMessage(
    { type: UNIX_TRANSPORT_FAMILY_ID, flags: NLM_F_REQUEST, seq, cmd: 'ready', version: 1, attrs: { 'handler-class': 'tlshd', ...acceptReplyAttrs(undefined, p) } },
    handshakeFamily,
  );
}

/** Agent → consumer: DONE (cmd 3) with status and remote-auth, nlmsg_seq echoed. */
export function encodeUnixDone(seq: number, status: number, remoteAuth: number[] = []): Buffer {
  return encodeMessage({ type: UNIX_TRANSPORT_FAMILY_ID, flags: 0, seq, cmd: 'done', version: 1, attrs: doneAttrs({ status, remoteAuth }) }, handshakeFamily);
}

/** Agent → consumer: NLMSG_ERROR with a negative errno and an extack message for a bad request. */
export function encodeUnixError(request: Buffer | { seq: number; type?: number; flags?: number }, errno: number, extack: Extack): Buffer {
  const req = Buffer.isBuffer(request) && request.length >= 16 ? request : { type: UNIX_TRANSPORT_FAMILY_ID, flags: NLM_F_REQUEST, seq: 0, pid: 0, ...(Buffer.isBuffer(request) ? {} : request) };
  return encodeError({ error: -Math.abs(errno), request: req, pid: 0, extack });
}

/**
 * Decode one unix-transport packet (exactly one message). Unknown attributes and commands are
 * rejected, and attributes are read with the kernel's strict policy (consumers are untrusted):
 * the agent answers them with EINVAL and the NetlinkFormatError's text.
 */
export function decodeUnixPacket(packet: Buffer): DecodedMessage {
  const msgs = decodeMessages(packet, { families: unixTransportFamilies(), unknown: 'reject', strict: 'reject' });
  if (msgs.length !== 1) throw new NetlinkFormatError(0, 'packet', `holds ${msgs.length} messages; the unix transport carries exactly one per packet`);
  return msgs[0];
}
