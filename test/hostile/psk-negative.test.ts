/**
 * External-PSK MUSTs of RFC 8446 (§4.2.9, §4.2.11, §4.1.4) against crafted hellos, driven through
 * createServer / createClient: a real PSK ClientHello from our client (or ServerHello from our
 * server) is decoded, one thing in it is changed, and — where the change would otherwise be
 * caught as a bad binder — the binders are recomputed, so each test fails only for the rule it
 * names. Each expects the alert the RFC names; where the RFC leaves a choice the test says so.
 */
import { createHash } from 'node:crypto';
import { createClient, createServer, type Connection, type PskEntry, type Step } from '../../src/tls';
import { nodeCrypto } from '../../src/tls/crypto/node';
import { computeBinder } from '../../src/tls/psk';
import { decodeClientHello } from '../../src/tls/wire/handshake';
import type { Extension } from '../../src/tls/wire/extensions';
import { clientHelloMessage, helloFieldsOf, record, serverHelloFieldsOf, serverHelloRecord, u16, vec, type HelloFields, type ServerHelloFields } from '../helpers/tls-bytes';

const PRE_SHARED_KEY = 41;
const PSK_KEY_EXCHANGE_MODES = 45;
const KEY_SHARE = 51;
const AES_128_GCM_SHA256 = 0x1301;

const psk = (identity: string, hash: 'sha256' | 'sha384' = 'sha256'): PskEntry => ({
  identity: Buffer.from(identity),
  key: Buffer.alloc(hash === 'sha256' ? 32 : 48, identity.length),
  hash,
});

// --- wire builders ---------------------------------------------------------------------------

/** OfferedPsks: identities (each with obfuscated_ticket_age 0) and binders, as given. */
function offeredPsks(identities: Buffer[], binders: Buffer[]): Buffer {
  const ids = Buffer.concat(identities.map((id) => Buffer.concat([vec(2, id), Buffer.alloc(4)])));
  return Buffer.concat([vec(2, ids), vec(2, Buffer.concat(binders.map((b) => vec(1, b))))]);
}

type Hello = HelloFields & { extensions: Extension[] };

const helloMessage = clientHelloMessage;

/**
 * The ClientHello with binders computed as a client must: over the hello up to the binders list,
 * which is the tail of the message when pre_shared_key is the last extension (the only place a
 * valid hello has it). `identities` and `binderPsks` say what goes into the extension.
 */
function signedHello(h: Hello, identities: Buffer[], binderPsks: PskEntry[], binderOverride?: (i: number, b: Buffer) => Buffer): Buffer {
  const lens = binderPsks.map((p) => nodeCrypto.hashLen(p.hash));
  const bindersLen = 2 + lens.reduce((a, n) => a + 1 + n, 0);
  const placeholder = offeredPsks(identities, lens.map((n) => Buffer.alloc(n)));
  const withPlaceholder = helloMessage({ ...h, extensions: [...h.extensions.filter((e) => e.type !== PRE_SHARED_KEY), { type: PRE_SHARED_KEY, body: placeholder }] });
  const truncated = withPlaceholder.subarray(0, withPlaceholder.length - bindersLen);
  const binders = binderPsks.map((p, i) => {
    const b = computeBinder(nodeCrypto, p, createHash(p.hash).update(truncated).digest());
    return binderOverride ? binderOverride(i, b) : b;
  });
  const body = offeredPsks(identities, binders);
  return record(22, helloMessage({ ...h, extensions: [...h.extensions.filter((e) => e.type !== PRE_SHARED_KEY), { type: PRE_SHARED_KEY, body }] }));
}

/** Our client's real ClientHello offering `psks`, decoded for editing. */
function clientHello(psks: PskEntry[]): { client: Connection; record: Buffer; hello: Hello } {
  const client = createClient({ psks });
  const rec = client.start().send;
  return { client, record: rec, hello: helloFieldsOf(rec) };
}

function serverKnowing(known: PskEntry[]): Connection {
  const s = createServer({ clientAuth: 'none', pskLookup: (id) => known.find((p) => p.identity.equals(id)) });
  s.start();
  return s;
}

function expectAlert(step: Step, alert: string | string[]): void {
  expect(step.status).toBe('failed');
  expect(step.error?.peerAlert).toBe(false);
  if (Array.isArray(alert)) expect(alert).toContain(step.error?.alert);
  else expect(step.error?.alert).toBe(alert);
}

// --- ServerHello side ----------------------------------------------------------------------------


/** A client offering `psks` and the ServerHello our server answers it with, decoded for editing. */
function serverHelloFor(psks: PskEntry[], known: PskEntry[]): { client: Connection; sh: ServerHelloFields } {
  const { client, record: ch } = clientHello(psks);
  const step = serverKnowing(known).receiveRecord(ch);
  expect(step.status).toBe('continue');
  const first = step.send.subarray(0, 5 + step.send.readUInt16BE(3));
  return { client, sh: serverHelloFieldsOf(first.subarray(5)) };
}

const selecting = (list: Extension[], index: number): Extension[] => list.map((e) => (e.type === PRE_SHARED_KEY ? { type: PRE_SHARED_KEY, body: u16(index) } : e));

// --- the tests -------------------------------------------------------------------------------

describe('a server receiving a crafted PSK ClientHello', () => {
  const a = psk('alpha');
  const b = psk('bravo');

  it('the builders reproduce a hello the server accepts (binders recomputed, two identities)', () => {
    const { hello } = clientHello([a, b]);
    const step = serverKnowing([b]).receiveRecord(signedHello(hello, [a.identity, b.identity], [a, b]));
    expect(step.status).toBe('continue');
  });

  it('pre_shared_key not the last extension is illegal_parameter (§4.2.11)', () => {
    const { hello, record: rec } = clientHello([a]);
    const ch = decodeClientHello(rec.subarray(9));
    const pskExt = ch.extensions.list.find((e) => e.type === PRE_SHARED_KEY)!;
    // The hello's own (valid) pre_shared_key, moved in front of key_share.
    const others = hello.extensions.filter((e) => e.type !== PRE_SHARED_KEY);
    const at = others.findIndex((e) => e.type === KEY_SHARE);
    const moved = [...others.slice(0, at), { type: PRE_SHARED_KEY, body: Buffer.from(pskExt.body) }, ...others.slice(at)];
    expectAlert(serverKnowing([a]).receiveRecord(record(22, helloMessage({ ...hello, extensions: moved }))), 'illegal_parameter');
  });

  it('pre_shared_key without psk_key_exchange_modes is missing_extension (§4.2.9)', () => {
    const { hello } = clientHello([a]);
    const noModes = { ...hello, extensions: hello.extensions.filter((e) => e.type !== PSK_KEY_EXCHANGE_MODES) };
    expectAlert(serverKnowing([a]).receiveRecord(signedHello(noModes, [a.identity], [a])), 'missing_extension');
  });

  it('more identities than binders is refused (decode_error or illegal_parameter)', () => {
    const { hello } = clientHello([a]);
    expectAlert(serverKnowing([a]).receiveRecord(signedHello(hello, [a.identity, b.identity], [a])), ['decode_error', 'illegal_parameter']);
  });

  it('more binders than identities is refused (decode_error or illegal_parameter)', () => {
    const { hello } = clientHello([a]);
    expectAlert(serverKnowing([a]).receiveRecord(signedHello(hello, [a.identity], [a, b])), ['decode_error', 'illegal_parameter']);
  });

  it('an empty identities list is decode_error (PskIdentity identities<7..2^16-1>)', () => {
    const { hello } = clientHello([a]);
    expectAlert(serverKnowing([a]).receiveRecord(signedHello(hello, [], [])), 'decode_error');
  });

  it('a lone binder shorter than 32 bytes is decode_error (binders<33..2^16-1>)', () => {
    const { hello } = clientHello([a]);
    const short = signedHello(hello, [a.identity], [a], (_i, bd) => bd.subarray(0, 31));
    expectAlert(serverKnowing([a]).receiveRecord(short), 'decode_error');
  });

  it('a second binder shorter than 32 bytes is decode_error (PskBinderEntry<32..255>)', () => {
    const { hello } = clientHello([a, b]);
    const short = signedHello(hello, [a.identity, b.identity], [a, b], (i, bd) => (i === 1 ? bd.subarray(0, 31) : bd));
    expectAlert(serverKnowing([a]).receiveRecord(short), 'decode_error');
  });

  it('a too-short binder for an identity the server does not know is still decode_error', () => {
    // The server would skip identity 0 (unknown) and use identity 1; the list must parse first.
    const { hello } = clientHello([b, a]);
    const short = signedHello(hello, [b.identity, a.identity], [b, a], (i, bd) => (i === 0 ? bd.subarray(0, 31) : bd));
    expectAlert(serverKnowing([a]).receiveRecord(short), 'decode_error');
  });

  it('a SHA-384-length binder for a SHA-256 PSK does not validate: decrypt_error (or illegal_parameter)', () => {
    const { hello } = clientHello([a]);
    const long = signedHello(hello, [a.identity], [a], (_i, bd) => Buffer.concat([bd, Buffer.alloc(16)]));
    expectAlert(serverKnowing([a]).receiveRecord(long), ['decrypt_error', 'illegal_parameter']);
  });

  it('the selected identity\'s binder is checked even when it is not the first: decrypt_error', () => {
    const { hello } = clientHello([b, a]);
    const bad = signedHello(hello, [b.identity, a.identity], [b, a], (i, bd) => (i === 1 ? Buffer.alloc(bd.length, 0x5a) : bd));
    expectAlert(serverKnowing([a]).receiveRecord(bad), 'decrypt_error');
  });

  it('a wrong binder on an identity the server does not select does not matter (only the selected one is verified)', () => {
    const { hello } = clientHello([b, a]);
    const other = signedHello(hello, [b.identity, a.identity], [b, a], (i, bd) => (i === 0 ? Buffer.alloc(bd.length, 0x5a) : bd));
    expect(serverKnowing([a]).receiveRecord(other).status).toBe('continue');
  });

  it('a binder of the right length that does not validate is decrypt_error (§4.2.11)', () => {
    const { hello } = clientHello([a]);
    const flipped = signedHello(hello, [a.identity], [a], (_i, bd) => Buffer.from(bd.map((x, i) => (i === 0 ? x ^ 1 : x))));
    expectAlert(serverKnowing([a]).receiveRecord(flipped), 'decrypt_error');
  });
});

describe('a client receiving a crafted PSK ServerHello', () => {
  const a = psk('alpha');
  const b = psk('bravo');
  const big = psk('charlie-384', 'sha384');

  it('the builders reproduce a ServerHello the client accepts', () => {
    const { client, sh } = serverHelloFor([a, b], [b]);
    expect(client.receiveRecord(serverHelloRecord(sh)).status).toBe('continue');
  });

  it.each([2, 0xffff])('selected_identity %d, beyond the identities offered, is illegal_parameter (§4.2.11)', (index) => {
    const { client, sh } = serverHelloFor([a, b], [b]);
    expectAlert(client.receiveRecord(serverHelloRecord({ ...sh, extensions: selecting(sh.extensions, index) })), 'illegal_parameter');
  });

  it('a selected PSK whose hash is not the chosen suite\'s is illegal_parameter (§4.2.11)', () => {
    // The client offers a SHA-256 and a SHA-384 PSK; the server picks a SHA-256 suite and the SHA-384 PSK.
    const { client, sh } = serverHelloFor([a, big], [a]);
    expect(sh.suite).toBe(AES_128_GCM_SHA256);
    expectAlert(client.receiveRecord(serverHelloRecord({ ...sh, extensions: selecting(sh.extensions, 1) })), 'illegal_parameter');
  });

  it('a pre_shared_key the client did not offer is unsupported_extension (§4.2)', () => {
    // A certificate client (no PSKs): the server's hello claims a PSK anyway.
    const { sh } = serverHelloFor([a], [a]);
    const plain = createClient({ serverName: 'localhost', trust: { anchors: [] } });
    const ch = decodeClientHello(plain.start().send.subarray(9));
    // Answer the plain client with the PSK ServerHello, session id echoed and its key share kept.
    const reply = serverHelloRecord({ ...sh, sessionId: ch.sessionId });
    expectAlert(plain.receiveRecord(reply), 'unsupported_extension');
  });
});
