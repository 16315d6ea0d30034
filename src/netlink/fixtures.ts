/**
 * The recorded netlink fixtures (fixtures/netlink/): every handshake command and attribute in
 * both directions, with values from docs/kernel-interface.md, plus nlctrl, errors and the unix
 * transport. `node dist/netlink/fixtures.js [DIR]` (scripts/gen-netlink-fixtures.sh) writes them;
 * tests compare the files with this table, so the two cannot drift apart.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AttrObject } from './codec';
import { NLM_F_ACK, NLM_F_MULTI, NLM_F_REQUEST, UNIX_TRANSPORT_FAMILY_ID } from './constants';
import { handshakeFamily } from './families/handshake';
import { nlctrlFamily } from './families/nlctrl';
import { acceptReplyAttrs, encodeUnixDone, encodeUnixError, encodeUnixReady, type AcceptParams } from './handshake-messages';
import { writePcap } from './inspect/input';
import { encodeDone, encodeError, encodeMessage } from './message';

/** The handshake family id used throughout the fixtures (dynamic on a real kernel). */
export const FIXTURE_FAMILY_ID = 0x1d;
/** Global multicast group ids of none and tlshd in the fixtures. */
const FIXTURE_GROUP_IDS = { none: 11, tlshd: 12 } as const;
/** The agent's netlink port. */
const FIXTURE_PORT = 4242;

export interface Fixture {
  /** File name without extension. */
  name: string;
  description: string;
  /** 'out': user space → kernel (or consumer → agent); 'in': the other way. */
  direction: 'in' | 'out';
  bytes: Buffer;
  /** For generic-netlink messages: family, command and attributes the decoder must give back. */
  expect?: { family: string; cmd: string; attrs: AttrObject };
}

const SERIAL = { cert: 0x2f4a9c01, privkey: 0x2f4a9c02, psk: [0x1e2d3c4b, 0x1e2d3c4c, 0x1e2d3c4d], keyring: 0x0c5f1e77 };

const hs = (name: string, description: string, direction: Fixture['direction'], h: { flags: number; seq: number; pid: number }, cmd: string, attrs: AttrObject): Fixture => ({
  name,
  description,
  direction,
  bytes: encodeMessage({ type: FIXTURE_FAMILY_ID, ...h, cmd, attrs }, handshakeFamily),
  expect: { family: 'handshake', cmd, attrs },
});

const ctrl = (name: string, description: string, direction: Fixture['direction'], h: { flags: number; seq: number; pid: number }, cmd: string, attrs: AttrObject): Fixture => ({
  name,
  description,
  direction,
  bytes: encodeMessage({ type: 0x10, ...h, cmd, attrs }, nlctrlFamily),
  expect: { family: 'nlctrl', cmd, attrs },
});

/** ACCEPT replies for the five consumer APIs (docs/kernel-interface.md). */
const CONSUMER_APIS: Array<{ name: string; api: string; params: AcceptParams }> = [
  { name: 'accept-reply-client-anon', api: 'tls_client_hello_anon (NFS xprtsec=tls)', params: { messageType: 'clienthello', authMode: 'unauth', peername: 'nfs.example.net' } },
  {
    name: 'accept-reply-client-x509',
    api: 'tls_client_hello_x509 (NFS xprtsec=mtls with cert_serial/privkey_serial)',
    params: { messageType: 'clienthello', authMode: 'x509', peername: 'nfs.example.net', certificate: [{ cert: SERIAL.cert, privkey: SERIAL.privkey }] },
  },
  {
    name: 'accept-reply-client-psk',
    api: 'tls_client_hello_psk (NVMe/TCP host, nvme connect --tls)',
    params: { messageType: 'clienthello', authMode: 'psk', timeout: 10000, keyring: SERIAL.keyring, peerIdentity: SERIAL.psk },
  },
  { name: 'accept-reply-server-x509', api: 'tls_server_hello_x509 (NFSD, exports xprtsec=tls:mtls)', params: { messageType: 'serverhello', authMode: 'x509' } },
  {
    name: 'accept-reply-server-psk',
    api: 'tls_server_hello_psk (NVMe/TCP target, addr_tsas=tls1.3)',
    params: { messageType: 'serverhello', authMode: 'psk', timeout: 10000, keyring: SERIAL.keyring, peerIdentity: [0] },
  },
];

const DONE_STATUSES: Array<[string, number, number[]]> = [
  ['done-ok-psk', 0, [SERIAL.psk[0]]],
  ['done-ok-x509-server', 0, [0xffffffff]],
  ['done-ok-remote-auth-multi', 0, [SERIAL.psk[0], SERIAL.psk[1], 0xffffffff]],
  ['done-eacces', 13, []],
  ['done-etimedout', 110, []],
  ['done-ekeyrejected', 129, []],
  ['done-eio', 5, []],
  ['done-eopnotsupp', 95, []],
];

export function buildFixtures(): Fixture[] {
  const out: Fixture[] = [];
  const agent = (seq: number, flags = NLM_F_REQUEST) => ({ flags, seq, pid: FIXTURE_PORT });
  const reply = (seq: number, flags = 0) => ({ flags, seq, pid: FIXTURE_PORT });

  out.push(ctrl('getfamily-request', 'nlctrl CTRL_CMD_GETFAMILY for "handshake" (agent → kernel)', 'out', agent(1, NLM_F_REQUEST | NLM_F_ACK), 'getfamily', { 'family-name': 'handshake' }));
  out.push(
    ctrl('getfamily-reply', 'nlctrl reply: family id and multicast groups none/tlshd (kernel → agent)', 'in', reply(1), 'newfamily', {
      'family-name': 'handshake',
      'family-id': FIXTURE_FAMILY_ID,
      version: 1,
      hdrsize: 0,
      maxattr: 9,
      ops: [
        { id: 2, flags: 0x0b },
        { id: 3, flags: 0x0a },
      ],
      'mcast-groups': [
        { name: 'none', id: FIXTURE_GROUP_IDS.none },
        { name: 'tlshd', id: FIXTURE_GROUP_IDS.tlshd },
      ],
    }),
  );
  out.push(hs('ready', 'READY notification, multicast to group tlshd (kernel → agent)', 'in', { flags: 0, seq: 0, pid: 0 }, 'ready', { 'handler-class': 'tlshd' }));
  out.push(hs('accept-request', 'ACCEPT request for handler class tlshd (agent → kernel)', 'out', agent(2, NLM_F_REQUEST | NLM_F_ACK), 'accept', { 'handler-class': 'tlshd' }));
  CONSUMER_APIS.forEach((c, i) => out.push(hs(c.name, `ACCEPT reply for ${c.api} (kernel → agent)`, 'in', reply(2), 'accept', acceptReplyAttrs(7 + i, c.params))));
  for (const [name, status, remoteAuth] of DONE_STATUSES) {
    const attrs: AttrObject = { status, sockfd: 7 };
    if (remoteAuth.length) attrs['remote-auth'] = remoteAuth;
    out.push(hs(name, `DONE status ${status}${remoteAuth.length ? `, remote-auth ×${remoteAuth.length}` : ''} (agent → kernel)`, 'out', agent(3, NLM_F_REQUEST | NLM_F_ACK), 'done', attrs));
  }
  const doneWithTag = hs('done-with-tag', 'DONE with the not-mainline tag attribute (4): a strict kernel refuses it (agent → kernel)', 'out', agent(4, NLM_F_REQUEST | NLM_F_ACK), 'done', {
    status: 0,
    sockfd: 7,
    'unknown-4': Buffer.from('6e667300', 'hex'),
  });
  out.push(doneWithTag);
  out.push({
    name: 'error-extack',
    description: 'NLMSG_ERROR -EINVAL with extended ack (message, bad-attribute offset) answering done-with-tag (kernel → agent)',
    direction: 'in',
    bytes: encodeError({ error: -22, request: doneWithTag.bytes, pid: FIXTURE_PORT, extack: { msg: 'Unknown attribute type', offset: 36 } }),
  });
  out.push({
    name: 'error-eagain',
    description: 'NLMSG_ERROR -EAGAIN: ACCEPT with nothing pending (kernel → agent)',
    direction: 'in',
    bytes: encodeError({ error: -11, request: out.find((f) => f.name === 'accept-request')!.bytes, pid: FIXTURE_PORT }),
  });
  out.push({
    name: 'ack',
    description: 'NLMSG_ERROR 0 (ACK) for a DONE (kernel → agent)',
    direction: 'in',
    bytes: encodeError({ error: 0, request: out.find((f) => f.name === 'done-ok-psk')!.bytes, pid: FIXTURE_PORT }),
  });
  const policySeq = 5;
  const pol = (attrs: AttrObject) => encodeMessage({ type: 0x10, flags: NLM_F_MULTI, seq: policySeq, pid: FIXTURE_PORT, cmd: 'getpolicy', attrs: { 'family-id': FIXTURE_FAMILY_ID, ...attrs } }, nlctrlFamily);
  out.push(ctrl('getpolicy-request', 'nlctrl CTRL_CMD_GETPOLICY dump for op DONE (agent → kernel)', 'out', agent(policySeq, NLM_F_REQUEST | NLM_F_ACK | 0x300), 'getpolicy', { 'family-id': FIXTURE_FAMILY_ID, op: 3 }));
  out.push({
    name: 'getpolicy-reply',
    description: 'multipart GETPOLICY reply: DONE accepts status (≤ 4095), sockfd, remote-auth; ends with NLMSG_DONE (kernel → agent)',
    direction: 'in',
    bytes: Buffer.concat([
      pol({ 'op-policy': { '3': { do: 0 } } }),
      pol({ policy: { '0': { '1': { type: 'u32', 'min-value-u': 0, 'max-value-u': 4095 } } } }),
      pol({ policy: { '0': { '2': { type: 's32' } } } }),
      pol({ policy: { '0': { '3': { type: 'u32' } } } }),
      encodeDone({ seq: policySeq, pid: FIXTURE_PORT }),
    ]),
  });
  const unixParams: AcceptParams = { messageType: 'clienthello', authMode: 'x509', peername: 'storage.example.net', timeout: 5000, certificate: [{ cert: SERIAL.cert, privkey: SERIAL.privkey }] };
  out.push({
    name: 'unix-ready',
    description: 'unix transport: READY with the whole handshake context, request id 101 (consumer → agent)',
    direction: 'out',
    bytes: encodeUnixReady(101, unixParams),
    expect: { family: 'handshake', cmd: 'ready', attrs: { 'handler-class': 'tlshd', ...acceptReplyAttrs(undefined, unixParams) } },
  });
  out.push({
    name: 'unix-done',
    description: 'unix transport: DONE status 0 with remote-auth, request id 101 echoed (agent → consumer)',
    direction: 'in',
    bytes: encodeUnixDone(101, 0, [0xffffffff]),
    expect: { family: 'handshake', cmd: 'done', attrs: { status: 0, 'remote-auth': [0xffffffff] } },
  });
  out.push({
    name: 'unix-error',
    description: 'unix transport: NLMSG_ERROR -EINVAL with an extack message for a request without a socket (agent → consumer)',
    direction: 'in',
    bytes: encodeUnixError({ seq: 102, type: UNIX_TRANSPORT_FAMILY_ID, flags: NLM_F_REQUEST }, 22, { msg: 'READY needs exactly one fd in SCM_RIGHTS, got 0' }),
  });
  return out;
}

/** The order of one whole upcall, as an nlmon capture would show it. */
export const CAPTURE_SEQUENCE = ['getfamily-request', 'getfamily-reply', 'ready', 'accept-request', 'accept-reply-client-psk', 'done-ok-psk', 'ack', 'accept-request', 'error-eagain'];

function buildCapture(fixtures: Fixture[]): Buffer {
  const byName = new Map(fixtures.map((f) => [f.name, f]));
  return writePcap(CAPTURE_SEQUENCE.map((n, i) => ({ bytes: byName.get(n)!.bytes, outgoing: byName.get(n)!.direction === 'out', time: 1750000000 + i / 100 })));
}

/** Hex file text: a comment line, then the message as rows of 16 bytes. */
export function hexFile(f: Fixture): string {
  const rows: string[] = [];
  for (let i = 0; i < f.bytes.length; i += 16) rows.push([...f.bytes.subarray(i, i + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' '));
  return `# ${f.description}\n# handshake family id 0x${FIXTURE_FAMILY_ID.toString(16)} (pass --family-id 0x${FIXTURE_FAMILY_ID.toString(16)} to inspect decode)\n${rows.join('\n')}\n`;
}

function writeFixtures(dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const fixtures = buildFixtures();
  const written: string[] = [];
  for (const f of fixtures) {
    const p = path.join(dir, `${f.name}.hex`);
    fs.writeFileSync(p, hexFile(f));
    written.push(p);
  }
  const pcap = path.join(dir, 'upcall.pcap');
  fs.writeFileSync(pcap, buildCapture(fixtures));
  written.push(pcap);
  return written;
}

if (require.main === module) {
  const dir = process.argv[2] ?? path.join(__dirname, '..', '..', 'fixtures', 'netlink');
  for (const p of writeFixtures(dir)) process.stdout.write(`${p}\n`);
}
