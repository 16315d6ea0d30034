/** Handshake message framing and the bodies of the messages a TLS 1.3 handshake carries. */
import { fail } from '../errors';
import { ownCopy, Reader, Writer } from './bytes';
import { HandshakeType, TLS12 } from './codes';
import { type Extension, Extensions, readExtensions, writeExtensions } from './extensions';

/** One handshake message: type, body, and its exact bytes for the transcript. */
export interface HandshakeMessage {
  type: number;
  body: Buffer;
  raw: Buffer;
}

export function frame(type: number, body: Buffer): HandshakeMessage {
  // Every byte is written below; a buffer of its own (not a slab slice), kept with the transcript.
  const raw = Buffer.allocUnsafeSlow(4 + body.length);
  raw[0] = type;
  raw.writeUIntBE(body.length, 1, 3);
  body.copy(raw, 4);
  return { type, body: raw.subarray(4), raw };
}

/** A message of `type` whose body `write` puts together. */
function encodeBody(type: number, write: (w: Writer) => void): HandshakeMessage {
  // Header and body are written into one scratch writer kept across messages (grown once to the
  // largest message sent), the length filled in last, then copied once into a buffer of the
  // message's own, as frame's. A write that encodes a message itself gets a writer of its own.
  const w = scratchBusy ? new Writer(512) : scratch.reset();
  const outer = !scratchBusy;
  scratchBusy = true;
  try {
    w.u8(type).scope(3, write);
  } finally {
    if (outer) scratchBusy = false;
  }
  const raw = ownCopy(w.finish());
  return { type, body: raw.subarray(4), raw };
}

const scratch = new Writer(1024);
let scratchBusy = false;

/** Reads a whole body with `read`; a byte left over is a decode_error naming the message. */
function decodeBody<T>(body: Buffer, what: string, read: (r: Reader) => T): T {
  const r = new Reader(body, what);
  const value = read(r);
  r.end();
  return value;
}

const NAMES = new Map<number, string>(Object.entries(HandshakeType).map(([k, v]) => [v as number, k]));
export function handshakeName(type: number): string {
  return NAMES.get(type) ?? `handshake type ${type}`;
}

export interface ClientHello {
  legacyVersion: number;
  random: Buffer;
  sessionId: Buffer;
  cipherSuites: number[];
  compressionMethods: Buffer;
  extensions: Extensions;
}

/** The fields both hellos open with: legacy_version, random, and the session id (or its echo). */
function readHelloStart(r: Reader, sessionIdField: string): Pick<ClientHello, 'legacyVersion' | 'random' | 'sessionId'> {
  const legacyVersion = r.u16('legacy_version');
  const random = r.bytes(32, 'random');
  const sessionId = r.vector(1, sessionIdField, 0, 32);
  return { legacyVersion, random, sessionId };
}

/** A hello's extensions; one that ends before them has none (a ClientHello so: a pre-TLS 1.3 client). */
function readHelloExtensions(r: Reader, what: string): Extensions {
  return r.remaining() === 0 ? new Extensions([]) : readExtensions(r, what);
}

export function decodeClientHello(body: Buffer): ClientHello {
  return decodeBody(body, 'ClientHello', (r) => {
    const start = readHelloStart(r, 'legacy_session_id');
    const cipherSuites: number[] = [];
    r.scope(2, 'cipher_suites', () => {
      while (r.remaining() > 0) cipherSuites.push(r.u16('cipher_suite'));
    }, 2);
    const compressionMethods = r.vector(1, 'legacy_compression_methods', 1);
    const extensions = readHelloExtensions(r, 'ClientHello');
    return { ...start, cipherSuites, compressionMethods, extensions };
  });
}

export function encodeClientHello(ch: {
  random: Buffer;
  sessionId: Buffer;
  cipherSuites: number[];
  extensions: Extension[];
}): HandshakeMessage {
  return encodeBody(HandshakeType.client_hello, (w) => {
    w.u16(TLS12).raw(ch.random).vector(1, ch.sessionId);
    w.scope(2, (x) => ch.cipherSuites.forEach((s) => x.u16(s)));
    w.vector(1, Buffer.from([0]));
    writeExtensions(w, ch.extensions);
  });
}

/** ServerHello and HelloRetryRequest share one structure. */
export interface ServerHello {
  legacyVersion: number;
  random: Buffer;
  sessionId: Buffer;
  cipherSuite: number;
  compressionMethod: number;
  extensions: Extensions;
}

export function decodeServerHello(body: Buffer): ServerHello {
  return decodeBody(body, 'ServerHello', (r) => {
    const start = readHelloStart(r, 'legacy_session_id_echo');
    const cipherSuite = r.u16('cipher_suite');
    const compressionMethod = r.u8('legacy_compression_method');
    const extensions = readHelloExtensions(r, 'ServerHello');
    return { ...start, cipherSuite, compressionMethod, extensions };
  });
}

export function encodeServerHello(sh: {
  random: Buffer;
  sessionId: Buffer;
  cipherSuite: number;
  extensions: Extension[];
}): HandshakeMessage {
  return encodeBody(HandshakeType.server_hello, (w) => {
    w.u16(TLS12).raw(sh.random).vector(1, sh.sessionId).u16(sh.cipherSuite).u8(0);
    writeExtensions(w, sh.extensions);
  });
}

export function decodeEncryptedExtensions(body: Buffer): Extensions {
  return decodeBody(body, 'EncryptedExtensions', (r) => readExtensions(r, 'EncryptedExtensions'));
}

export function encodeEncryptedExtensions(list: Extension[]): HandshakeMessage {
  return encodeBody(HandshakeType.encrypted_extensions, (w) => writeExtensions(w, list));
}

export interface CertificateMsg {
  context: Buffer;
  chain: Buffer[];
}

export function decodeCertificate(body: Buffer, maxChain: number): CertificateMsg {
  return decodeBody(body, 'Certificate', (r) => {
    const context = r.vector(1, 'certificate_request_context');
    const chain: Buffer[] = [];
    r.scope(3, 'certificate_list', () => {
      while (r.remaining() > 0) {
        chain.push(r.vector(3, 'cert_data', 1));
        // Per-certificate extensions (OCSP, SCT) are not requested, so any are ignored.
        readExtensions(r, 'CertificateEntry');
        if (chain.length > maxChain) {
          fail('bad_certificate', `certificate chain longer than ${maxChain} certificates`);
        }
      }
    });
    return { context, chain };
  });
}

/**
 * Certificate messages with an empty context, by chain: a configured chain is sent whole in every
 * handshake that uses it, the same bytes each time, so it is encoded once while the chain array
 * lives. A hit also needs the same certificate buffers in the array (a caller that swapped one
 * in place gets a fresh encoding). Shared: never modify a message's bytes.
 */
const certificateMessages = new WeakMap<readonly Buffer[], { certs: Buffer[]; msg: HandshakeMessage }>();

export function encodeCertificate(context: Buffer, chain: Buffer[]): HandshakeMessage {
  if (context.length > 0 || chain.length === 0) return encodeCertificateBody(context, chain);
  const hit = certificateMessages.get(chain);
  if (hit && hit.certs.length === chain.length && hit.certs.every((c, i) => c === chain[i])) return hit.msg;
  const msg = encodeCertificateBody(context, chain);
  certificateMessages.set(chain, { certs: [...chain], msg });
  return msg;
}

function encodeCertificateBody(context: Buffer, chain: Buffer[]): HandshakeMessage {
  return encodeBody(HandshakeType.certificate, (w) => {
    w.vector(1, context);
    w.scope(3, (x) => chain.forEach((c) => x.vector(3, c).u16(0)));
  });
}

export interface CertificateRequestMsg {
  context: Buffer;
  extensions: Extensions;
}

export function decodeCertificateRequest(body: Buffer): CertificateRequestMsg {
  return decodeBody(body, 'CertificateRequest', (r) => ({
    context: r.vector(1, 'certificate_request_context'),
    extensions: readExtensions(r, 'CertificateRequest'),
  }));
}

export function encodeCertificateRequest(context: Buffer, list: Extension[]): HandshakeMessage {
  return encodeBody(HandshakeType.certificate_request, (w) => {
    w.vector(1, context);
    writeExtensions(w, list);
  });
}

export interface CertificateVerifyMsg {
  scheme: number;
  signature: Buffer;
}

export function decodeCertificateVerify(body: Buffer): CertificateVerifyMsg {
  return decodeBody(body, 'CertificateVerify', (r) => ({ scheme: r.u16('algorithm'), signature: r.vector(2, 'signature', 1) }));
}

export function encodeCertificateVerify(scheme: number, signature: Buffer): HandshakeMessage {
  return encodeBody(HandshakeType.certificate_verify, (w) => w.u16(scheme).vector(2, signature));
}

export function encodeFinished(verifyData: Buffer): HandshakeMessage {
  return frame(HandshakeType.finished, verifyData);
}

/** RFC 8446 §4.4.3: the content a CertificateVerify signature covers. */
export function certificateVerifyContent(role: 'server' | 'client', transcriptHash: Buffer): Buffer {
  const prefix = CV_PREFIX[role];
  const out = Buffer.allocUnsafe(prefix.length + transcriptHash.length);
  prefix.copy(out, 0);
  transcriptHash.copy(out, prefix.length);
  return out;
}

/** 64 spaces, the role's context string and its 0 separator: the same bytes every time. */
const CV_PREFIX = {
  server: cvPrefix('TLS 1.3, server CertificateVerify'),
  client: cvPrefix('TLS 1.3, client CertificateVerify'),
};

function cvPrefix(label: string): Buffer {
  return Buffer.concat([Buffer.alloc(64, 0x20), Buffer.from(label, 'latin1'), Buffer.from([0])]);
}
