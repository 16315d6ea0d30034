/**
 * The client's handshake states (RFC 8446 §2, §4). Each class holds only what is valid at
 * that point; handle() consumes a message and returns the next state.
 */
import type { ClientConfig, GroupName, PskEntry } from '../api';
import { isHybrid } from '../crypto/pq';
import type { Suite } from '../crypto/suites';
import { fail } from '../errors';
import {
  checkFinished,
  ExpectCertificateVerify,
  exportSecrets,
  finishedMessage,
  pickCertificate,
  readPeerCertificate,
  signCertificateVerify,
} from '../handshake';
import { EarlyStage, type HandshakeStage, Hkdf, trafficKeys } from '../keyschedule';
import type { Session } from '../session';
import { AfterHello, type AfterRetry, Awaiting, Done, type State } from '../state';
import { Transcript, TranscriptBuffer } from '../transcript';
import { ExtensionType, HandshakeType, HRR_RANDOM, SUITE_BY_CODE, TLS12, TLS13 } from '../wire/codes';
import { alpnList, cookie as parseCookie, serverKeyShare, u16, u16List, type Extensions } from '../wire/extensions';
import {
  decodeCertificateRequest,
  decodeEncryptedExtensions,
  decodeServerHello,
  encodeCertificate,
  type HandshakeMessage,
  type ServerHello,
} from '../wire/handshake';
import { buildClientHello, sniName, type Offer } from './hello';

/** Everything the states after ServerHello share. */
interface Keys {
  /** Set when the server accepted one of our PSKs: no certificates follow. */
  psk?: PskEntry;
  suite: Suite;
  hkdf: Hkdf;
  hs: HandshakeStage;
  client: Buffer;
  server: Buffer;
  /** Set once the server sent CertificateRequest: our Finished goes after a Certificate. */
  certRequest?: CertRequest;
}

interface CertRequest {
  context: Buffer;
  schemes: number[];
}

interface Ctx {
  s: Session;
  cfg: ClientConfig;
  offer: Offer;
}

export function startClient(s: Session, cfg: ClientConfig): State {
  const random = s.random();
  const sessionId = s.hooks.sessionId ? Buffer.from(s.hooks.sessionId) : s.crypto.random(32);
  const shares = initialShareGroups(s.cfg.groups, cfg.keyShares).map((g) => s.kx(g).generate(s.hooks.keySharePrivate?.[g]));
  const psks = cfg.psks ?? [];
  const pskModes = cfg.pskModes ?? ['psk_dhe_ke'];
  if (psks.length > 0 && pskModes.length === 0) throw new Error('pskModes is empty');
  for (const p of psks) {
    if (p.identity.length === 0 || p.key.length === 0) throw new Error('a PSK needs a non-empty identity and key');
  }
  if (psks.length === 0 && !cfg.trust) throw new Error('ClientConfig needs trust anchors or PSKs');
  const base = { random, sessionId, shares, compat: sessionId.length > 0, serverName: sniName(cfg.serverName), psks, pskModes };
  const { msg, sent } = buildClientHello(s, cfg, base, undefined, false, (t, alg) => s.crypto.digest(alg, t));
  s.clientRandom = random;
  s.serverName = base.serverName;
  const buffer = new TranscriptBuffer();
  buffer.add(msg.raw);
  s.records.sendHandshake([msg]);
  return new ExpectServerHello({ s, cfg, offer: { ...base, sent } }, buffer);
}

/** The groups the first ClientHello sends shares for (ClientConfig.keyShares). */
function initialShareGroups(groups: GroupName[], keyShares: GroupName[] | undefined): GroupName[] {
  if (keyShares) {
    if (keyShares.length === 0) throw new Error('keyShares is empty');
    if (new Set(keyShares).size !== keyShares.length) throw new Error('keyShares lists a group twice');
    for (const g of keyShares) if (!groups.includes(g)) throw new Error(`keyShares names ${g}, which groups does not list`);
    // RFC 8446 §4.2.8: shares in the same order as supported_groups.
    return groups.filter((g) => keyShares.includes(g));
  }
  // A hybrid first: add the classical x25519 share too, so a server without post-quantum
  // support answers at once instead of through a HelloRetryRequest (docs/pq.md).
  if (isHybrid(groups[0]) && groups.includes('x25519')) return [groups[0], 'x25519'];
  return [groups[0]];
}

/** Checks shared by ServerHello and HelloRetryRequest; returns the chosen suite. */
function checkHello(ctx: Ctx, sh: ServerHello, what: string, allowed: number[]): Suite {
  const sv = sh.extensions.get(ExtensionType.supported_versions);
  // RFC 8446 §4.1.3: a ServerHello for TLS 1.2 or below whose random ends in "DOWNGRD" + 01/00
  // came from a TLS 1.3 server that saw a ClientHello without TLS 1.3: someone edited ours.
  const tail = sh.random.subarray(24);
  if (!sv && tail.subarray(0, 7).equals(Buffer.from('DOWNGRD', 'latin1')) && tail[7] <= 1) {
    fail('illegal_parameter', `${what} for an older version carries the downgrade sentinel: the ClientHello was tampered with`);
  }
  if (!sv) fail('protocol_version', `${what} without supported_versions: the server does not speak TLS 1.3`);
  const version = u16(sv, 'supported_versions');
  if (version !== TLS13) fail('illegal_parameter', `${what} selected version 0x${version.toString(16)}, not TLS 1.3`);
  if (sh.legacyVersion !== TLS12) fail('protocol_version', `${what} legacy_version 0x${sh.legacyVersion.toString(16)}`);
  if (!sh.sessionId.equals(ctx.offer.sessionId)) fail('illegal_parameter', `${what} does not echo our legacy_session_id`);
  if (sh.compressionMethod !== 0) fail('illegal_parameter', `${what} selected compression method ${sh.compressionMethod}`);
  const name = SUITE_BY_CODE.get(sh.cipherSuite);
  const suite = ctx.s.cfg.suites.find((x) => x.name === name);
  if (!suite) fail('illegal_parameter', `${what} selected cipher suite 0x${sh.cipherSuite.toString(16)}, which we did not offer`);
  for (const t of sh.extensions.types()) {
    if (!ctx.offer.sent.has(t) && t !== ExtensionType.cookie) fail('unsupported_extension', `${what} carries extension ${t}, which we did not offer`);
    if (!allowed.includes(t)) fail('illegal_parameter', `${what} carries extension ${t}, which is not allowed there`);
  }
  return suite;
}

/**
 * Waiting for the server's first answer: a ServerHello, or a HelloRetryRequest (after which
 * ExpectServerHelloAfterRetry waits for the ServerHello). The transcript hash is not known until
 * the server names a suite, so the ClientHello waits in a buffer.
 */
class ExpectServerHello extends Awaiting<Ctx, TranscriptBuffer> {
  readonly name = 'ExpectServerHello';
  protected readonly expects = [HandshakeType.server_hello];

  protected take(msg: HandshakeMessage): State {
    const sh = decodeServerHello(msg.body);
    if (sh.random.equals(HRR_RANDOM)) return this.helloRetry(sh, msg);
    const suite = checkServerHello(this.ctx, sh);
    return acceptServerHello(this.ctx, sh, suite, this.held.start(this.ctx.s.crypto, suite.hash), msg);
  }

  private helloRetry(sh: ServerHello, msg: HandshakeMessage): State {
    const { s, cfg, offer } = this.ctx;
    const suite = checkHello(this.ctx, sh, 'HelloRetryRequest', [
      ExtensionType.supported_versions,
      ExtensionType.key_share,
      ExtensionType.cookie,
    ]);
    const ks = sh.extensions.get(ExtensionType.key_share);
    const ck = sh.extensions.get(ExtensionType.cookie);
    if (!ks && !ck) fail('illegal_parameter', 'HelloRetryRequest would not change the ClientHello');
    let shares = offer.shares;
    if (ks) {
      const code = u16(ks, 'HelloRetryRequest key_share');
      const kx = s.kxByCode(code);
      if (!kx) fail('illegal_parameter', `HelloRetryRequest names group 0x${code.toString(16)}, which we did not offer`);
      const group = kx.name;
      if (shares.some((k) => k.group === group)) fail('illegal_parameter', `HelloRetryRequest names ${group}, for which we already sent a key share`);
      shares = [kx.generate(s.hooks.keySharePrivate?.[group])];
    }
    s.helloRetry = true;
    const transcript = this.held.start(s.crypto, suite.hash);
    transcript.rewriteForHelloRetry();
    transcript.add(msg.raw);
    // Only PSKs whose hash fits the suite the server chose can still be selected.
    const base = { ...offer, shares, psks: offer.psks.filter((p) => p.hash === suite.hash) };
    const { msg: ch2, sent } = buildClientHello(s, cfg, base, ck ? parseCookie(ck) : undefined, true, (t) =>
      transcript.currentWith(t),
    );
    transcript.add(ch2.raw);
    // Middlebox compatibility: our one CCS goes before the second flight, here ClientHello2.
    if (offer.compat) s.records.sendChangeCipherSpec();
    s.records.sendHandshake([ch2]);
    return new ExpectServerHelloAfterRetry({ s, cfg, offer: { ...base, sent, compat: false } }, { transcript, suite });
  }
}

/** After a HelloRetryRequest: the ServerHello must keep the suite it named, and there is no second one. */
class ExpectServerHelloAfterRetry extends Awaiting<Ctx, AfterRetry> {
  readonly name = 'ExpectServerHelloAfterRetry';
  protected readonly expects = [HandshakeType.server_hello];

  protected take(msg: HandshakeMessage): State {
    const sh = decodeServerHello(msg.body);
    if (sh.random.equals(HRR_RANDOM)) fail('unexpected_message', 'second HelloRetryRequest');
    const suite = checkServerHello(this.ctx, sh);
    if (suite !== this.held.suite) fail('illegal_parameter', 'ServerHello cipher suite differs from the HelloRetryRequest');
    return acceptServerHello(this.ctx, sh, suite, this.held.transcript, msg);
  }
}

function checkServerHello(ctx: Ctx, sh: ServerHello): Suite {
  return checkHello(ctx, sh, 'ServerHello', [ExtensionType.supported_versions, ExtensionType.key_share, ExtensionType.pre_shared_key]);
}

/** A checked ServerHello: agree on the key, derive the handshake keys, expect EncryptedExtensions. */
function acceptServerHello(ctx: Ctx, sh: ServerHello, suite: Suite, transcript: Transcript, msg: HandshakeMessage): State {
  const { s, offer } = ctx;
  const psk = selectedPsk(ctx, sh, suite);
  const ksBody = sh.extensions.get(ExtensionType.key_share);
  let shared: Buffer | undefined;
  if (ksBody) {
    if (psk && !offer.pskModes.includes('psk_dhe_ke')) fail('illegal_parameter', 'server used psk_dhe_ke, which we did not offer');
    const ks = serverKeyShare(ksBody);
    const share = offer.shares.find((k) => s.kx(k.group).code === ks.group);
    if (!share) fail('illegal_parameter', `ServerHello key share for group 0x${ks.group.toString(16)}, which we did not send`);
    shared = share.agree(ks.key);
    s.group = share.group;
  } else if (!psk) {
    fail('missing_extension', 'ServerHello has no key_share');
  } else if (!offer.pskModes.includes('psk_ke')) {
    fail('missing_extension', 'ServerHello has no key_share, and we did not offer psk_ke');
  }

  transcript.add(msg.raw);
  const hkdf = new Hkdf(s.crypto, suite.hash);
  const hs = new EarlyStage(hkdf, psk?.key).toHandshake(shared);
  const t = hs.trafficSecrets(transcript.current());
  s.suite = suite;
  s.psk = psk;
  s.logKey('CLIENT_HANDSHAKE_TRAFFIC_SECRET', t.client);
  s.logKey('SERVER_HANDSHAKE_TRAFFIC_SECRET', t.server);
  s.records.setReadKeys(suite, trafficKeys(hkdf, suite, t.server));
  s.records.setWriteKeys(suite, trafficKeys(hkdf, suite, t.client));
  return new ExpectEncryptedExtensions(ctx, transcript, { psk, suite, hkdf, hs, client: t.client, server: t.server });
}

function selectedPsk(ctx: Ctx, sh: ServerHello, suite: Suite): PskEntry | undefined {
  const { cfg, offer } = ctx;
  const body = sh.extensions.get(ExtensionType.pre_shared_key);
  if (!body) {
    if (offer.psks.length > 0 && !cfg.trust) {
      fail('handshake_failure', 'server accepted none of our PSKs, and no trust anchors are configured for certificates');
    }
    return undefined;
  }
  const idx = u16(body, 'pre_shared_key');
  const psk = offer.psks[idx];
  if (!psk) fail('illegal_parameter', `server selected PSK identity ${idx}, but we offered ${offer.psks.length}`);
  if (psk.hash !== suite.hash) fail('illegal_parameter', `server selected a ${psk.hash} PSK with a ${suite.hash} cipher suite`);
  return psk;
}

/** Extensions a server must never put in EncryptedExtensions (RFC 8446 §4.2 table). */
const NOT_IN_EE = new Set<number>([
  ExtensionType.supported_versions,
  ExtensionType.key_share,
  ExtensionType.pre_shared_key,
  ExtensionType.signature_algorithms,
  ExtensionType.signature_algorithms_cert,
  ExtensionType.cookie,
  ExtensionType.psk_key_exchange_modes,
  ExtensionType.certificate_authorities,
]);

class ExpectEncryptedExtensions extends AfterHello<Ctx, Keys> {
  readonly name = 'ExpectEncryptedExtensions';
  protected readonly expects = [HandshakeType.encrypted_extensions];

  protected take(msg: HandshakeMessage): State {
    const { offer } = this.ctx;
    const exts = decodeEncryptedExtensions(msg.body);
    for (const t of exts.types()) {
      if (NOT_IN_EE.has(t)) fail('illegal_parameter', `EncryptedExtensions carries extension ${t}, which is not allowed there`);
      if (!offer.sent.has(t)) fail('unsupported_extension', `EncryptedExtensions carries extension ${t}, which we did not offer`);
    }
    this.alpn(exts);
    const sni = exts.get(ExtensionType.server_name);
    if (sni && sni.length !== 0) fail('decode_error', 'server_name acknowledgement must be empty');
    this.transcript.add(msg.raw);
    if (this.keys.psk) return new ExpectFinished(this.ctx, this.transcript, this.keys);
    return new ExpectCertificateOrCertificateRequest(this.ctx, this.transcript, this.keys);
  }

  private alpn(exts: Extensions): void {
    const body = exts.get(ExtensionType.alpn);
    if (!body) return;
    const names = alpnList(body);
    const offered = this.ctx.s.cfg.alpn ?? [];
    if (names.length !== 1 || !offered.includes(names[0])) {
      fail('illegal_parameter', `server selected ALPN ${JSON.stringify(names)}, not one protocol we offered`);
    }
    this.ctx.s.alpn = names[0];
  }
}

class ExpectCertificateOrCertificateRequest extends AfterHello<Ctx, Keys> {
  readonly name = 'ExpectCertificateOrCertificateRequest';
  protected readonly expects = [HandshakeType.certificate, HandshakeType.certificate_request];

  protected take(msg: HandshakeMessage): State {
    if (msg.type === HandshakeType.certificate) return new ExpectCertificate(this.ctx, this.transcript, this.keys).handle(msg);
    const cr = decodeCertificateRequest(msg.body);
    if (cr.context.length !== 0) fail('illegal_parameter', 'CertificateRequest in the handshake must have an empty context');
    const sa = cr.extensions.get(ExtensionType.signature_algorithms);
    if (!sa) fail('missing_extension', 'CertificateRequest without signature_algorithms');
    const schemes = u16List(sa, 'signature_algorithms');
    this.transcript.add(msg.raw);
    return new ExpectCertificate(this.ctx, this.transcript, { ...this.keys, certRequest: { context: cr.context, schemes } });
  }
}

class ExpectCertificate extends AfterHello<Ctx, Keys> {
  readonly name = 'ExpectCertificate';
  protected readonly expects = [HandshakeType.certificate];

  protected take(msg: HandshakeMessage): State {
    const { s, cfg } = this.ctx;
    const leafKey = readPeerCertificate(s, msg, this.transcript, { trust: cfg.trust, purpose: 'serverAuth', name: cfg.serverName });
    if (!leafKey) fail('decode_error', 'server sent an empty certificate chain');
    const next = (keys: Keys) => new ExpectFinished(this.ctx, this.transcript, keys);
    return new ExpectCertificateVerify(this.ctx, this.transcript, this.keys, { role: 'server', leafKey, next });
  }
}

class ExpectFinished extends AfterHello<Ctx, Keys> {
  readonly name = 'ExpectFinished';
  protected readonly expects = [HandshakeType.finished];

  protected take(msg: HandshakeMessage): State {
    const { s, cfg, offer } = this.ctx;
    const { hkdf, suite, certRequest } = this.keys;
    checkFinished(s, hkdf, this.keys.server, this.transcript.current(), msg);
    this.transcript.add(msg.raw);
    const app = this.keys.hs.toMaster().trafficSecrets(this.transcript.current());
    s.logKey('CLIENT_TRAFFIC_SECRET_0', app.client);
    s.logKey('SERVER_TRAFFIC_SECRET_0', app.server);

    if (offer.compat) s.records.sendChangeCipherSpec();
    const flight: HandshakeMessage[] = [];
    if (certRequest) {
      const picked = pickCertificate(s.cfg.schemes, certRequest.schemes, [cfg.pqCertificate, cfg.certificate]);
      // Without a certificate the server's signature algorithms accept, we answer with none.
      const cert = encodeCertificate(certRequest.context, picked ? picked.cert.chain : []);
      this.transcript.add(cert.raw);
      flight.push(cert);
      if (picked) {
        s.clientSignatureScheme = picked.scheme;
        const cv = signCertificateVerify(s, 'client', this.transcript, picked.cert.key, picked.scheme);
        this.transcript.add(cv.raw);
        flight.push(cv);
      }
    }
    const fin = finishedMessage(hkdf, this.keys.client, this.transcript);
    flight.push(fin);
    s.records.sendHandshake(flight);
    // No records were protected under the application keys yet: seq 0 both ways.
    exportSecrets(s, hkdf, suite, 'client', app, { tx: 0n, rx: 0n });
    return new Done();
  }
}
