/**
 * Command-line peers for external TLS 1.3 PSKs the way NVMe/TCP uses them: OpenSSL's s_server /
 * s_client and GnuTLS's gnutls-serv / gnutls-cli, with SHA-256 and SHA-384 PSKs, psk_dhe_ke and
 * psk_ke, and identities with spaces and colons (NVMe identities carry NQNs).
 *
 * How each tool takes a PSK:
 * - OpenSSL: -psk/-psk_identity always makes a SHA-256 PSK (s_server and s_client build a session
 *   with TLS_AES_128_GCM_SHA256). A SHA-384 PSK needs -psk_session: a PEM SSL_SESSION whose cipher
 *   is TLS_AES_256_GCM_SHA384 and whose master key is the PSK, which sslSessionPem() writes.
 *   s_server knows exactly one identity; -allow_no_dhe_kex permits psk_ke (the client then offers
 *   both modes, the server still prefers psk_dhe_ke).
 * - GnuTLS: gnutls-serv reads identities from a password file (identity as "#hex" so spaces and
 *   colons survive); gnutls-cli sends exactly one identity. Key exchange modes come from the
 *   priority string: +PSK is psk_ke, +ECDHE-PSK/+DHE-PSK are psk_dhe_ke.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CipherSuiteName } from '../../src/tls/api';
import { CA_BUNDLE, files, pkiPath } from '../helpers/pki';
import { ProcessPeer } from '../helpers/process-peer';

export interface PskSpec {
  identity: string;
  /** 32 bytes: a SHA-256 PSK; 48 bytes: a SHA-384 PSK. */
  key: Buffer;
}

/** Which PSK key exchange modes the peer allows: psk_dhe_ke only (the tools' default), psk_ke only, or both. */
export type PeerModes = 'dhe' | 'ke' | 'both';

export interface PskPeerOptions {
  /** OpenSSL and gnutls-cli: exactly one. gnutls-serv: every entry goes into its password file. */
  psks: PskSpec[];
  modes?: PeerModes;
  /** TLS 1.3 suites the peer allows (default: the PSK's hash decides for SHA-384, else the peer's own list). */
  suites?: CipherSuiteName[];
  /** OpenSSL only: write the session's secrets here in NSS key-log format (-keylogfile). */
  keylogFile?: string;
}

const made: string[] = [];

/** A private directory for a peer's PSK files; removed by removePskFiles(). */
function scratch(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-psk-'));
  fs.chmodSync(dir, 0o700);
  made.push(dir);
  return dir;
}

/** Removes every file the launchers wrote (call in afterEach/afterAll, after stopAllPeers). */
export function removePskFiles(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

const sha384 = (p: PskSpec) => p.key.length === 48;

function der(tag: number, body: Buffer): Buffer {
  let len: Buffer;
  if (body.length < 0x80) len = Buffer.from([body.length]);
  else if (body.length < 0x100) len = Buffer.from([0x81, body.length]);
  else len = Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

function derInt(n: number): Buffer {
  const bytes: number[] = [];
  do {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  if (bytes[0] & 0x80) bytes.unshift(0);
  return der(0x02, Buffer.from(bytes));
}

/**
 * OpenSSL's SSL_SESSION (ssl/ssl_asn1.c) as an external PSK: version 1, TLS 1.3, the suite of the
 * PSK's hash, empty session id, master key = the PSK, start time now, a day's timeout.
 */
export function sslSessionPem(key: Buffer): string {
  const suite = key.length === 48 ? [0x13, 0x02] : [0x13, 0x01];
  const body = Buffer.concat([
    derInt(1),
    derInt(0x0304),
    der(0x04, Buffer.from(suite)),
    der(0x04, Buffer.alloc(0)),
    der(0x04, key),
    der(0xa1, derInt(Math.floor(Date.now() / 1000))),
    der(0xa2, derInt(86400)),
  ]);
  const b64 = der(0x30, body).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN SSL SESSION PARAMETERS-----\n${b64}\n-----END SSL SESSION PARAMETERS-----\n`;
}

function one(o: PskPeerOptions, tool: string): PskSpec {
  if (o.psks.length !== 1) throw new Error(`${tool} takes exactly one PSK, got ${o.psks.length}`);
  return o.psks[0];
}

function opensslPskArgs(o: PskPeerOptions, tool: string): string[] {
  const p = one(o, tool);
  const args = ['-tls1_3', '-psk_identity', p.identity];
  if (sha384(p)) {
    const file = path.join(scratch(), 'psk-session.pem');
    fs.writeFileSync(file, sslSessionPem(p.key), { mode: 0o600 });
    args.push('-psk_session', file);
  } else {
    args.push('-psk', p.key.toString('hex'));
  }
  const suites = o.suites ?? (sha384(p) ? ['TLS_AES_256_GCM_SHA384'] : undefined);
  if (suites) args.push('-ciphersuites', suites.join(':'));
  if (o.modes === 'ke' || o.modes === 'both') args.push('-allow_no_dhe_kex');
  if (o.keylogFile) args.push('-keylogfile', o.keylogFile);
  return args;
}

/** `openssl s_server` for one connection with one PSK; resolves once it listens. */
export async function opensslPskServer(o: PskPeerOptions): Promise<{ peer: ProcessPeer; port: number }> {
  if (o.modes === 'ke') throw new Error('openssl s_server cannot refuse psk_dhe_ke; use modes "both"');
  const f = files('server-p256');
  // The certificate is there so that a PSK the server cannot use shows as a certificate fallback.
  const args = ['s_server', '-accept', '127.0.0.1:0', '-naccept', '1', '-cert', pkiPath('server-p256.crt.pem'), '-key', f.key];
  args.push(...opensslPskArgs(o, 'openssl s_server'));
  const peer = new ProcessPeer('openssl s_server (PSK)', 'openssl', args);
  const m = await peer.waitFor(/ACCEPT 127\.0\.0\.1:(\d+)/);
  return { peer, port: Number(m[1]) };
}

/** `openssl s_client` to 127.0.0.1:port offering one PSK. */
export function opensslPskClient(port: number, o: PskPeerOptions): ProcessPeer {
  if (o.modes === 'ke') throw new Error('openssl s_client always offers psk_dhe_ke; use modes "both"');
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-nocommands', '-ign_eof', ...opensslPskArgs(o, 'openssl s_client')];
  return new ProcessPeer('openssl s_client (PSK)', 'openssl', args);
}

const GNUTLS_CIPHER: Record<CipherSuiteName, string> = {
  TLS_AES_128_GCM_SHA256: 'AES-128-GCM',
  TLS_AES_256_GCM_SHA384: 'AES-256-GCM',
  TLS_CHACHA20_POLY1305_SHA256: 'CHACHA20-POLY1305',
  TLS_AES_128_CCM_SHA256: 'AES-128-CCM',
};

function gnutlsPriority(o: PskPeerOptions): string {
  let p = 'NORMAL:-VERS-ALL:+VERS-TLS1.3';
  const modes = o.modes ?? 'dhe';
  if (modes === 'dhe') p += ':+ECDHE-PSK:+DHE-PSK';
  else if (modes === 'ke') p += ':-ECDHE-PSK:-DHE-PSK:+PSK';
  else p += ':+ECDHE-PSK:+DHE-PSK:+PSK';
  const suites = o.suites ?? (o.psks.length > 0 && o.psks.every(sha384) ? ['TLS_AES_256_GCM_SHA384'] : undefined);
  if (suites) p += ':-CIPHER-ALL:' + suites.map((s) => `+${GNUTLS_CIPHER[s]}`).join(':');
  return p;
}

/** `gnutls-serv --echo` knowing every PSK in `o.psks`; resolves once it listens. */
export async function gnutlsPskServer(o: PskPeerOptions): Promise<{ peer: ProcessPeer; port: number }> {
  const file = path.join(scratch(), 'psk-passwd');
  const lines = o.psks.map((p) => `#${Buffer.from(p.identity, 'utf8').toString('hex')}:${p.key.toString('hex')}\n`);
  fs.writeFileSync(file, lines.join(''), { mode: 0o600 });
  const f = files('server-p256');
  const args = ['--echo', '-p', '0', `--priority=${gnutlsPriority(o)}`, `--x509certfile=${f.chain}`, `--x509keyfile=${f.key}`];
  args.push('--disable-client-cert', `--pskpasswd=${file}`);
  const peer = new ProcessPeer('gnutls-serv (PSK)', 'gnutls-serv', args);
  await peer.waitFor(/Echo Server listening on IPv4/);
  const port = await peer.waitListening();
  return { peer, port };
}

/** `gnutls-cli` to 127.0.0.1:port offering one PSK. */
export function gnutlsPskClient(port: number, o: PskPeerOptions): ProcessPeer {
  const p = one(o, 'gnutls-cli');
  const args = ['127.0.0.1', '-p', String(port), `--priority=${gnutlsPriority(o)}`, `--x509cafile=${CA_BUNDLE}`];
  args.push(`--pskusername=${p.identity}`, `--pskkey=${p.key.toString('hex')}`);
  return new ProcessPeer('gnutls-cli (PSK)', 'gnutls-cli', args);
}

export type CliKind = 'openssl' | 'gnutls';

export function pskServer(kind: CliKind, o: PskPeerOptions): Promise<{ peer: ProcessPeer; port: number }> {
  return kind === 'openssl' ? opensslPskServer(o) : gnutlsPskServer(o);
}

export function pskClient(kind: CliKind, port: number, o: PskPeerOptions): ProcessPeer {
  return kind === 'openssl' ? opensslPskClient(port, o) : gnutlsPskClient(port, o);
}
