/**
 * Builders for crafted TLS 1.3 bytes (RFC 8446 §4, §5): vectors, extension lists, handshake
 * messages, records and a ClientHello field by field, so hostile and conformance tests can send
 * what no well-behaved peer would.
 */
import { TLS12 } from '../../src/tls/wire/codes';
import { Writer } from '../../src/tls/wire/bytes';
import { writeExtensions, type Extension } from '../../src/tls/wire/extensions';
import { decodeClientHello, decodeServerHello } from '../../src/tls/wire/handshake';

/** The bytes `write` puts into a fresh writer: the engine's own encoder, so lengths are right by construction. */
function written(write: (w: Writer) => void): Buffer {
  const w = new Writer();
  write(w);
  return w.finish();
}

export function u16(n: number): Buffer {
  return written((w) => w.u16(n));
}

export function vec(lenBytes: 1 | 2 | 3, body: Buffer): Buffer {
  return written((w) => w.vector(lenBytes, body));
}

export function exts(list: Extension[]): Buffer {
  return written((w) => writeExtensions(w, list));
}

export function handshake(type: number, body: Buffer): Buffer {
  return written((w) => w.u8(type).vector(3, body));
}

export function record(type: number, body: Buffer, version = TLS12): Buffer {
  return written((w) => w.u8(type).u16(version).vector(2, body));
}

export interface HelloFields {
  legacyVersion?: number;
  random?: Buffer;
  sessionId?: Buffer;
  suites?: number[];
  compression?: Buffer;
  extensions: Extension[];
}

/**
 * What both hellos carry, as editable fields: extensions get bodies of their own, so editing one
 * cannot change the message they came from.
 */
function helloCommon(h: { legacyVersion: number; random: Buffer; sessionId: Buffer; extensions: { list: readonly Extension[] } }) {
  const extensions = h.extensions.list.map((e) => ({ type: e.type, body: Buffer.from(e.body) }));
  return { legacyVersion: h.legacyVersion, random: h.random, sessionId: h.sessionId, extensions };
}

/** A ClientHello record (as a client sends it) decoded back into fields, to edit and re-encode. */
export function helloFieldsOf(rec: Buffer): HelloFields & { extensions: Extension[] } {
  const ch = decodeClientHello(rec.subarray(9));
  return { ...helloCommon(ch), suites: ch.cipherSuites, compression: ch.compressionMethods };
}

/** The ClientHello handshake message (header included). */
export function clientHelloMessage(f: HelloFields): Buffer {
  const body = Buffer.concat([
    u16(f.legacyVersion ?? 0x0303),
    f.random ?? Buffer.alloc(32, 7),
    vec(1, f.sessionId ?? Buffer.alloc(32, 8)),
    vec(2, Buffer.concat((f.suites ?? [0x1301]).map(u16))),
    vec(1, f.compression ?? Buffer.from([0])),
    exts(f.extensions),
  ]);
  return handshake(1, body);
}

export function clientHelloRecord(f: HelloFields): Buffer {
  return record(22, clientHelloMessage(f), 0x0301);
}

export interface ServerHelloFields {
  legacyVersion?: number;
  random?: Buffer;
  sessionId?: Buffer;
  suite?: number;
  compression?: number;
  extensions: Extension[];
}

/** A ServerHello record; unset fields are a TLS 1.3 ServerHello's (an empty session id). */
export function serverHelloRecord(f: ServerHelloFields): Buffer {
  const body = Buffer.concat([
    u16(f.legacyVersion ?? TLS12),
    f.random ?? Buffer.alloc(32, 9),
    vec(1, f.sessionId ?? Buffer.alloc(0)),
    u16(f.suite ?? 0x1301),
    Buffer.from([f.compression ?? 0]),
    exts(f.extensions),
  ]);
  return record(22, handshake(2, body));
}

/** A ServerHello message (header included) decoded back into fields, to edit and re-encode. */
export function serverHelloFieldsOf(message: Buffer): Required<Omit<ServerHelloFields, 'compression'>> {
  const sh = decodeServerHello(message.subarray(4));
  return { ...helloCommon(sh), suite: sh.cipherSuite };
}

export const without = (list: Extension[], type: number): Extension[] => list.filter((e) => e.type !== type);
export const replace = (list: Extension[], type: number, body: Buffer): Extension[] => list.map((e) => (e.type === type ? { type, body } : e));
export const keyShareList = (entries: Array<[number, Buffer]>): Buffer => vec(2, Buffer.concat(entries.map(([g, k]) => Buffer.concat([u16(g), vec(2, k)]))));
export const u16Vector = (codes: number[]): Buffer => vec(2, Buffer.concat(codes.map(u16)));
