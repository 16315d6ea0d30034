/**
 * Unix-transport request fuzz target: one packet from an untrusted consumer, with 0, 1 or 2
 * file descriptors of some kind, through the agent's request validation (parseUnixRequest) and,
 * when it is refused, through the NLMSG_ERROR the agent answers with (encodeUnixError, decoded
 * back). The property: a packet yields either a HandshakeRequest that is internally consistent,
 * or a refusal with a positive errno and a non-empty extack text that survives the round trip
 * through the reply; any other exception, or an inconsistent request, is a finding.
 *
 * Input layout: byte 0 chooses the fds (bits 0-1: how many, 3 → 1; bits 2-3: what the fd is:
 * a connected TCP socket, an unconnected one, a UDP socket, or not a socket at all) and byte 1
 * bit 0 whether key serials are allowed; the rest is the packet. The fd checks go through an
 * injected FdInspector, so the target never touches real descriptors.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HandshakeRequest } from '../../../src/agent/request';
import { type FdInspector, MAX_PEER_IDENTITIES, UnixRequestError, parseUnixRequest } from '../../../src/agent/unix-request';
import { decodeMessages } from '../../../src/netlink';
import { encodeUnixError } from '../../../src/netlink/handshake-messages';
import { parseHex } from '../../../src/netlink/inspect/input';
import { Errno } from '../../../src/sys/errno';
import { IPPROTO_TCP, SysError } from '../../../src/sys/libc';
import { FuzzFinding, type FuzzTarget } from './common';

const FD_BASE = 1000;
const FD_KINDS = ['tcp', 'tcp-unconnected', 'udp', 'not-a-socket'] as const;
type FdKind = (typeof FD_KINDS)[number];

function inspector(kind: FdKind): FdInspector {
  return {
    protocol: () => {
      if (kind === 'not-a-socket') throw new SysError('getsockopt', Errno.ENOTSOCK);
      return kind === 'udp' ? 17 : IPPROTO_TCP;
    },
    peer: () => {
      if (kind === 'tcp-unconnected') throw new SysError('getpeername', Errno.ENOTCONN);
      return { address: '192.0.2.1', port: 4420, family: 'IPv4' };
    },
  };
}

/** The two control bytes that precede a packet in this target's input. */
export function controlBytes(fdCount: 0 | 1 | 2, kind: FdKind, keySerialsAllowed: boolean): Buffer {
  return Buffer.from([fdCount | (FD_KINDS.indexOf(kind) << 2), keySerialsAllowed ? 1 : 0]);
}

function fail(target: string, why: string): never {
  throw new FuzzFinding(target, new Error(why));
}

function checkAccepted(target: string, r: ReturnType<typeof parseUnixRequest>, fds: number[], packet: Buffer, keySerialsAllowed: boolean): void {
  const q = r.request;
  if (fds.length !== 1 || q.fd !== fds[0]) fail(target, `accepted a request with ${fds.length} fd(s) / fd ${q.fd}`);
  if (r.seq !== packet.readUInt32LE(8)) fail(target, `request id ${r.seq} is not the packet's nlmsg_seq`);
  if (q.role !== 'client' && q.role !== 'server') fail(target, `role ${String(q.role)}`);
  if (!['unauth', 'psk', 'x509'].includes(q.auth)) fail(target, `auth ${String(q.auth)}`);
  if (q.role === 'server' && q.auth === 'unauth') fail(target, 'accepted an unauthenticated server request');
  if (q.peerIdentities.length > MAX_PEER_IDENTITIES) fail(target, `${q.peerIdentities.length} peer identities accepted`);
  if (q.auth === 'psk' && q.role === 'client' && q.peerIdentities.length === 0) fail(target, 'accepted a PSK client request without a key serial');
  if (q.keySerialsAllowed !== keySerialsAllowed) fail(target, 'keySerialsAllowed changed');
  if (q.timeoutMs !== undefined && !(Number.isInteger(q.timeoutMs) && q.timeoutMs > 0)) fail(target, `timeout ${q.timeoutMs}`);
}

function checkRefused(target: string, e: UnixRequestError, packet: Buffer): void {
  if (!(Number.isInteger(e.errno) && e.errno > 0 && e.errno < 4096)) fail(target, `refusal errno ${e.errno}`);
  if (!e.message) fail(target, 'refusal without a message');
  // What the agent sends back (unix-transport.ts refuse()): it must decode as NLMSG_ERROR with the
  // negated errno and the extack text, and echo the request id when there was a header to echo.
  const header = packet.length >= 16 ? packet.subarray(0, 16) : { seq: 0 };
  const reply = encodeUnixError(header, e.errno, { msg: e.message, ...(e.offset !== undefined ? { offset: e.offset } : {}) });
  const msgs = decodeMessages(reply, { families: new Map() });
  const m = msgs[0];
  if (msgs.length !== 1 || m.kind !== 'error') fail(target, `reply decodes as ${msgs.map((x) => x.kind).join(', ')}`);
  if (m.error !== -e.errno) fail(target, `reply error ${m.error}, expected ${-e.errno}`);
  if (m.extack.msg !== e.message) fail(target, `reply extack ${JSON.stringify(m.extack.msg)} lost the message`);
  if (packet.length >= 16 && m.request.seq !== packet.readUInt32LE(8)) fail(target, 'reply does not echo the request id');
}

/** What the validation made of an input: the accepted request, or the refusal (both already checked). */
export type UnixRequestOutcome = { accepted: HandshakeRequest } | { refused: UnixRequestError } | undefined;

export function runUnixRequest(name: string, data: Buffer): UnixRequestOutcome {
  if (data.length < 2) return undefined;
  const bits = data[0] & 3;
  const count = bits === 3 ? 1 : bits;
  const kind = FD_KINDS[(data[0] >> 2) & 3];
  const keySerialsAllowed = (data[1] & 1) === 1;
  const packet = data.subarray(2);
  const fds = Array.from({ length: count }, (_, i) => FD_BASE + i);
  let parsed;
  try {
    parsed = parseUnixRequest(packet, fds, keySerialsAllowed, inspector(kind));
  } catch (e) {
    if (e instanceof UnixRequestError) {
      checkRefused(name, e, packet);
      return { refused: e };
    }
    throw new FuzzFinding(name, e);
  }
  checkAccepted(name, parsed, fds, packet, keySerialsAllowed);
  return { accepted: parsed.request };
}

export const unixRequest: FuzzTarget = {
  name: 'unix-request',
  about: 'a unix-transport READY packet and its SCM_RIGHTS fds from an untrusted consumer',
  fuzz(data) {
    runUnixRequest(this.name, data);
  },
};

/**
 * Seeds: the unix-transport netlink fixtures (fixtures/netlink/unix-*.hex) with each fd count and
 * kind, so the fuzzer starts from a valid READY and reaches every check.
 */
export function unixRequestSeeds(netlinkFixtures: string): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const f of fs.readdirSync(netlinkFixtures).filter((x) => /^unix-.*\.hex$/.test(x)).sort()) {
    const packet = parseHex(fs.readFileSync(path.join(netlinkFixtures, f), 'utf8'));
    const base = f.replace(/\.hex$/, '');
    for (const n of [0, 1, 2] as const) out.push([`${base}.fds${n}`, Buffer.concat([controlBytes(n, 'tcp', true), packet])]);
    for (const kind of FD_KINDS.slice(1)) out.push([`${base}.${kind}`, Buffer.concat([controlBytes(1, kind, false), packet])]);
  }
  return out;
}
