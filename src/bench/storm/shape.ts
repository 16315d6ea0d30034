/**
 * What one benchmark cell is: which side the agent plays, how the peers authenticate, and the
 * Node `tls` options that make OpenSSL do the same handshake as the agent (one TLS 1.3 suite,
 * X25519, the fixture PKI, the same PSK). Shared by the orchestrator and its child processes.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { DEFAULT_PKI_DIR, Pki } from '../../companion/pki';

export type Role = 'client' | 'server';
/** x509: the server is authenticated by certificate; mtls: both are; psk: an external PSK (psk_dhe_ke). */
export type AuthMode = 'x509' | 'mtls' | 'psk';
export const ROLES: readonly Role[] = ['server', 'client'];
export const AUTH_MODES: readonly AuthMode[] = ['x509', 'mtls', 'psk'];

/** dist/bench/storm and src/bench/storm are both three levels below the package root. */
export const ROOT_DIR = path.resolve(__dirname, '..', '..', '..');
export const PKI_DIR = DEFAULT_PKI_DIR;

/**
 * The node options the systemd unit runs the agent with (its `NODE_OPTIONS`), so that every
 * benchmark measures the heap the agent ships with; [] when the unit cannot be read.
 */
export function unitNodeArgs(): string[] {
  let unit: string;
  try {
    unit = fs.readFileSync(path.join(ROOT_DIR, 'systemd', 'handshaked.service'), 'utf8');
  } catch {
    return [];
  }
  const options = /^Environment="?NODE_OPTIONS=([^"\n]*)"?$/m.exec(unit)?.[1] ?? '';
  return options.split(' ').filter(Boolean);
}
export const SUITE = 'TLS_AES_128_GCM_SHA256';
/** The name in the server certificate, and the peername the client side asks for. */
export const SERVER_NAME = 'localhost';
export const SERVER_CERT = 'server-p256';
export const CLIENT_CERT = 'client-p256';

/** The external PSK both sides know (a 32-byte key: the SHA-256 PSK, as NVMe/TCP's "01" hash). */
export interface BenchPsk {
  identity: string;
  /** hex, so it survives JSON to the child processes */
  keyHex: string;
}

export interface PkiFiles {
  caPem: string;
  serverChainPem: string;
  serverKeyPem: string;
  clientChainPem: string;
  clientKeyPem: string;
}

/** The fixture PKI, read with the hint a missing file needs; every storm module reads it through this. */
export const STORM_PKI = new Pki(PKI_DIR, 'run scripts/gen-pki.sh');

export function loadPkiFiles(): PkiFiles {
  return {
    caPem: STORM_PKI.text('ca-bundle.pem'),
    serverChainPem: STORM_PKI.text(`${SERVER_CERT}.chain.pem`),
    serverKeyPem: STORM_PKI.text(`${SERVER_CERT}.key.pem`),
    clientChainPem: STORM_PKI.text(`${CLIENT_CERT}.chain.pem`),
    clientKeyPem: STORM_PKI.text(`${CLIENT_CERT}.key.pem`),
  };
}

export function pkiPath(name: 'ca' | 'server-chain' | 'server-key' | 'client-chain' | 'client-key'): string {
  const file = {
    ca: 'ca-bundle.pem',
    'server-chain': `${SERVER_CERT}.chain.pem`,
    'server-key': `${SERVER_CERT}.key.pem`,
    'client-chain': `${CLIENT_CERT}.chain.pem`,
    'client-key': `${CLIENT_CERT}.key.pem`,
  }[name];
  return path.join(PKI_DIR, file);
}

const BASE: tls.SecureContextOptions = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: SUITE, ecdhCurve: 'X25519' };

/**
 * Node tls as a TLS server for `auth`. The agent's server always sends a CertificateRequest in
 * certificate modes (client certificate optional, verified when sent), so Node's server asks
 * too and verifies without insisting, which is the same work.
 */
export function nodeServerContextOptions(pki: PkiFiles): tls.SecureContextOptions {
  return { ...BASE, cert: pki.serverChainPem, key: pki.serverKeyPem, ca: pki.caPem };
}

export function nodeServerContext(pki: PkiFiles): tls.SecureContext {
  return tls.createSecureContext(nodeServerContextOptions(pki));
}

/** TLSSocketOptions as Node reads them (its _init honours pskCallback; @types/node omits it there). */
export interface ServerSocketOptions {
  requestCert: boolean;
  rejectUnauthorized: boolean;
  pskCallback?: (socket: tls.TLSSocket, identity: string) => Buffer | null;
}

export function nodeServerSocketOptions(auth: AuthMode, psk: BenchPsk): ServerSocketOptions {
  if (auth === 'psk') {
    const key = Buffer.from(psk.keyHex, 'hex');
    return { requestCert: false, rejectUnauthorized: false, pskCallback: (_s: tls.TLSSocket, id: string) => (id === psk.identity ? key : null) };
  }
  return { requestCert: true, rejectUnauthorized: auth === 'mtls' };
}

/** Node tls as a TLS client for `auth` (server always verified by chain and name, except under PSK). */
export function nodeClientContext(pki: PkiFiles, auth: AuthMode): tls.SecureContext {
  return tls.createSecureContext({
    ...BASE,
    ca: pki.caPem,
    ...(auth === 'mtls' ? { cert: pki.clientChainPem, key: pki.clientKeyPem } : {}),
  });
}

export function nodeClientSocketOptions(auth: AuthMode, psk: BenchPsk): Pick<tls.ConnectionOptions, 'servername' | 'rejectUnauthorized' | 'pskCallback'> {
  if (auth === 'psk') {
    const key = Buffer.from(psk.keyHex, 'hex');
    return { servername: SERVER_NAME, rejectUnauthorized: true, pskCallback: () => ({ psk: key, identity: psk.identity }) };
  }
  return { servername: SERVER_NAME, rejectUnauthorized: true };
}

/** The benchmark agent's tlshd sections (the fixture PKI in both roles), config lines each. */
export function agentIdentityLines(): string[] {
  return (['client', 'server'] as const).flatMap((role) => [
    `[authenticate.${role}]`,
    `x509.truststore=${pkiPath('ca')}`,
    `x509.certificate=${pkiPath(`${role}-chain`)}`,
    `x509.private_key=${pkiPath(`${role}-key`)}`,
  ]);
}
