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
import type { Pki } from './pki';
import { type Link, type LinkFactory, type Misbehaviour, type Peer, gnutlsClient, haveCommand, misbehavingPeer, nodeClient, nodeServer, opensslClient } from './peers';

export const SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_CCM_SHA256'] as const;

export const EACCES = 13;
export const ETIMEDOUT = 110;
export const EKEYREJECTED = 129;
export const X509_VERIFIED = 0xffffffff;

export interface Env {
  pki: Pki;
  links: LinkFactory;
}

/** The consumer's end (fd to the agent) and the peer on the other end. */
export interface Setup {
  link: Pick<Link, 'agentEnd' | 'fd' | 'close'>;
  peer: Peer;
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
    const { fdOf } = await import('./peers');
    return { link: { agentEnd, fd: fdOf(agentEnd), close: () => agentEnd.destroy() }, peer };
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
  const noOpenssl = haveCommand('openssl') ? undefined : 'openssl is not installed';
  const noGnutls = haveCommand('gnutls-cli') ? undefined : 'gnutls-cli is not installed';
  out.push(
    {
      name: `server_x509_openssl_s_client_${suite0}`,
      params: { role: 'server', auth: 'x509' },
      setup: processClient((port, env) => opensslClient(port, cli(env.pki))),
      status: 0,
      remoteAuth: [],
      keyCheck: true,
      skip: noOpenssl,
    },
    {
      name: `server_x509_mtls_openssl_s_client_${suite0}`,
      params: { role: 'server', auth: 'x509' },
      setup: processClient((port, env) => opensslClient(port, cli(env.pki, 'client-p256'))),
      status: 0,
      remoteAuth: 'x509-verified',
      keyCheck: true,
      skip: noOpenssl,
    },
    {
      name: `server_x509_gnutls_cli_${suite0}`,
      params: { role: 'server', auth: 'x509' },
      setup: processClient((port, env) => gnutlsClient(port, cli(env.pki))),
      status: 0,
      remoteAuth: [],
      keyCheck: true,
      skip: noGnutls,
    },
    {
      name: `server_x509_mtls_gnutls_cli_${suite0}`,
      params: { role: 'server', auth: 'x509' },
      setup: processClient((port, env) => gnutlsClient(port, cli(env.pki, 'client-rsa2048'))),
      status: 0,
      remoteAuth: 'x509-verified',
      keyCheck: true,
      skip: noGnutls,
    },
  );
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
      name: 'fail_client_psk_unknown_identity',
      params: { role: 'client', auth: 'psk', peername: 'localhost', peerIdentities: [1] },
      setup: inproc((link) => misbehavingPeer(link, 'stall')),
      status: EKEYREJECTED,
      keyCheck: false,
      skip: 'PSK scenarios need PSKs in a keyring the agent can read (not part of this companion yet)',
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
    { name: 'malformed_no_fd', packet: (s) => ready(s), fds: 'none' },
    { name: 'malformed_two_fds', packet: (s) => ready(s), fds: 'two' },
    { name: 'malformed_non_tcp_fd', packet: (s) => ready(s), fds: 'unix' },
  ];
}
