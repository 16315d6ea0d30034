/**
 * TLS peers for the PSK scenarios, each knowing exactly the PSKs a scenario gives it:
 * - Node tls (OpenSSL) with pskCallback, in-process: SHA-256 PSKs only (OpenSSL's callback API
 *   makes every PSK a TLS_AES_128_GCM_SHA256 session);
 * - the `openssl` command with -psk_session, for SHA-384: a PEM SSL_SESSION whose cipher is
 *   TLS_AES_256_GCM_SHA384 and whose master key is the PSK (plain -psk is always SHA-256);
 * - handshaked's own engine as a server that knows no PSK at all. It is the only server known
 *   to answer an unknown identity with unknown_psk_identity (OpenSSL, GnuTLS and Node continue
 *   with a certificate or send another alert; docs/interop.md), and that alert is the one way
 *   to make an agent report EKEYREJECTED.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createServer } from '../tls';
import type { Link, Peer, PeerResult } from './peers';
import { ProcessPeer, nodePeer, tmpKeylog } from './peers';
import type { Pki } from './pki';

export interface PeerPsk {
  identity: string;
  key: Buffer;
}

/** Node tls server on the peer end that knows one (SHA-256) PSK; the agent is the client. */
export function nodePskServer(link: Link, pki: Pki, psk: PeerPsk): Peer {
  const sock = new tls.TLSSocket(link.peerEnd, {
    isServer: true,
    // A certificate too, so that a PSK the server does not take shows as a certificate
    // fallback, which a PSK-only agent must refuse, instead of a quiet no-shared-cipher.
    secureContext: tls.createSecureContext({ minVersion: 'TLSv1.3', ...pki.leaf('server-p256') }),
    pskCallback: (_s: tls.TLSSocket, identity: string) => (identity === psk.identity ? psk.key : null),
  } as tls.TLSSocketOptions);
  sock.on('error', () => undefined);
  return nodePeer('node-tls PSK server', sock, 'secure');
}

/** Node tls client on the peer end offering one (SHA-256) PSK; the agent is the server. */
export function nodePskClient(link: Link, psk: PeerPsk): Peer {
  const sock = tls.connect({
    socket: link.peerEnd,
    minVersion: 'TLSv1.3',
    // PSK only: no certificate is involved, so there is nothing to verify it against.
    rejectUnauthorized: true,
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk: psk.key, identity: psk.identity }),
  });
  sock.on('error', () => undefined);
  return nodePeer('node-tls PSK client', sock, 'secureConnect');
}

/**
 * handshaked's engine as a PSK server that knows no identity: it answers every ClientHello
 * with unknown_psk_identity. Records are framed from the peer end's byte stream.
 */
export function engineUnknownPskServer(link: Link): Peer {
  const s = link.peerEnd;
  const conn = createServer({ clientAuth: 'none', pskLookup: () => undefined });
  conn.start();
  let pending = Buffer.alloc(0);
  let finished = false;
  const done = new Promise<PeerResult>((resolve) => {
    const onData = (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (!finished && pending.length >= 5) {
        const len = 5 + pending.readUInt16BE(3);
        if (pending.length < len) return;
        const step = conn.receiveRecord(pending.subarray(0, len));
        pending = pending.subarray(len);
        if (step.send.length > 0) s.write(step.send);
        if (step.status === 'continue') continue;
        finished = true;
        s.off('data', onData);
        resolve(step.status === 'done' ? { ok: true } : { ok: false, error: `${step.error?.alert}: ${step.error?.message}` });
      }
    };
    s.on('data', onData);
    s.once('close', () => resolve({ ok: false, error: 'closed before the handshake finished' }));
  });
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  return { label: 'handshaked engine PSK server (knows no identity)', done, closed, keylog: () => [], destroy: () => s.destroy() };
}

// --- the openssl command with a SHA-384 PSK ---------------------------------------------------

function der(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

function derUint(n: number): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return der(0x02, bytes);
}

/**
 * OpenSSL's SSL_SESSION ASN.1 (ssl/ssl_asn1.c: version 1, protocol, cipher id, session id,
 * master key, [1] time, [2] timeout) for TLS 1.3 with the suite of the PSK's hash: what
 * `-psk_session` reads as an external PSK.
 */
function pskSessionPem(key: Buffer): string {
  const cipher = key.length === 48 ? [0x13, 0x02] : [0x13, 0x01];
  const body = Buffer.concat([
    derUint(1),
    derUint(0x0304),
    der(0x04, Buffer.from(cipher)),
    der(0x04, Buffer.alloc(0)),
    der(0x04, key),
    der(0xa1, derUint(Math.floor(Date.now() / 1000))),
    der(0xa2, derUint(3600)),
  ]);
  const b64 = der(0x30, body).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN SSL SESSION PARAMETERS-----\n${b64}\n-----END SSL SESSION PARAMETERS-----\n`;
}

function sessionFile(psk: PeerPsk): string {
  const file = path.join(os.tmpdir(), `handshaked-companion-${process.pid}-${Math.random().toString(16).slice(2)}.psk.pem`);
  fs.writeFileSync(file, pskSessionPem(psk.key), { mode: 0o600 });
  return file;
}

function opensslPskArgs(psk: PeerPsk, file: string, keylog: string): string[] {
  const suite = psk.key.length === 48 ? 'TLS_AES_256_GCM_SHA384' : 'TLS_AES_128_GCM_SHA256';
  return ['-tls1_3', '-psk_identity', psk.identity, '-psk_session', file, '-ciphersuites', suite, '-keylogfile', keylog];
}

/** `openssl s_server` for one connection knowing one PSK; resolves once it listens. */
export async function opensslPskServer(pki: Pki, psk: PeerPsk): Promise<{ peer: ProcessPeer; port: number }> {
  const keylog = tmpKeylog('openssl-psk-server');
  const file = sessionFile(psk);
  // The certificate is there for the same reason as in nodePskServer.
  const args = ['s_server', '-accept', '127.0.0.1:0', '-naccept', '1', '-cert', pki.file('server-p256.crt.pem'), '-key', pki.file('server-p256.key.pem')];
  args.push(...opensslPskArgs(psk, file, keylog));
  const peer = new ProcessPeer('openssl s_server (PSK)', 'openssl', args, keylog, /CIPHER is TLS_/, process.env, [file]);
  try {
    const m = await peer.waitFor(/ACCEPT 127\.0\.0\.1:(\d+)/);
    return { peer, port: Number(m[1]) };
  } catch (e) {
    peer.destroy();
    throw e;
  }
}

/** `openssl s_client` to 127.0.0.1:port offering one PSK (the agent is the server). */
export function opensslPskClient(port: number, psk: PeerPsk): ProcessPeer {
  const keylog = tmpKeylog('openssl-psk-client');
  const file = sessionFile(psk);
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-nocommands', '-ign_eof', ...opensslPskArgs(psk, file, keylog)];
  // A PSK handshake resumes the "session" the PSK stands for: s_client reports it as Reused.
  return new ProcessPeer('openssl s_client (PSK)', 'openssl', args, keylog, /Reused, TLSv1\.3, Cipher is TLS_/, process.env, [file]);
}
