/**
 * The server's handshake states (RFC 8446 §2, §4). One class per state; handle() consumes
 * a message and returns the next state. The server never sends NewSessionTicket.
 */
import type { CertifiedKey, GroupName, PskEntry, ServerConfig, SignatureSchemeName } from '../api';
import type { KeyShareResponse } from '../crypto/groups';
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
import { Transcript } from '../transcript';
import { computeBinder, type PskMode } from '../psk';
import { ownCopy } from '../wire/bytes';
import { ExtensionType, HandshakeType, HRR_RANDOM, SCHEME_CODES, SUITE_CODES, TLS13 } from '../wire/codes';
import {
  alpnList,
  clientKeyShares,
  encodeAlpn,
  encodeServerKeyShare,
  encodeU16,
  encodeU16List,
  offeredPsks,
  type OfferedPsks,
  serverName,
  u16List,
  u8List,
  type Extension,
  type KeyShareEntry,
} from '../wire/extensions';
import {
  type ClientHello,
  decodeClientHello,
  encodeCertificate,
  encodeCertificateRequest,
  encodeEncryptedExtensions,
  encodeServerHello,
  type HandshakeMessage,
} from '../wire/handshake';
import { MAX_PSK_IDENTITIES_LOOKED_UP } from './offered-psks';

interface Ctx {
  s: Session;
  cfg: ServerConfig;
}

interface Keys {
  suite: Suite;
  hkdf: Hkdf;
  hs: HandshakeStage;
  client: Buffer;
  app: { client: Buffer; server: Buffer };
}

/** What a ClientHello offers, checked once. */
interface Offer {
  ch: ClientHello;
  shares: KeyShareEntry[];
  groups: number[];
  schemes?: number[];
  alpn?: string[];
  psks?: OfferedPsks;
  pskModes: PskMode[];
  /** The client's server_name (SNI), if it sent one. */
  sni?: string;
}

function parseOffer(ch: ClientHello): Offer {
  const ex = ch.extensions;
  const sv = ex.get(ExtensionType.supported_versions);
  if (!sv) fail('protocol_version', 'ClientHello without supported_versions: the client does not offer TLS 1.3');
  if (!u16List(sv, 'supported_versions', 1).includes(TLS13)) fail('protocol_version', 'client does not offer TLS 1.3');
  // RFC 8446 §4.2.1: with supported_versions present, legacy_version does not negotiate; only
  // SSL 3.0 or older is refused outright (appendix D.5).
  if (ch.legacyVersion <= 0x0300) fail('protocol_version', `ClientHello legacy_version 0x${ch.legacyVersion.toString(16)}`);
  if (ch.compressionMethods.length !== 1 || ch.compressionMethods[0] !== 0) {
    fail('illegal_parameter', 'ClientHello offers compression methods other than null');
  }
  const pskIdx = ex.list.findIndex((e) => e.type === ExtensionType.pre_shared_key);
  if (pskIdx >= 0 && pskIdx !== ex.list.length - 1) fail('illegal_parameter', 'pre_shared_key is not the last extension');
  const pskBody = ex.get(ExtensionType.pre_shared_key);
  const pkm = ex.get(ExtensionType.psk_key_exchange_modes);
  if (pskBody && !pkm) fail('missing_extension', 'pre_shared_key without psk_key_exchange_modes');
  const pskModes: PskMode[] = [];
  for (const m of pkm ? u8List(pkm, 'psk_key_exchange_modes') : []) {
    if (m === 0) pskModes.push('psk_ke');
    else if (m === 1) pskModes.push('psk_dhe_ke');
  }
  const ks = ex.get(ExtensionType.key_share);
  const sg = ex.get(ExtensionType.supported_groups);
  if (!ks && !pskBody) fail('missing_extension', 'ClientHello has no key_share');
  if (ks && !sg) fail('missing_extension', 'ClientHello has key_share but no supported_groups');
  const groups = sg ? u16List(sg, 'supported_groups') : [];
  const shares = ks ? clientKeyShares(ks) : [];
  const seen = new Set<number>();
  for (const sh of shares) {
    if (seen.has(sh.group)) fail('illegal_parameter', `two key shares for group 0x${sh.group.toString(16)}`);
    seen.add(sh.group);
    if (!groups.includes(sh.group)) fail('illegal_parameter', `key share for group 0x${sh.group.toString(16)}, which supported_groups does not list`);
  }
  const sa = ex.get(ExtensionType.signature_algorithms);
  const al = ex.get(ExtensionType.alpn);
  const sniBody = ex.get(ExtensionType.server_name);
  return {
    ch,
    shares,
    groups,
    schemes: sa ? u16List(sa, 'signature_algorithms') : undefined,
    alpn: al ? alpnList(al) : undefined,
    psks: pskBody ? offeredPsks(pskBody) : undefined,
    pskModes,
    sni: sniBody ? serverName(sniBody) : undefined,
  };
}

/** The certificates this ClientHello is answered with: chosen by its SNI when the caller asks to choose. */
function certificatesFor(cfg: ServerConfig, offer: Offer): { certificate?: CertifiedKey; pqCertificate?: CertifiedKey } {
  if (cfg.certificateFor) return cfg.certificateFor(offer.sni);
  return { certificate: cfg.certificate, pqCertificate: cfg.pqCertificate };
}

/** How the server authenticates: a certificate, or a PSK the client offered. */
type Auth =
  | { kind: 'certificate'; cert: CertifiedKey; scheme: SignatureSchemeName }
  | { kind: 'psk'; entry: PskEntry; index: number; dhe: boolean };

interface Plan {
  suite: Suite;
  auth: Auth;
}

/** Picks the cipher suite and the authentication; PSKs first (their hash constrains the suite). */
function plan(ctx: Ctx, offer: Offer): Plan {
  const { s, cfg } = ctx;
  const certs = certificatesFor(cfg, offer);
  const noCertificate = !certs.certificate && !certs.pqCertificate;
  const offered = (x: Suite) => offer.ch.cipherSuites.includes(SUITE_CODES[x.name]);
  if (offer.psks && cfg.pskLookup) {
    const ours = cfg.pskModes ?? ['psk_dhe_ke'];
    const dhe = ours.includes('psk_dhe_ke') && offer.pskModes.includes('psk_dhe_ke') && offer.groups.length > 0;
    const ke = ours.includes('psk_ke') && offer.pskModes.includes('psk_ke');
    if (dhe || ke) {
      let known = false;
      // Only the first few are looked up (offered-psks.ts): the rest count as unknown.
      for (const [index, id] of offer.psks.identities.slice(0, MAX_PSK_IDENTITIES_LOOKED_UP).entries()) {
        const entry = cfg.pskLookup(id.identity);
        if (!entry) continue;
        known = true;
        const suite = s.cfg.suites.find((x) => offered(x) && x.hash === entry.hash);
        if (suite) return { suite, auth: { kind: 'psk', entry, index, dhe } };
      }
      if (noCertificate) {
        if (!known) fail('unknown_psk_identity', 'none of the PSK identities the client offered is known');
        fail('handshake_failure', 'no cipher suite fits the hash of the client PSK');
      }
    } else if (noCertificate) {
      fail('handshake_failure', 'no PSK key exchange mode in common with the client');
    }
  }
  const suite = s.cfg.suites.find(offered);
  if (!suite) fail('handshake_failure', 'no cipher suite in common with the client');
  if (noCertificate) {
    fail('handshake_failure', offer.psks ? 'no usable PSK offered' : 'client offered no PSK, and no server certificate is configured');
  }
  if (!offer.schemes) fail('missing_extension', 'ClientHello has no signature_algorithms');
  const picked = pickCertificate(s.cfg.schemes, offer.schemes, [certs.pqCertificate, certs.certificate]);
  if (!picked) fail('handshake_failure', 'no signature scheme fits both our key and the client signature_algorithms');
  return { suite, auth: { kind: 'certificate', cert: picked.cert, scheme: picked.scheme } };
}

export function startServer(ctx: Ctx): State {
  return new ExpectClientHello(ctx, undefined);
}

/**
 * Which group to use: a share the client sent (our preference), else one to ask for by HRR.
 * A post-quantum hybrid both sides support wins even when it costs a HelloRetryRequest: a
 * recorded session must not be left to a classical exchange the client was willing to upgrade.
 */
function chooseGroup(s: Session, offer: Offer): { share?: GroupName; retry?: GroupName } {
  const sent = (g: GroupName) => offer.shares.some((k) => k.group === s.kx(g).code);
  const hybrid = s.cfg.groups.find((g) => isHybrid(g) && offer.groups.includes(s.kx(g).code));
  if (hybrid) {
    const hybridShare = s.cfg.groups.find((g) => isHybrid(g) && sent(g));
    return hybridShare ? { share: hybridShare } : { retry: hybrid };
  }
  const share = s.cfg.groups.find(sent);
  if (share) return { share };
  const retry = s.cfg.groups.find((g) => offer.groups.includes(s.kx(g).code));
  if (!retry) fail('handshake_failure', 'no key exchange group in common with the client');
  return { retry };
}

class ExpectClientHello extends Awaiting<Ctx, undefined> {
  readonly name = 'ExpectClientHello';
  protected readonly expects = [HandshakeType.client_hello];
  // RFC 8446 §5: a change_cipher_spec before the first ClientHello is an unexpected record.
  override readonly acceptsCcs = false;

  protected take(msg: HandshakeMessage): State {
    const { s } = this.ctx;
    const offer = parseOffer(decodeClientHello(msg.body));
    // Kept for the handshake's life (key log): its own 32 bytes, not a view of the ClientHello.
    s.clientRandom = ownCopy(offer.ch.random);
    // We never accept 0-RTT (no tickets are issued); RFC 8446 §4.2.10 says how to skip it.
    s.records.skipRejectedEarlyData(offer.ch.extensions.has(ExtensionType.early_data));
    const p = plan(this.ctx, offer);
    const needsKx = p.auth.kind === 'certificate' || p.auth.dhe;
    const g = needsKx ? chooseGroup(s, offer) : {};
    if (!g.retry) return serverFlight(this.ctx, { offer, plan: p, group: g.share, clientHello: msg });

    // A share the client did not send for a group we both support: ask for it (RFC 8446 §4.1.4).
    const group = g.retry;
    const transcript = new Transcript(s.crypto, p.suite.hash);
    transcript.add(msg.raw);
    transcript.rewriteForHelloRetry();
    let exts: Extension[] = [
      { type: ExtensionType.supported_versions, body: encodeU16(TLS13) },
      { type: ExtensionType.key_share, body: encodeU16(s.kx(group).code) },
    ];
    if (s.hooks.helloRetryExtensions) exts = s.hooks.helloRetryExtensions(exts);
    const hrr = encodeServerHello({
      random: HRR_RANDOM,
      sessionId: offer.ch.sessionId,
      cipherSuite: SUITE_CODES[p.suite.name],
      extensions: exts,
    });
    transcript.add(hrr.raw);
    s.records.sendHandshake([hrr]);
    const ccsSent = offer.ch.sessionId.length > 0;
    if (ccsSent) s.records.sendChangeCipherSpec();
    s.helloRetry = true;
    return new ExpectSecondClientHello(this.ctx, { transcript, suite: p.suite, group, first: offer.ch, ccsSent });
  }
}

/** What a HelloRetryRequest fixed, for the second ClientHello to be held to. */
interface Retry extends AfterRetry {
  /** The group whose key share was asked for. */
  group: GroupName;
  first: ClientHello;
  /** Whether our one change_cipher_spec went out after the HelloRetryRequest. */
  ccsSent: boolean;
}

class ExpectSecondClientHello extends Awaiting<Ctx, Retry> {
  readonly name = 'ExpectSecondClientHello';
  protected readonly expects = [HandshakeType.client_hello];

  protected take(msg: HandshakeMessage): State {
    const { suite, group, first } = this.held;
    const offer = parseOffer(decodeClientHello(msg.body));
    if (!offer.ch.sessionId.equals(first.sessionId)) fail('illegal_parameter', 'second ClientHello changed legacy_session_id');
    if (!offer.ch.random.equals(first.random)) fail('illegal_parameter', 'second ClientHello changed its random');
    // RFC 8446 §4.2.10: no early data after a HelloRetryRequest; 0-RTT records end here.
    if (offer.ch.extensions.has(ExtensionType.early_data)) fail('illegal_parameter', 'second ClientHello offers early_data');
    this.ctx.s.records.skipRejectedEarlyData(false);
    if (!offer.ch.cipherSuites.includes(SUITE_CODES[suite.name])) {
      fail('illegal_parameter', 'second ClientHello no longer offers the cipher suite we selected');
    }
    if (offer.shares.length !== 1 || offer.shares[0].group !== this.ctx.s.kx(group).code) {
      fail('illegal_parameter', `second ClientHello must carry exactly one key share, for ${group}`);
    }
    // RFC 8446 §4.1.2: the second ClientHello may drop PSK identities, never add one (so the
    // identities looked up for the first one are all a lookup can be asked for).
    if (offer.psks) {
      const firstPsks = first.extensions.get(ExtensionType.pre_shared_key);
      const before = firstPsks ? offeredPsks(firstPsks).identities : [];
      if (offer.psks.identities.some((id) => !before.some((b) => b.identity.equals(id.identity)))) {
        fail('illegal_parameter', 'second ClientHello offers a PSK identity the first did not');
      }
    }
    const p = plan(this.ctx, offer);
    if (p.suite !== suite) fail('illegal_parameter', 'second ClientHello leads to a different cipher suite');
    return serverFlight(this.ctx, { offer, plan: p, group, clientHello: msg, retry: this.held });
  }
}

/** RFC 8446 §4.2.11.2: the binder of the selected identity, checked in constant time. */
function checkBinder(s: Session, offer: Offer, auth: Extract<Auth, { kind: 'psk' }>, chMsg: HandshakeMessage, t?: Transcript): void {
  const psks = offer.psks as OfferedPsks;
  const truncated = chMsg.raw.subarray(0, chMsg.raw.length - psks.bindersLen);
  const hash = t ? t.currentWith(truncated) : s.crypto.digest(auth.entry.hash, truncated);
  const expected = computeBinder(s.crypto, auth.entry, hash);
  if (!s.crypto.equal(expected, psks.binders[auth.index])) fail('decrypt_error', 'PSK binder does not verify');
}

/** What the server's flight answers. */
interface FlightInput {
  offer: Offer;
  plan: Plan;
  /** The key exchange group; none for a psk_ke handshake. */
  group: GroupName | undefined;
  /** The ClientHello being answered (the second one after a HelloRetryRequest). */
  clientHello: HandshakeMessage;
  /** Set when this answers the ClientHello a HelloRetryRequest asked for. */
  retry?: Retry;
}

/** ServerHello through server Finished, in one go. */
function serverFlight(ctx: Ctx, input: FlightInput): State {
  const { s, cfg } = ctx;
  const { offer, group, clientHello: chMsg, retry } = input;
  const { suite, auth } = input.plan;
  if (auth.kind === 'psk') checkBinder(s, offer, auth, chMsg, retry?.transcript);
  let ours: KeyShareResponse | undefined;
  if (group) {
    const kx = s.kx(group);
    const peer = offer.shares.find((k) => k.group === kx.code) as KeyShareEntry;
    ours = kx.respond(peer.key, s.hooks.keySharePrivate?.[group]);
  }
  const shared = ours?.secret;

  // Decide everything that can fail before anything is sent.
  const alpn = chooseAlpn(s.cfg.alpn, offer.alpn);
  const sni = offer.sni;

  const transcript = retry?.transcript ?? new Transcript(s.crypto, suite.hash);
  transcript.add(chMsg.raw);
  const shExts: Extension[] = [];
  if (ours && group) {
    shExts.push({ type: ExtensionType.key_share, body: encodeServerKeyShare({ group: s.kx(group).code, key: ours.publicKey }) });
  }
  if (auth.kind === 'psk') shExts.push({ type: ExtensionType.pre_shared_key, body: encodeU16(auth.index) });
  shExts.push({ type: ExtensionType.supported_versions, body: encodeU16(TLS13) });
  const sh = encodeServerHello({
    random: s.random(),
    sessionId: offer.ch.sessionId,
    cipherSuite: SUITE_CODES[suite.name],
    extensions: shExts,
  });
  transcript.add(sh.raw);
  s.records.sendHandshake([sh]);
  // Middlebox compatibility: one CCS right after our first handshake message.
  if (offer.ch.sessionId.length > 0 && !retry?.ccsSent) s.records.sendChangeCipherSpec();

  const hkdf = new Hkdf(s.crypto, suite.hash);
  const hs = new EarlyStage(hkdf, auth.kind === 'psk' ? auth.entry.key : undefined).toHandshake(shared);
  const t = hs.trafficSecrets(transcript.current());
  s.suite = suite;
  s.group = group;
  s.serverName = sni;
  s.alpn = alpn;
  s.psk = auth.kind === 'psk' ? auth.entry : undefined;
  s.logKey('CLIENT_HANDSHAKE_TRAFFIC_SECRET', t.client);
  s.logKey('SERVER_HANDSHAKE_TRAFFIC_SECRET', t.server);
  s.records.setWriteKeys(suite, trafficKeys(hkdf, suite, t.server));
  s.records.setReadKeys(suite, trafficKeys(hkdf, suite, t.client));

  const flight: HandshakeMessage[] = [];
  let ee: Extension[] = [];
  if (sni !== undefined) ee.push({ type: ExtensionType.server_name, body: Buffer.alloc(0) });
  if (alpn) ee.push({ type: ExtensionType.alpn, body: encodeAlpn([alpn]) });
  if (s.hooks.encryptedExtensions) ee = s.hooks.encryptedExtensions(ee);
  flight.push(encodeEncryptedExtensions(ee));
  // RFC 8446 §4.3.2: no CertificateRequest when authenticating with a PSK.
  const askClient = auth.kind === 'certificate' && cfg.clientAuth !== 'none';
  if (askClient) {
    const sa = { type: ExtensionType.signature_algorithms, body: encodeU16List(s.cfg.schemes.map((x) => SCHEME_CODES[x])) };
    flight.push(encodeCertificateRequest(Buffer.alloc(0), [sa]));
  }
  if (auth.kind === 'certificate') {
    flight.push(encodeCertificate(Buffer.alloc(0), auth.cert.chain));
    for (const m of flight) transcript.add(m.raw);
    const cv = signCertificateVerify(s, 'server', transcript, auth.cert.key, auth.scheme);
    transcript.add(cv.raw);
    flight.push(cv);
    s.signatureScheme = auth.scheme;
  } else {
    for (const m of flight) transcript.add(m.raw);
  }
  const fin = finishedMessage(hkdf, t.server, transcript);
  transcript.add(fin.raw);
  flight.push(fin);
  s.records.sendHandshake(flight);

  const app = hs.toMaster().trafficSecrets(transcript.current());
  s.logKey('CLIENT_TRAFFIC_SECRET_0', app.client);
  s.logKey('SERVER_TRAFFIC_SECRET_0', app.server);
  // RFC 8446 §7.2: after its Finished the server writes under the application keys, and the
  // client reads with them; an alert about the client's certificate must use them too
  // (OpenSSL and GnuTLS clients fail to decrypt it otherwise).
  s.records.setWriteKeys(suite, trafficKeys(hkdf, suite, app.server));
  const keys: Keys = { suite, hkdf, hs, client: t.client, app };
  return askClient ? new ExpectClientCertificate(ctx, transcript, keys) : new ExpectClientFinished(ctx, transcript, keys);
}

function chooseAlpn(ours: string[] | undefined, theirs: string[] | undefined): string | undefined {
  if (!ours || !theirs) return undefined;
  const pick = ours.find((p) => theirs.includes(p));
  if (!pick) fail('no_application_protocol', `no ALPN protocol in common (client offered ${JSON.stringify(theirs)})`);
  return pick;
}

class ExpectClientCertificate extends AfterHello<Ctx, Keys> {
  readonly name = 'ExpectClientCertificate';
  protected readonly expects = [HandshakeType.certificate];

  protected take(msg: HandshakeMessage): State {
    const { s, cfg } = this.ctx;
    const leafKey = readPeerCertificate(s, msg, this.transcript, { trust: cfg.trust, purpose: 'clientAuth', name: undefined });
    const next = (keys: Keys) => new ExpectClientFinished(this.ctx, this.transcript, keys);
    if (leafKey) return new ExpectCertificateVerify(this.ctx, this.transcript, this.keys, { role: 'client', leafKey, next });
    if (cfg.clientAuth === 'required') fail('certificate_required', 'client sent no certificate, and one is required');
    return next(this.keys);
  }
}

class ExpectClientFinished extends AfterHello<Ctx, Keys> {
  readonly name = 'ExpectClientFinished';
  protected readonly expects = [HandshakeType.finished];

  protected take(msg: HandshakeMessage): State {
    const s = this.ctx.s;
    const { hkdf, suite } = this.keys;
    checkFinished(s, hkdf, this.keys.client, this.transcript.current(), msg);
    // We sent nothing under the application keys (no tickets): seq 0 both ways.
    exportSecrets(s, hkdf, suite, 'server', this.keys.app, { tx: 0n, rx: 0n });
    return new Done();
  }
}
