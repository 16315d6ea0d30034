/**
 * Builders for crafted TLS 1.3 bytes (RFC 8446 §4, §5): vectors, extension lists, handshake
 * messages, records and a ClientHello field by field, so hostile and conformance tests can send
 * what no well-behaved peer would.
 */
import type { Extension } from '../../src/tls/wire/extensions';

export function u16(n: number): Buffer {
  return Buffer.from([n >> 8, n & 0xff]);
}

export function vec(lenBytes: 1 | 2 | 3, body: Buffer): Buffer {
  const h = Buffer.alloc(lenBytes);
  h.writeUIntBE(body.length, 0, lenBytes);
  return Buffer.concat([h, body]);
}

export function exts(list: Extension[]): Buffer {
  return vec(2, Buffer.concat(list.map((e) => Buffer.concat([u16(e.type), vec(2, e.body)]))));
}

export function handshake(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), vec(3, body)]);
}

export function record(type: number, body: Buffer, version = 0x0303): Buffer {
  return Buffer.concat([Buffer.from([type]), u16(version), vec(2, body)]);
}

export interface HelloFields {
  legacyVersion?: number;
  random?: Buffer;
  sessionId?: Buffer;
  suites?: number[];
  compression?: Buffer;
  extensions: Extension[];
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

export const without = (list: Extension[], type: number): Extension[] => list.filter((e) => e.type !== type);
export const replace = (list: Extension[], type: number, body: Buffer): Extension[] => list.map((e) => (e.type === type ? { type, body } : e));
export const keyShareList = (entries: Array<[number, Buffer]>): Buffer => vec(2, Buffer.concat(entries.map(([g, k]) => Buffer.concat([u16(g), vec(2, k)]))));
export const u16Vector = (codes: number[]): Buffer => vec(2, Buffer.concat(codes.map(u16)));
