/** Steps both roles take the same way: signatures, peer chains, Finished, secret export. */
import type { AsymmetricKey, CertifiedKey, SignatureSchemeName, TrustConfig } from './api';
import { schemeFitsKey } from './crypto/node';
import type { Suite } from './crypto/suites';
import { fail } from './errors';
import { type Hkdf, trafficKeys } from './keyschedule';
import type { Session } from './session';
import type { Transcript } from './transcript';
import { HandshakeType, SCHEME_BY_CODE, SCHEME_CODES } from './wire/codes';
import {
  certificateVerifyContent,
  decodeCertificateVerify,
  encodeCertificateVerify,
  encodeFinished,
  decodeCertificate,
  type HandshakeMessage,
} from './wire/handshake';
import { AfterHello, type State } from './state';

/** Our preference first; the peer must have offered it and our key must be able to make it. */
function pickScheme(ours: SignatureSchemeName[], peerOffered: number[], key: AsymmetricKey): SignatureSchemeName | undefined {
  return ours.find((s) => peerOffered.includes(SCHEME_CODES[s]) && schemeFitsKey(s, key));
}

/**
 * The first of our certificates (post-quantum first) whose key can make a scheme the peer
 * offered, with that scheme; undefined when none can.
 */
export function pickCertificate(
  ours: SignatureSchemeName[],
  peerOffered: number[],
  candidates: Array<CertifiedKey | undefined>,
): { cert: CertifiedKey; scheme: SignatureSchemeName } | undefined {
  for (const cert of candidates) {
    const scheme = cert && pickScheme(ours, peerOffered, cert.key);
    if (cert && scheme) return { cert, scheme };
  }
  return undefined;
}

export function signCertificateVerify(
  s: Session,
  role: 'client' | 'server',
  transcript: Transcript,
  key: AsymmetricKey,
  scheme: SignatureSchemeName,
): HandshakeMessage {
  const sig = s.crypto.sign(scheme, key, certificateVerifyContent(role, transcript.current()));
  return encodeCertificateVerify(SCHEME_CODES[scheme], sig);
}

/** Checks the peer's CertificateVerify against the transcript before it; returns the scheme. */
export function checkCertificateVerify(
  s: Session,
  peerRole: 'client' | 'server',
  msg: HandshakeMessage,
  transcriptHash: Buffer,
  leafKey: AsymmetricKey,
  offered: SignatureSchemeName[],
): SignatureSchemeName {
  const cv = decodeCertificateVerify(msg.body);
  const scheme = SCHEME_BY_CODE.get(cv.scheme);
  if (!scheme || !offered.includes(scheme)) {
    fail('illegal_parameter', `${peerRole} signed with scheme 0x${cv.scheme.toString(16)}, which we did not offer`);
  }
  if (!schemeFitsKey(scheme, leafKey)) {
    fail('illegal_parameter', `${peerRole} signed with ${scheme}, which does not fit its ${leafKey.asymmetricKeyType} key`);
  }
  if (!s.crypto.verify(scheme, leafKey, certificateVerifyContent(peerRole, transcriptHash), cv.signature)) {
    fail('decrypt_error', `${peerRole} CertificateVerify signature (${scheme}) does not verify`);
  }
  return scheme;
}

/** Validates the peer's chain through src/tls/x509; returns the leaf's public key. */
export function verifyPeerChain(
  s: Session,
  chain: Buffer[],
  trust: TrustConfig | undefined,
  purpose: 'serverAuth' | 'clientAuth',
  name: string | undefined,
): AsymmetricKey {
  if (!trust) fail('internal_error', `no trust anchors configured to verify the ${purpose === 'serverAuth' ? 'server' : 'client'} certificate`);
  const res = s.verifier({ chain, trust, now: s.cfg.now(), purpose, name, maxChainLength: s.cfg.maxChain });
  if (!res.ok) fail(res.alert, `certificate verification failed: ${res.reason}`);
  s.peerVerified = true;
  return res.leafPublicKey;
}

export function finishedMessage(hkdf: Hkdf, baseKey: Buffer, transcript: Transcript): HandshakeMessage {
  return encodeFinished(hkdf.verifyData(baseKey, transcript.current()));
}

export function checkFinished(s: Session, hkdf: Hkdf, baseKey: Buffer, transcriptHash: Buffer, msg: HandshakeMessage): void {
  const expected = hkdf.verifyData(baseKey, transcriptHash);
  // A Finished of the wrong length cannot be parsed as one (RFC 8446 §4.4.4, §6: decode_error).
  if (msg.body.length !== expected.length) fail('decode_error', `peer Finished is ${msg.body.length} bytes, want ${expected.length}`);
  if (!s.crypto.equal(expected, msg.body)) fail('decrypt_error', 'peer Finished verify_data does not match');
}

/** Records the application traffic keys for secrets(); seq 0: nothing was sent under them. */
export function exportSecrets(
  s: Session,
  hkdf: Hkdf,
  suite: Suite,
  role: 'client' | 'server',
  app: { client: Buffer; server: Buffer },
  seqs: { tx: bigint; rx: bigint },
): void {
  const c = trafficKeys(hkdf, suite, app.client);
  const sv = trafficKeys(hkdf, suite, app.server);
  const [tx, rx] = role === 'client' ? [c, sv] : [sv, c];
  s.secrets = {
    suite: suite.name,
    tx: { key: tx.key, iv: tx.iv, seq: seqs.tx },
    rx: { key: rx.key, iv: rx.iv, seq: seqs.rx },
  };
}

/**
 * The peer's Certificate in the handshake (RFC 8446 §4.4.2): its request context must be empty
 * (ours are, and a server's always is), the message joins the transcript, and a non-empty chain
 * is verified for `purpose`. The chain's leaf key, or undefined when the peer sent none.
 */
export function readPeerCertificate(
  s: Session,
  msg: HandshakeMessage,
  transcript: Transcript,
  verify: { trust: TrustConfig | undefined; purpose: 'serverAuth' | 'clientAuth'; name: string | undefined },
): AsymmetricKey | undefined {
  const peer = verify.purpose === 'serverAuth' ? 'server' : 'client';
  const cert = decodeCertificate(msg.body, s.cfg.maxChain);
  if (cert.context.length !== 0) fail('illegal_parameter', `${peer} Certificate has a non-empty request context`);
  transcript.add(msg.raw);
  if (cert.chain.length === 0) return undefined;
  s.peerCertificates = cert.chain;
  return verifyPeerChain(s, cert.chain, verify.trust, verify.purpose, verify.name);
}

/**
 * The peer's CertificateVerify, in either role: signed over the transcript through its
 * Certificate with the leaf key of the chain just verified, in a scheme we offered.
 */
export class ExpectCertificateVerify<Ctx extends { s: Session }, Keys> extends AfterHello<Ctx, Keys> {
  readonly name = 'ExpectCertificateVerify';
  protected readonly expects = [HandshakeType.certificate_verify];

  constructor(
    ctx: Ctx,
    transcript: Transcript,
    keys: Keys,
    private readonly peer: { role: 'client' | 'server'; leafKey: AsymmetricKey; next: (keys: Keys) => State },
  ) {
    super(ctx, transcript, keys);
  }

  protected take(msg: HandshakeMessage): State {
    const s = this.ctx.s;
    const scheme = checkCertificateVerify(s, this.peer.role, msg, this.transcript.current(), this.peer.leafKey, s.cfg.schemes);
    if (this.peer.role === 'server') s.signatureScheme = scheme;
    else s.clientSignatureScheme = scheme;
    this.transcript.add(msg.raw);
    return this.peer.next(this.keys);
  }
}
