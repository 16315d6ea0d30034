/**
 * Launchers for the command-line peers a user of handshaked would meet: OpenSSL's s_server and
 * s_client, GnuTLS's gnutls-serv and gnutls-cli. Servers listen on port 0 (the kernel picks) and
 * report the port they got; clients connect to 127.0.0.1. All of them read lines from stdin and
 * send them as application data, and print what they receive on stdout — which is how the tests
 * prove the exported traffic keys.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NODE_GROUP } from '../../src/bench/node-tls';
import type { CipherSuiteName, GroupName } from '../../src/tls/api';
import { CA_BUNDLE, files, pemBlocks, pkiPath } from './pki';
import { ProcessPeer } from './process-peer';

export interface PeerOptions {
  /** TLS 1.3 suites the peer accepts, in its preference order (default: the peer's own). */
  suites?: CipherSuiteName[];
  /** Groups the peer supports, in preference order; a client sends a key share for the first. */
  groups?: GroupName[];
  /** Fixture name of the certificate the peer presents (server: required; client: optional). */
  cert?: string;
  /** CA file the peer verifies the other side against (default: the fixtures' CA bundle). */
  caFile?: string;
  /** Server: demand a client certificate and verify it. */
  requireClientCert?: boolean;
  /** Speak TLS 1.2 only (negative tests). */
  tls12Only?: boolean;
  /** Client: the name to send as SNI and verify the server's certificate against. */
  serverName?: string;
  /** Server: keep accepting connections, one after another (default: exactly one). */
  persistent?: boolean;
  /** An external TLS 1.3 PSK (SHA-256, as OpenSSL's command-line tools and GnuTLS use it). */
  psk?: { identity: string; key: Buffer };
}

const OPENSSL_GROUP = NODE_GROUP;

const GNUTLS_GROUP: Record<GroupName, string> = {
  x25519: 'GROUP-X25519',
  secp256r1: 'GROUP-SECP256R1',
  secp384r1: 'GROUP-SECP384R1',
  x448: 'GROUP-X448',
  secp521r1: 'GROUP-SECP521R1',
  ffdhe2048: 'GROUP-FFDHE2048',
  ffdhe3072: 'GROUP-FFDHE3072',
  ffdhe4096: 'GROUP-FFDHE4096',
  ffdhe6144: 'GROUP-FFDHE6144',
  ffdhe8192: 'GROUP-FFDHE8192',
};

const GNUTLS_CIPHER: Record<CipherSuiteName, string> = {
  TLS_AES_128_GCM_SHA256: 'AES-128-GCM',
  TLS_AES_256_GCM_SHA384: 'AES-256-GCM',
  TLS_CHACHA20_POLY1305_SHA256: 'CHACHA20-POLY1305',
  TLS_AES_128_CCM_SHA256: 'AES-128-CCM',
};

/**
 * Derived files live in one fixed directory per user, named after their content, so parallel
 * jest workers share them, nothing accumulates across runs, and a killed worker leaves nothing
 * new behind (workers are often killed rather than exited, so exit hooks cannot clean up).
 */
function derivedFile(base: string, content: string): string {
  // The file name carries a hash of the content, so no two contents ever share a name.
  const dir = path.join(os.tmpdir(), `handshaked-interop-${process.getuid?.() ?? 'user'}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${base}-${crypto.createHash('sha256').update(content).digest('hex').slice(0, 16)}.pem`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
  }
  return file;
}

/**
 * OpenSSL's -cert reads only the first certificate of a file, so the intermediates go to
 * -cert_chain as a separate file (the fixture chain minus its leaf).
 */
function opensslCertArgs(name: string): string[] {
  const f = files(name);
  const blocks = pemBlocks(fs.readFileSync(f.chain, 'utf8'));
  const args = ['-cert', pkiPath(`${name}.crt.pem`), '-key', f.key];
  if (blocks.length > 1) {
    const pem = blocks
      .slice(1)
      .map((der) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`)
      .join('')
      .replace(/\n\n/g, '\n');
    args.push('-cert_chain', derivedFile(`${name}.extra`, pem));
  }
  return args;
}

function opensslCommon(o: PeerOptions): string[] {
  const args = o.tls12Only ? ['-tls1_2'] : ['-tls1_3'];
  if (o.suites && !o.tls12Only) args.push('-ciphersuites', o.suites.join(':'));
  if (o.groups) args.push('-groups', o.groups.map((g) => OPENSSL_GROUP[g]).join(':'));
  return args;
}

/** `openssl s_server` for one connection; resolves once it is listening. */
export async function startOpensslServer(o: PeerOptions): Promise<{ peer: ProcessPeer; port: number }> {
  const args = ['s_server', '-accept', '127.0.0.1:0', ...(o.persistent ? [] : ['-naccept', '1']), ...opensslCommon(o), ...opensslCertArgs(o.cert ?? 'server-p256')];
  if (o.requireClientCert) args.push('-Verify', '5', '-verifyCAfile', o.caFile ?? CA_BUNDLE, '-verify_return_error');
  args.push(...opensslPsk(o));
  const peer = new ProcessPeer('openssl s_server', 'openssl', args);
  const m = await peer.waitFor(/ACCEPT 127\.0\.0\.1:(\d+)/);
  return { peer, port: Number(m[1]) };
}

/** `openssl s_client` to 127.0.0.1:port, verifying the server (name and chain) and failing on errors. */
export function startOpensslClient(port: number, o: PeerOptions): ProcessPeer {
  const name = o.serverName ?? 'localhost';
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', name, ...opensslCommon(o)];
  args.push('-verify', '5', '-verify_return_error', '-CAfile', o.caFile ?? CA_BUNDLE, '-verify_hostname', name);
  args.push('-nocommands', '-ign_eof', ...opensslPsk(o));
  if (o.cert) args.push(...opensslCertArgs(o.cert));
  return new ProcessPeer('openssl s_client', 'openssl', args);
}

function opensslPsk(o: PeerOptions): string[] {
  return o.psk ? ['-psk', o.psk.key.toString('hex'), '-psk_identity', o.psk.identity] : [];
}

function gnutlsPriority(o: PeerOptions): string {
  let p = o.tls12Only ? 'NORMAL:-VERS-ALL:+VERS-TLS1.2' : 'NORMAL:-VERS-ALL:+VERS-TLS1.3';
  if (o.psk) p += ':+ECDHE-PSK:+PSK';
  if (o.suites) p += ':-CIPHER-ALL:' + o.suites.map((s) => `+${GNUTLS_CIPHER[s]}`).join(':');
  if (o.groups) p += ':-GROUP-ALL:' + o.groups.map((g) => `+${GNUTLS_GROUP[g]}`).join(':');
  return p;
}

/** `gnutls-serv --echo`: echoes every record it receives; resolves once it is listening. */
export async function startGnutlsServer(o: PeerOptions): Promise<{ peer: ProcessPeer; port: number }> {
  const f = files(o.cert ?? 'server-p256');
  const args = ['--echo', '-p', '0', `--priority=${gnutlsPriority(o)}`, `--x509certfile=${f.chain}`, `--x509keyfile=${f.key}`];
  if (o.requireClientCert) args.push('--require-client-cert', '--verify-client-cert', `--x509cafile=${o.caFile ?? CA_BUNDLE}`);
  else args.push('--disable-client-cert');
  if (o.psk) args.push(`--pskpasswd=${derivedFile('gnutls-psk', `${o.psk.identity}:${o.psk.key.toString('hex')}\n`)}`);
  const peer = new ProcessPeer('gnutls-serv', 'gnutls-serv', args);
  // gnutls-serv prints "port 0" for port 0, so the real port comes from /proc.
  await peer.waitFor(/Echo Server listening on IPv4/);
  const port = await peer.waitListening();
  return { peer, port };
}

/** `gnutls-cli` to 127.0.0.1:port with SNI and hostname verification against the CA bundle. */
export function startGnutlsClient(port: number, o: PeerOptions): ProcessPeer {
  const name = o.serverName ?? 'localhost';
  const args = ['127.0.0.1', '-p', String(port), `--priority=${gnutlsPriority(o)}`, `--x509cafile=${o.caFile ?? CA_BUNDLE}`];
  args.push(`--sni-hostname=${name}`, `--verify-hostname=${name}`);
  if (o.cert) {
    const f = files(o.cert);
    args.push(`--x509certfile=${f.chain}`, `--x509keyfile=${f.key}`);
  }
  if (o.psk) args.push(`--pskusername=${o.psk.identity}`, `--pskkey=${o.psk.key.toString('hex')}`);
  return new ProcessPeer('gnutls-cli', 'gnutls-cli', args);
}
