/**
 * The conformance probes: crafted ClientHellos, records and client flights, each with the answer
 * RFC 8446 calls for (undefined where the RFC names no alert). 'hello' probes are raw bytes sent
 * on a fresh connection; 'flight' probes complete a real ClientHello/server flight first and then
 * send a crafted client flight protected under the client's handshake key.
 */
import { ffdhePrime, groupByName } from '../../src/tls/crypto/groups';
import type { Extension } from '../../src/tls/wire/extensions';
import {
  clientHelloMessage,
  clientHelloRecord,
  handshake,
  type HelloFields,
  keyShareList,
  record,
  replace,
  u16,
  u16Vector,
  vec,
  without,
} from '../helpers/tls-bytes';

/** What a server answered: a hello, a completed handshake, an alert, or nothing. */
export type Verdict = 'ServerHello' | 'HelloRetryRequest' | 'accepted' | 'closed' | 'timeout' | `alert:${string}` | `other:${string}`;

interface ProbeBase {
  id: string;
  what: string;
  /** The RFC 8446 section that decides the answer. */
  section: string;
  /** The answer the RFC names; undefined when it names none (only a refusal). */
  rfc?: Verdict;
  /** Part of the short form that `npm test` runs. */
  short?: boolean;
}

export interface HelloProbe extends ProbeBase {
  kind: 'hello';
  /** The bytes include a second ClientHello: read past the HelloRetryRequest for the answer to it. */
  throughRetry?: boolean;
  /** Each buffer is written on its own. */
  bytes(): Buffer[];
}

export interface FlightContext {
  /** The client's real second flight, message by message (type → whole message). */
  messages: Map<number, Buffer>;
  /** Protects one record under the client handshake key (sequence numbers in call order). */
  protect(type: number, content: Buffer, padding?: number): Buffer;
}

export interface FlightProbe extends ProbeBase {
  kind: 'flight';
  /** Extra ClientHello extensions (the first ClientHello only). */
  helloExtensions?: Extension[];
  /** Records sent right after the ClientHello. */
  afterHello?(): Buffer[];
  flight(ctx: FlightContext): Buffer[];
}

export type Probe = HelloProbe | FlightProbe;

const HS = 22, ALERT = 21, CCS = 20, APP = 23;
const FIN = 20, CERT = 11, KU = 24;
const CCS_RECORD = record(CCS, Buffer.from([1]));

const share = (name: Parameters<typeof groupByName>[0]) => groupByName(name)!.generate().publicKey;

/** A plain TLS 1.3 ClientHello every server here answers (fresh x25519 share each time). */
function baseHello(): HelloFields & { extensions: Extension[] } {
  return {
    suites: [0x1301, 0x1302, 0x1303],
    extensions: [
      { type: 0, body: vec(2, Buffer.concat([Buffer.from([0]), vec(2, Buffer.from('localhost'))])) },
      { type: 43, body: vec(1, u16(0x0304)) },
      { type: 10, body: u16Vector([0x001d, 0x0017, 0x0018]) },
      { type: 13, body: u16Vector([0x0403, 0x0804, 0x0807, 0x0503]) },
      { type: 51, body: keyShareList([[0x001d, share('x25519')]]) },
    ],
  };
}

function hello(edit: (h: HelloFields & { extensions: Extension[] }) => HelloFields): () => Buffer[] {
  return () => [clientHelloRecord(edit(baseHello()))];
}

/** A ClientHello offering only `code`, with `keyExchange` as its share. */
function onlyGroup(code: number, keyExchange: Buffer): () => Buffer[] {
  return hello((h) => ({ ...h, extensions: replace(replace(h.extensions, 10, u16Vector([code])), 51, keyShareList([[code, keyExchange]])) }));
}

function ffdheY(n: bigint | 'p-1'): Buffer {
  const y = n === 'p-1' ? BigInt(`0x${ffdhePrime(2048).toString('hex')}`) - 1n : n;
  return Buffer.from(y.toString(16).padStart(512, '0'), 'hex');
}

/** Offset of the extensions length in a ClientHello body. */
function locateExtensions(body: Buffer): number {
  let off = 2 + 32;
  off += 1 + body[off];
  off += 2 + body.readUInt16BE(off);
  off += 1 + body[off];
  return off;
}

const helloProbes: HelloProbe[] = [
  { id: 'ch-baseline', kind: 'hello', short: true, what: 'a plain TLS 1.3 ClientHello', section: '4.1.2', rfc: 'ServerHello', bytes: hello((h) => h) },
  {
    id: 'ch-200-extensions', kind: 'hello', short: true, what: '200 extensions, mostly unknown', section: '4.2', rfc: 'ServerHello',
    bytes: hello((h) => ({ ...h, extensions: [...Array.from({ length: 195 }, (_, i) => ({ type: 0x3000 + i, body: Buffer.alloc(i % 5) })), ...h.extensions] })),
  },
  {
    id: 'ch-reversed-extensions', kind: 'hello', what: 'extensions in reverse order', section: '4.2', rfc: 'ServerHello',
    bytes: hello((h) => ({ ...h, extensions: [...h.extensions].reverse() })),
  },
  {
    id: 'ch-unknown-values', kind: 'hello', short: true, what: 'unknown versions, groups, schemes and an unknown-group share inside known extensions', section: '4.1.2, 4.2', rfc: 'ServerHello',
    bytes: hello((h) => {
      let e = replace(h.extensions, 43, vec(1, Buffer.concat([u16(0x7f1c), u16(0x0304), u16(0xfafa)])));
      e = replace(e, 10, u16Vector([0x2a2a, 0x001d]));
      e = replace(e, 51, keyShareList([[0x2a2a, Buffer.from([0])], [0x001d, share('x25519')]]));
      e = replace(e, 13, u16Vector([0xfefe, 0x0403, 0x0804, 0x0807]));
      return { ...h, suites: [0x0a0a, 0x1301], extensions: [...e, { type: 45, body: vec(1, Buffer.from([7, 1])) }] };
    }),
  },
  {
    id: 'ch-big-multirecord', kind: 'hello', what: 'a 20 KB ClientHello in two records', section: '5.1', rfc: 'ServerHello',
    bytes: () => {
      const h = baseHello();
      const msg = clientHelloMessage({ ...h, extensions: [...h.extensions, { type: 21, body: Buffer.alloc(20000) }] });
      return [Buffer.concat([record(HS, msg.subarray(0, 16384), 0x0301), record(HS, msg.subarray(16384))])];
    },
  },
  {
    id: 'ch-psk-not-last', kind: 'hello', what: 'pre_shared_key not the last extension', section: '4.2.11', rfc: 'alert:illegal_parameter',
    bytes: hello((h) => ({
      ...h,
      extensions: [
        { type: 41, body: Buffer.concat([vec(2, Buffer.concat([vec(2, Buffer.from('id')), Buffer.alloc(4)])), vec(2, vec(1, Buffer.alloc(32)))]) },
        ...h.extensions,
        { type: 45, body: vec(1, Buffer.from([1])) },
      ],
    })),
  },
  {
    id: 'ch-duplicate-extension', kind: 'hello', what: 'the same extension twice', section: '4.2', rfc: 'alert:illegal_parameter',
    bytes: hello((h) => ({ ...h, extensions: [...h.extensions, { type: 0x3333, body: Buffer.alloc(0) }, { type: 0x3333, body: Buffer.alloc(0) }] })),
  },
  {
    id: 'ks-unsupported-only', kind: 'hello', short: true, what: 'key shares only for unknown groups; supported_groups lists x25519', section: '4.1.1, 4.2.8', rfc: 'HelloRetryRequest',
    bytes: hello((h) => ({ ...h, extensions: replace(replace(h.extensions, 10, u16Vector([0x2a2a, 0x001d])), 51, keyShareList([[0x2a2a, Buffer.alloc(32, 1)]])) })),
  },
  {
    id: 'ks-empty-list', kind: 'hello', what: 'an empty key_share list', section: '4.2.8', rfc: 'HelloRetryRequest',
    bytes: hello((h) => ({ ...h, extensions: replace(h.extensions, 51, vec(2, Buffer.alloc(0))) })),
  },
  {
    id: 'ks-no-common-group', kind: 'hello', what: 'no group in common', section: '4.1.1', rfc: 'alert:handshake_failure',
    bytes: onlyGroup(0x2a2a, Buffer.alloc(32, 1)),
  },
  { id: 'grp-ffdhe2048', kind: 'hello', short: true, what: 'only ffdhe2048', section: '4.2.7', rfc: 'ServerHello', bytes: () => onlyGroup(0x0100, share('ffdhe2048'))() },
  { id: 'grp-ffdhe4096', kind: 'hello', what: 'only ffdhe4096', section: '4.2.7', rfc: 'ServerHello', bytes: () => onlyGroup(0x0102, share('ffdhe4096'))() },
  { id: 'grp-x448', kind: 'hello', short: true, what: 'only x448', section: '4.2.7', rfc: 'ServerHello', bytes: () => onlyGroup(0x001e, share('x448'))() },
  { id: 'grp-secp521r1', kind: 'hello', what: 'only secp521r1', section: '4.2.7', rfc: 'ServerHello', bytes: () => onlyGroup(0x0019, share('secp521r1'))() },
  { id: 'ks-ffdhe-y-1', kind: 'hello', short: true, what: 'ffdhe2048 share Y = 1', section: '4.2.8.1', rfc: 'alert:illegal_parameter', bytes: () => onlyGroup(0x0100, ffdheY(1n))() },
  { id: 'ks-ffdhe-y-p-1', kind: 'hello', what: 'ffdhe2048 share Y = p-1', section: '4.2.8.1', rfc: 'alert:illegal_parameter', bytes: () => onlyGroup(0x0100, ffdheY('p-1'))() },
  { id: 'ks-ffdhe-short', kind: 'hello', what: 'ffdhe2048 share of 255 bytes (not padded to the size of p)', section: '4.2.8.1', rfc: 'alert:illegal_parameter', bytes: onlyGroup(0x0100, Buffer.alloc(255, 0x55)) },
  { id: 'ks-x25519-zero', kind: 'hello', short: true, what: 'x25519 share all zero', section: '7.4.2', rfc: 'alert:illegal_parameter', bytes: onlyGroup(0x001d, Buffer.alloc(32)) },
  { id: 'ks-x448-zero', kind: 'hello', what: 'x448 share all zero', section: '7.4.2', rfc: 'alert:illegal_parameter', bytes: onlyGroup(0x001e, Buffer.alloc(56)) },
  { id: 'ks-x25519-short', kind: 'hello', what: 'x25519 share of 31 bytes', section: '4.2.8.2', rfc: 'alert:illegal_parameter', bytes: onlyGroup(0x001d, Buffer.alloc(31, 9)) },
  { id: 'ks-p256-compressed', kind: 'hello', what: 'P-256 share in compressed form', section: '4.2.8.2', rfc: 'alert:illegal_parameter', bytes: onlyGroup(0x0017, Buffer.concat([Buffer.from([2]), share('secp256r1').subarray(1, 33)])) },
  { id: 'ks-p256-off-curve', kind: 'hello', short: true, what: 'P-256 point off the curve', section: '4.2.8.2', rfc: 'alert:illegal_parameter', bytes: onlyGroup(0x0017, Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)])) },
  { id: 'ks-p521-off-curve', kind: 'hello', what: 'P-521 point off the curve', section: '4.2.8.2', rfc: 'alert:illegal_parameter', bytes: onlyGroup(0x0019, Buffer.concat([Buffer.from([4]), Buffer.alloc(132, 1)])) },
  { id: 'ks-empty-key-exchange', kind: 'hello', short: true, what: 'x25519 share with an empty key_exchange', section: '4.2.8', bytes: onlyGroup(0x001d, Buffer.alloc(0)) },
  {
    id: 'ks-not-in-groups', kind: 'hello', what: 'a share for a group supported_groups does not list', section: '4.2.8', rfc: 'alert:illegal_parameter',
    bytes: hello((h) => ({ ...h, extensions: replace(h.extensions, 10, u16Vector([0x0017])) })),
  },
  {
    id: 'ks-two-for-one-group', kind: 'hello', short: true, what: 'two shares for x25519', section: '4.2.8', rfc: 'alert:illegal_parameter',
    bytes: hello((h) => ({ ...h, extensions: replace(h.extensions, 51, keyShareList([[0x001d, share('x25519')], [0x001d, share('x25519')]])) })),
  },
  { id: 'sv-missing', kind: 'hello', what: 'no supported_versions (a TLS 1.2 ClientHello)', section: '4.2.1', rfc: 'alert:protocol_version', bytes: hello((h) => ({ ...h, extensions: without(h.extensions, 43) })) },
  { id: 'sv-no-tls13', kind: 'hello', what: 'supported_versions without TLS 1.3', section: '4.2.1', rfc: 'alert:protocol_version', bytes: hello((h) => ({ ...h, extensions: replace(h.extensions, 43, vec(1, u16(0x0303))) })) },
  { id: 'ch-compression', kind: 'hello', what: 'a compression method other than null', section: '4.1.2', rfc: 'alert:illegal_parameter', bytes: hello((h) => ({ ...h, compression: Buffer.from([1]) })) },
  { id: 'ch-session-id-33', kind: 'hello', what: 'a 33-byte legacy_session_id', section: '4.1.2', rfc: 'alert:decode_error', bytes: hello((h) => ({ ...h, sessionId: Buffer.alloc(33, 1) })) },
  { id: 'ext-missing-sigalgs', kind: 'hello', what: 'no signature_algorithms', section: '9.2', rfc: 'alert:missing_extension', bytes: hello((h) => ({ ...h, extensions: without(h.extensions, 13) })) },
  { id: 'ext-missing-groups', kind: 'hello', what: 'key_share without supported_groups', section: '9.2', rfc: 'alert:missing_extension', bytes: hello((h) => ({ ...h, extensions: without(h.extensions, 10) })) },
  { id: 'ext-missing-key-share', kind: 'hello', what: 'supported_groups without key_share', section: '9.2', rfc: 'alert:missing_extension', bytes: hello((h) => ({ ...h, extensions: without(h.extensions, 51) })) },
  {
    id: 'ext-psk-without-modes', kind: 'hello', what: 'pre_shared_key without psk_key_exchange_modes', section: '4.2.9', rfc: 'alert:missing_extension',
    bytes: hello((h) => ({ ...h, extensions: [...h.extensions, { type: 41, body: Buffer.concat([vec(2, Buffer.concat([vec(2, Buffer.from('id')), Buffer.alloc(4)])), vec(2, vec(1, Buffer.alloc(32)))]) }] })),
  },
  { id: 'ch-no-common-suite', kind: 'hello', what: 'no cipher suite in common', section: '4.1.1', rfc: 'alert:handshake_failure', bytes: hello((h) => ({ ...h, suites: [0x00ff, 0x1305] })) },
  {
    id: 'ch-trailing-bytes', kind: 'hello', what: 'bytes after the extensions', section: '4.1.2, 6', rfc: 'alert:decode_error',
    bytes: () => {
      const msg = clientHelloMessage(baseHello());
      const body = Buffer.concat([msg.subarray(4), Buffer.from([0, 0])]);
      return [record(HS, handshake(1, body), 0x0301)];
    },
  },
  {
    id: 'ch-extension-overrun', kind: 'hello', what: 'an extension whose length runs past the list', section: '6', rfc: 'alert:decode_error',
    bytes: () => {
      // The list's last extension announces 10 bytes; the list ends right after its header.
      const body = clientHelloMessage(baseHello()).subarray(4);
      const at = locateExtensions(body);
      const list = Buffer.concat([body.subarray(at + 2), u16(0x3000), u16(10)]);
      return [record(HS, handshake(1, Buffer.concat([body.subarray(0, at), vec(2, list)])), 0x0301)];
    },
  },
  { id: 'ch-early-data', kind: 'hello', what: 'early_data offered (not accepted)', section: '4.2.10', rfc: 'ServerHello', bytes: hello((h) => ({ ...h, extensions: [...h.extensions, { type: 42, body: Buffer.alloc(0) }] })) },
  {
    id: 'ch-split-records', kind: 'hello', what: 'the ClientHello split over two records', section: '5.1', rfc: 'ServerHello',
    bytes: () => {
      const msg = clientHelloMessage(baseHello());
      return [Buffer.concat([record(HS, msg.subarray(0, 40), 0x0301), record(HS, msg.subarray(40))])];
    },
  },
  {
    id: 'rec-ccs-inside-hello', kind: 'hello', what: 'change_cipher_spec between two fragments of the ClientHello', section: '5.1', rfc: 'alert:unexpected_message',
    bytes: () => {
      const msg = clientHelloMessage(baseHello());
      return [Buffer.concat([record(HS, msg.subarray(0, 40), 0x0301), CCS_RECORD, record(HS, msg.subarray(40))])];
    },
  },
  {
    id: 'rec-version-0305', kind: 'hello', what: 'the ClientHello in a record with legacy_record_version 0x0305', section: '5.1', rfc: 'ServerHello',
    bytes: () => [record(HS, clientHelloMessage(baseHello()), 0x0305)],
  },
  {
    id: 'rec-version-0000', kind: 'hello', what: 'the ClientHello in a record with legacy_record_version 0x0000', section: '5.1', short: true,
    bytes: () => [record(HS, clientHelloMessage(baseHello()), 0x0000)],
  },
  { id: 'rec-ccs-first', kind: 'hello', what: 'change_cipher_spec before the ClientHello', section: '5', rfc: 'alert:unexpected_message', bytes: () => [CCS_RECORD, clientHelloRecord(baseHello())] },
  { id: 'rec-unknown-type', kind: 'hello', what: 'a record of content type 99', section: '5', rfc: 'alert:unexpected_message', bytes: () => [record(99, Buffer.from([1, 2, 3]))] },
  { id: 'rec-appdata-first', kind: 'hello', what: 'application data before the ClientHello', section: '5', rfc: 'alert:unexpected_message', bytes: () => [record(APP, Buffer.alloc(20, 1))] },
  { id: 'rec-zero-length-handshake', kind: 'hello', what: 'a zero-length handshake record', section: '5.1', rfc: 'alert:unexpected_message', bytes: () => [record(HS, Buffer.alloc(0), 0x0301)] },
  { id: 'rec-empty-alert', kind: 'hello', short: true, what: 'an alert record with no content', section: '5.1, 5.4', bytes: () => [record(ALERT, Buffer.alloc(0))] },
  { id: 'rec-alert-3-bytes', kind: 'hello', short: true, what: 'an alert record of 3 bytes', section: '5.1, 6', rfc: 'alert:decode_error', bytes: () => [record(ALERT, Buffer.from([2, 40, 0]))] },
  { id: 'rec-alert-1-byte', kind: 'hello', what: 'an alert record of 1 byte', section: '5.1, 6', rfc: 'alert:decode_error', bytes: () => [record(ALERT, Buffer.from([2]))] },
  { id: 'rec-plaintext-16385', kind: 'hello', short: true, what: 'a plaintext record of 2^14+1 bytes', section: '5.1', rfc: 'alert:record_overflow', bytes: () => [record(HS, Buffer.alloc(16385, 1), 0x0301)] },
  {
    id: 'rec-header-18000', kind: 'hello', what: 'a record header announcing 18000 bytes', section: '5.1, 5.2', rfc: 'alert:record_overflow',
    bytes: () => [Buffer.concat([Buffer.from([HS, 3, 1]), u16(18000), Buffer.alloc(18000, 1)])],
  },
  {
    id: 'msg-huge-length', kind: 'hello', what: 'a ClientHello header announcing 2^24-1 bytes', section: '4, 6',
    bytes: () => [record(HS, Buffer.concat([Buffer.from([1, 0xff, 0xff, 0xff]), Buffer.alloc(100)]), 0x0301)],
  },
  { id: 'msg-not-client-hello', kind: 'hello', what: 'a Finished as the first message', section: '4', rfc: 'alert:unexpected_message', bytes: () => [record(HS, handshake(FIN, Buffer.alloc(32)), 0x0301)] },
];

/**
 * A ClientHello whose only key share is for an unknown group (so the server asks for x25519),
 * followed by `between` and a second ClientHello made by `second` from the first's fields.
 */
function retry(opts: { firstExtra?: Extension[]; between?: () => Buffer[]; second?: (h: HelloFields & { extensions: Extension[] }) => HelloFields }): () => Buffer[] {
  return () => {
    const h = baseHello();
    const random = Buffer.alloc(32, 0x31);
    const first = {
      ...h,
      random,
      extensions: [...replace(replace(h.extensions, 10, u16Vector([0x2a2a, 0x001d])), 51, keyShareList([[0x2a2a, Buffer.alloc(32, 1)]])), ...(opts.firstExtra ?? [])],
    };
    const plainSecond = { ...h, random, extensions: replace(h.extensions, 10, u16Vector([0x2a2a, 0x001d])) };
    const second = opts.second ? opts.second(plainSecond) : plainSecond;
    return [Buffer.concat([clientHelloRecord(first), ...(opts.between?.() ?? []), CCS_RECORD, record(HS, clientHelloMessage(second))])];
  };
}

const retryProbes: HelloProbe[] = [
  { id: 'hrr-second-hello', kind: 'hello', throughRetry: true, short: true, what: 'a correct second ClientHello after HelloRetryRequest', section: '4.1.4', rfc: 'ServerHello', bytes: retry({}) },
  {
    id: 'hrr-changed-random', kind: 'hello', throughRetry: true, what: 'a second ClientHello with another random', section: '4.1.2',
    bytes: retry({ second: (h) => ({ ...h, random: Buffer.alloc(32, 0x32) }) }),
  },
  {
    id: 'hrr-wrong-share', kind: 'hello', throughRetry: true, what: 'a second ClientHello with a share for another group than asked', section: '4.2.8', rfc: 'alert:illegal_parameter',
    bytes: retry({ second: (h) => ({ ...h, extensions: replace(replace(h.extensions, 10, u16Vector([0x2a2a, 0x001d, 0x0017])), 51, keyShareList([[0x0017, share('secp256r1')]])) }) }),
  },
  {
    id: 'hrr-early-data-again', kind: 'hello', throughRetry: true, what: 'early_data in the second ClientHello', section: '4.2.10', rfc: 'alert:illegal_parameter',
    bytes: retry({ firstExtra: [{ type: 42, body: Buffer.alloc(0) }], second: (h) => ({ ...h, extensions: [...h.extensions, { type: 42, body: Buffer.alloc(0) }] }) }),
  },
  {
    id: 'hrr-0rtt-skipped', kind: 'hello', throughRetry: true, short: true, what: 'early_data offered, 0-RTT records between HelloRetryRequest and the second ClientHello', section: '4.2.10', rfc: 'ServerHello',
    bytes: retry({ firstExtra: [{ type: 42, body: Buffer.alloc(0) }], between: () => [record(APP, Buffer.alloc(700, 0x5a)), record(APP, Buffer.alloc(300, 0x5b))] }),
  },
  {
    id: 'hrr-appdata-no-early', kind: 'hello', throughRetry: true, what: 'application data between HelloRetryRequest and the second ClientHello, no early_data', section: '5', rfc: 'alert:unexpected_message',
    bytes: retry({ between: () => [record(APP, Buffer.alloc(300, 0x5b))] }),
  },
];

/** The client's real Certificate-less flight: Finished (and nothing else: no CertificateRequest). */
const realFinished = (c: FlightContext) => c.messages.get(FIN)!;

const flightProbes: FlightProbe[] = [
  { id: 'fl-baseline', kind: 'flight', short: true, what: 'the client\'s real Finished', section: '4.4.4', rfc: 'accepted', flight: (c) => [CCS_RECORD, c.protect(HS, realFinished(c))] },
  { id: 'fl-finished-31', kind: 'flight', short: true, what: 'a Finished of 31 bytes', section: '4.4.4, 6', rfc: 'alert:decode_error', flight: (c) => [c.protect(HS, handshake(FIN, Buffer.alloc(31, 1)))] },
  { id: 'fl-finished-33', kind: 'flight', what: 'a Finished of 33 bytes', section: '4.4.4, 6', rfc: 'alert:decode_error', flight: (c) => [c.protect(HS, handshake(FIN, Buffer.alloc(33, 1)))] },
  { id: 'fl-finished-wrong', kind: 'flight', short: true, what: 'a Finished with a wrong verify_data', section: '4.4.4', rfc: 'alert:decrypt_error', flight: (c) => [c.protect(HS, handshake(FIN, Buffer.alloc(32, 1)))] },
  { id: 'fl-zero-length-handshake', kind: 'flight', what: 'a protected handshake record with no content', section: '5.1', rfc: 'alert:unexpected_message', flight: (c) => [c.protect(HS, Buffer.alloc(0))] },
  { id: 'fl-padding-only', kind: 'flight', short: true, what: 'a protected record that is all padding (no content type)', section: '5.4', rfc: 'alert:unexpected_message', flight: (c) => [c.protect(0, Buffer.alloc(0), 10)] },
  { id: 'fl-empty-alert', kind: 'flight', what: 'a protected alert record with no content', section: '5.4', rfc: 'alert:unexpected_message', flight: (c) => [c.protect(ALERT, Buffer.alloc(0))] },
  { id: 'fl-inner-16385', kind: 'flight', what: 'a protected record whose content is 2^14+1 bytes', section: '5.4', rfc: 'alert:record_overflow', flight: (c) => [c.protect(HS, Buffer.alloc(16385, 1))] },
  {
    id: 'fl-outer-16641', kind: 'flight', what: 'a protected record of 2^14+257 bytes', section: '5.2', rfc: 'alert:record_overflow',
    flight: () => [Buffer.concat([Buffer.from([APP, 3, 3]), u16(16641), Buffer.alloc(16641, 1)])],
  },
  {
    id: 'fl-bad-mac', kind: 'flight', short: true, what: 'a protected record that fails authentication', section: '5.2', rfc: 'alert:bad_record_mac',
    flight: (c) => {
      const r = c.protect(HS, realFinished(c));
      r[r.length - 1] ^= 1;
      return [r];
    },
  },
  { id: 'fl-appdata-before-finished', kind: 'flight', what: 'application data before the client Finished', section: '5', rfc: 'alert:unexpected_message', flight: (c) => [c.protect(APP, Buffer.from('early'))] },
  { id: 'fl-keyupdate', kind: 'flight', what: 'a KeyUpdate before the client Finished', section: '4.6.3', rfc: 'alert:unexpected_message', flight: (c) => [c.protect(HS, handshake(KU, Buffer.from([0])))] },
  { id: 'fl-unrequested-certificate', kind: 'flight', what: 'a client Certificate nobody asked for', section: '4.4.2', rfc: 'alert:unexpected_message', flight: (c) => [c.protect(HS, handshake(CERT, Buffer.from([0, 0, 0, 0])))] },
  { id: 'fl-unknown-handshake', kind: 'flight', what: 'an unknown handshake message type', section: '4', rfc: 'alert:unexpected_message', flight: (c) => [c.protect(HS, handshake(99, Buffer.alloc(4)))] },
  { id: 'fl-plaintext-handshake', kind: 'flight', what: 'a plaintext handshake record after the keys changed', section: '5', rfc: 'alert:unexpected_message', flight: (c) => [record(HS, realFinished(c))] },
  { id: 'fl-two-ccs', kind: 'flight', short: true, what: 'two change_cipher_spec records', section: '5', rfc: 'alert:unexpected_message', flight: (c) => [CCS_RECORD, CCS_RECORD, c.protect(HS, realFinished(c))] },
  {
    id: 'fl-rejected-0rtt', kind: 'flight', short: true, what: 'early_data offered, three 0-RTT records sent, then the real Finished', section: '4.2.10', rfc: 'accepted',
    helloExtensions: [{ type: 42, body: Buffer.alloc(0) }],
    afterHello: () => [1000, 200, 3000].map((n) => record(APP, Buffer.alloc(n, 0x5a))),
    flight: (c) => [CCS_RECORD, c.protect(HS, realFinished(c))],
  },
];

export const PROBES: readonly Probe[] = [...helloProbes, ...retryProbes, ...flightProbes];
