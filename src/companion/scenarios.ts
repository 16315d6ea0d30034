/**
 * What `companion agent-test` runs: every scenario is a TCP connection whose one end goes to the
 * agent with the scenario's parameters and whose other end a real peer drives, plus the expected
 * DONE. Malformed upcall messages are listed separately (no peer, an NLMSG_ERROR expected).
 */
import type { HandshakeParams } from '../client';
import { NLM_F_REQUEST, UNIX_TRANSPORT_FAMILY_ID } from '../netlink/constants';
import { handshakeFamily } from '../netlink/families/handshake';
import { encodeUnixReady } from '../netlink/handshake-messages';
import { encodeMessage } from '../netlink/message';
import { Errno } from '../sys/errno';
import type { Pki } from './pki';
import { engineUnknownPskServer, nodePskClient, nodePskServer, opensslPskClient, opensslPskServer } from './psk-peers';
import type { PskKeys, PskName } from './psk-keys';
import net from 'node:net';
import { type Link, type LinkFactory, type Misbehaviour, type Peer, fdOf, gnutlsClient, haveCommand, misbehavingPeer, nodeClient, nodeServer, opensslClient } from './peers';

export const SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_CCM_SHA256'] as const;

export const { EACCES, ETIMEDOUT, EKEYREJECTED } = Errno;
export const X509_VERIFIED = 0xffffffff;

export interface Env {
  pki: Pki;
  links: LinkFactory;
  /** The companion's PSKs in their keyring (created for the run when a PSK case is selected); throws when they could not be made. */
  psks(): PskKeys;
}

/** The consumer's end (fd to the agent) and the peer on the other end. */
export interface Setup {
  link: Pick<Link, 'agentEnd' | 'fd' | 'close'>;
  peer: Peer;
  /** Request parameters known only once the set-up ran (PSK key serials, the keyring). */
  params?: HandshakeParams;
  /** The remote-auth expected, when it depends on the set-up (the serial of the PSK used). */
  remoteAuth?: number[];
}

export interface Scenario {
  name: string;
  params: HandshakeParams;
  setup(env: Env): Promise<Setup>;
  status: number;
  /** Exact list, or 'x509-verified': 1..5 entries, each 0xFFFFFFFF (one per verified client certificate, as tlshd). */
  remoteAuth?: number[] | 'x509-verified';
  /** Check the session keys (kTLS data or key logs) after status 0. */
  keyCheck: boolean;
  /** Skip with this reason (shown as KTAP SKIP). */
  skip?: string;
  /** Needs the companion's PSK keyring. */
  psk?: boolean;
}

function inproc(make: (link: Link, env: Env) => Peer) {
  return async (env: Env): Promise<Setup> => {
    const link = await env.links.link();
    return { link, peer: make(link, env) };
  };
}

function processClient(make: (port: number, env: Env) => Peer) {
  return async (env: Env): Promise<Setup> => {
    const accepted = env.links.nextAccepted();
    const peer = make(env.links.port, env);
    let agentEnd;
    try {
      agentEnd = await accepted;
    } catch (e) {
      peer.destroy();
      throw e;
    }
    return { link: { agentEnd, fd: fdOf(agentEnd), close: () => agentEnd.destroy() }, peer };
  };
}

/**
 * A peer that is a listening process (openssl s_server): the companion connects the link's peer
 * end to it and relays bytes both ways, so the agent's end stays a socket nobody else reads.
 */
function processServer(start: (env: Env) => Promise<{ peer: Peer; port: number }>) {
  return async (env: Env): Promise<Setup> => {
    const { peer, port } = await start(env);
    let link: Link;
    try {
      link = await env.links.link();
    } catch (e) {
      peer.destroy();
      throw e;
    }
    const upstream = net.connect(port, '127.0.0.1');
    upstream.on('error', () => link.peerEnd.destroy());
    link.peerEnd.pipe(upstream);
    upstream.pipe(link.peerEnd);
    return {
      link: {
        agentEnd: link.agentEnd,
        fd: link.fd,
        close: () => {
          upstream.destroy();
          link.close();
        },
      },
      peer,
    };
  };
}

function misbehaving(kind: Misbehaviour) {
  return inproc((link) => misbehavingPeer(link, kind));
}

export function handshakeScenarios(suites: readonly string[]): Scenario[] {
  const out: Scenario[] = [];
  for (const suite of suites) {
    const s = suite;
    out.push(
      {
        name: `client_unauth_${s}`,
        params: { role: 'client', auth: 'unauth', peername: 'localhost' },
        setup: inproc((link, env) => nodeServer(link, { suite: s, identity: env.pki.leaf('server-p256'), ca: env.pki.ca })),
        status: 0,
        remoteAuth: [],
        keyCheck: true,
      },
      {
        name: `client_x509_mtls_${s}`,
        params: { role: 'client', auth: 'x509', peername: 'server.test' },
        setup: inproc((link, env) => nodeServer(link, { suite: s, identity: env.pki.leaf('server-p256'), ca: env.pki.ca, requestCert: true })),
        status: 0,
        remoteAuth: [],
        keyCheck: true,
      },
      {
        name: `server_x509_${s}`,
        params: { role: 'server', auth: 'x509' },
        setup: inproc((link, env) => nodeClient(link, { suite: s, ca: env.pki.ca, servername: 'localhost' })),
        status: 0,
        remoteAuth: [],
        keyCheck: true,
      },
      {
        name: `server_x509_mtls_${s}`,
        params: { role: 'server', auth: 'x509' },
        setup: inproc((link, env) => nodeClient(link, { suite: s, ca: env.pki.ca, servername: 'localhost', identity: env.pki.leaf('client-p256') })),
        status: 0,
        remoteAuth: 'x509-verified',
        keyCheck: true,
      },
    );
  }
  const suite0 = suites[0];
  const cli = (pki: Pki, cert?: string) => ({
    caFile: pki.file('ca-bundle.pem'),
    servername: 'localhost',
    suite: suite0,
    ...(cert ? { certFile: pki.file(`${cert}.crt.pem`), keyFile: pki.file(`${cert}.key.pem`), chainFile: pki.file('intermediate-ca.crt.pem') } : {}),
  });
  // Each command-line client, without and with a client certificate.
  const cliClients = [
    { name: 'openssl_s_client', run: opensslClient, clientCert: 'client-p256', skip: haveCommand('openssl') ? undefined : 'openssl is not installed' },
    { name: 'gnutls_cli', run: gnutlsClient, clientCert: 'client-rsa2048', skip: haveCommand('gnutls-cli') ? undefined : 'gnutls-cli is not installed' },
  ];
  for (const c of cliClients) {
    for (const cert of [undefined, c.clientCert]) {
      out.push({
        name: `server_x509_${cert ? 'mtls_' : ''}${c.name}_${suite0}`,
        params: { role: 'server', auth: 'x509' },
        setup: processClient((port, env) => c.run(port, cli(env.pki, cert))),
        status: 0,
        remoteAuth: cert ? 'x509-verified' : [],
        keyCheck: true,
        skip: c.skip,
      });
    }
  }
  return out;
}

export function failureScenarios(): Scenario[] {
  const badServer = (name: string, cert: string, peername: string): Scenario => ({
    name,
    params: { role: 'client', auth: 'unauth', peername },
    setup: inproc((link, env) => nodeServer(link, { identity: env.pki.leaf(cert), ca: env.pki.ca })),
    status: EACCES,
    keyCheck: false,
  });
  return [
    badServer('fail_client_expired_server_certificate', 'expired', 'localhost'),
    badServer('fail_client_host_name_mismatch', 'wrong-name', 'localhost'),
    badServer('fail_client_unknown_ca', 'unknown-ca', 'localhost'),
    badServer('fail_client_peername_not_in_certificate', 'server-p256', 'elsewhere.test'),
    {
      name: 'fail_server_client_certificate_from_unknown_ca',
      params: { role: 'server', auth: 'x509' },
      setup: inproc((link, env) => nodeClient(link, { ca: env.pki.ca, servername: 'localhost', identity: env.pki.leaf('unknown-ca') })),
      status: EACCES,
      keyCheck: false,
    },
    {
      name: 'fail_peer_closes_mid_handshake',
      params: { role: 'client', auth: 'unauth', peername: 'localhost' },
      setup: misbehaving('close-after-hello'),
      status: ETIMEDOUT,
      keyCheck: false,
    },
    {
      name: 'fail_peer_stalls_past_timeout',
      params: { role: 'client', auth: 'unauth', peername: 'localhost', timeoutMs: 1500 },
      setup: misbehaving('stall'),
      status: ETIMEDOUT,
      keyCheck: false,
    },
    {
      name: 'fail_server_peer_stalls_past_timeout',
      params: { role: 'server', auth: 'x509', timeoutMs: 1500 },
      setup: inproc((link) => misbehavingPeer(link, 'stall')),
      status: ETIMEDOUT,
      keyCheck: false,
    },
    {
      name: 'fail_garbage_instead_of_tls',
      params: { role: 'client', auth: 'unauth', peername: 'localhost' },
      setup: misbehaving('garbage'),
      status: EACCES,
      keyCheck: false,
    },
  ];
}

/**
 * PSK cases (see psk-keys.ts for the keyring): the agent as client offers several key serials,
 * the one the peer knows not first, and must report that key's serial as remote-auth; the agent
 * as server gets peer-identity 0 and finds the key by the identity the client sends. Every
 * request names the companion's keyring in its keyring attribute, as the kernel does.
 */
export function pskScenarios(): Scenario[] {
  const noOpenssl = haveCommand('openssl') ? undefined : 'openssl is not installed';
  type PeerSetup = (env: Env, keys: PskKeys) => Promise<Setup>;
  const client = (name: string, offer: PskName[], used: PskName | undefined, setup: PeerSetup, status: number, skip?: string): Scenario => ({
    name,
    params: { role: 'client', auth: 'psk', peername: 'localhost' },
    setup: async (env) => {
      const keys = env.psks();
      const s = await setup(env, keys);
      return {
        ...s,
        params: { role: 'client', auth: 'psk', peername: 'localhost', peerIdentities: offer.map((n) => keys.get(n).serial), keyring: keys.keyring },
        remoteAuth: used ? [keys.get(used).serial] : undefined,
      };
    },
    status,
    keyCheck: status === 0,
    psk: true,
    ...(skip ? { skip } : {}),
  });
  const server = (name: string, used: PskName, setup: PeerSetup, status: number, skip?: string): Scenario => ({
    name,
    params: { role: 'server', auth: 'psk' },
    setup: async (env) => {
      const keys = env.psks();
      const s = await setup(env, keys);
      return { ...s, params: { role: 'server', auth: 'psk', peerIdentities: [0], keyring: keys.keyring }, remoteAuth: status === 0 ? [keys.get(used).serial] : undefined };
    },
    status,
    keyCheck: status === 0,
    psk: true,
    ...(skip ? { skip } : {}),
  });
  const peerPsk = (keys: PskKeys, n: PskName) => ({ identity: keys.get(n).identity, key: keys.get(n).key });
  return [
    client('client_psk_sha256_node_tls', ['decoy-sha256', 'decoy-sha384', 'sha256'], 'sha256', (env, keys) => inproc((link) => nodePskServer(link, env.pki, peerPsk(keys, 'sha256')))(env), 0),
    client('client_psk_sha384_openssl_s_server', ['decoy-sha256', 'decoy-sha384', 'sha384'], 'sha384', (env, keys) => processServer(() => opensslPskServer(env.pki, peerPsk(keys, 'sha384')))(env), 0, noOpenssl),
    server('server_psk_sha256_node_tls', 'sha256', (env, keys) => inproc((link) => nodePskClient(link, peerPsk(keys, 'sha256')))(env), 0),
    server('server_psk_sha384_openssl_s_client', 'sha384', (env, keys) => processClient((port) => opensslPskClient(port, peerPsk(keys, 'sha384')))(env), 0, noOpenssl),
    client('fail_client_psk_unknown_identity_sha256', ['unknown-sha256'], undefined, (env) => inproc((link) => engineUnknownPskServer(link))(env), EKEYREJECTED),
    client('fail_client_psk_unknown_identity_sha384', ['unknown-sha384', 'decoy-sha384'], undefined, (env) => inproc((link) => engineUnknownPskServer(link))(env), EKEYREJECTED),
    // The client's identity is in no keyring: the agent refuses it (unknown_psk_identity) and fails.
    server('fail_server_psk_identity_not_in_keyring', 'sha256', (env) => inproc((link) => nodePskClient(link, { identity: 'NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000000 nqn.2024-01.io.handshaked:nobody', key: Buffer.alloc(32, 1) }))(env), EACCES),
  ];
}

/** A malformed upcall: the packet, which fds go with it, and the errno this agent is known to send. */
export interface MalformedCase {
  name: string;
  packet(seq: number): Buffer;
  fds: 'tcp' | 'none' | 'two' | 'unix';
}

function ready(seq: number): Buffer {
  return encodeUnixReady(seq, { messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' });
}
function mutate(seq: number, f: (b: Buffer) => void): Buffer {
  const b = Buffer.from(ready(seq));
  f(b);
  return b;
}
function raw(seq: number, cmd: string, attrs: Record<string, unknown>): Buffer {
  return encodeMessage({ type: UNIX_TRANSPORT_FAMILY_ID, flags: NLM_F_REQUEST, seq, cmd, version: 1, attrs: attrs as never }, handshakeFamily);
}

export function malformedCases(): MalformedCase[] {
  return [
    { name: 'malformed_short_packet', packet: () => Buffer.alloc(8), fds: 'tcp' },
    { name: 'malformed_nlmsg_len_overrun', packet: (s) => mutate(s, (b) => b.writeUInt32LE(b.length + 64, 0)), fds: 'tcp' },
    { name: 'malformed_nlmsg_type', packet: (s) => mutate(s, (b) => b.writeUInt16LE(0x0101, 4)), fds: 'tcp' },
    { name: 'malformed_no_nlm_f_request', packet: (s) => mutate(s, (b) => b.writeUInt16LE(0, 6)), fds: 'tcp' },
    { name: 'malformed_unknown_command', packet: (s) => mutate(s, (b) => (b[16] = 9)), fds: 'tcp' },
    { name: 'malformed_done_from_consumer', packet: (s) => raw(s, 'done', { status: 0 }), fds: 'tcp' },
    { name: 'malformed_missing_handler_class', packet: (s) => raw(s, 'ready', { 'message-type': 'clienthello', 'auth-mode': 'unauth' }), fds: 'tcp' },
    { name: 'malformed_handler_class_none', packet: (s) => raw(s, 'ready', { 'handler-class': 'none', 'message-type': 'clienthello', 'auth-mode': 'unauth' }), fds: 'tcp' },
    { name: 'malformed_missing_message_type', packet: (s) => raw(s, 'ready', { 'handler-class': 'tlshd', 'auth-mode': 'unauth' }), fds: 'tcp' },
    { name: 'malformed_missing_auth_mode', packet: (s) => raw(s, 'ready', { 'handler-class': 'tlshd', 'message-type': 'clienthello' }), fds: 'tcp' },
    { name: 'malformed_invalid_auth_mode', packet: (s) => raw(s, 'ready', { 'handler-class': 'tlshd', 'message-type': 'clienthello', 'auth-mode': 7 }), fds: 'tcp' },
    {
      name: 'malformed_truncated_attribute',
      packet: (s) => {
        const b = Buffer.concat([ready(s), Buffer.from([8, 0, 4, 0, 1, 0])]);
        b.writeUInt32LE(b.length, 0);
        return b;
      },
      fds: 'tcp',
    },
    {
      // A READY followed by an NLMSG_ERROR whose echoed request claims 0xffffff00 bytes. Lengths
      // are u32 and must be compared as such: with 32-bit signed arithmetic the offset of the
      // broken extack behind it turns negative, and the refusal must still be sent, not thrown.
      name: 'malformed_trailing_error_with_huge_echoed_length',
      packet: (s) => {
        const err = Buffer.alloc(16 + 4 + 16 + 8);
        err.writeUInt32LE(err.length, 0);
        err.writeUInt16LE(2, 4); // NLMSG_ERROR
        err.writeUInt16LE(0x0200, 6); // NLM_F_ACK_TLVS: extack attributes follow
        err.writeUInt32LE(0xffffff00, 20); // the echoed request's nlmsg_len
        return Buffer.concat([ready(s), err]);
      },
      fds: 'tcp',
    },
    { name: 'malformed_no_fd', packet: (s) => ready(s), fds: 'none' },
    { name: 'malformed_two_fds', packet: (s) => ready(s), fds: 'two' },
    { name: 'malformed_non_tcp_fd', packet: (s) => ready(s), fds: 'unix' },
  ];
}
