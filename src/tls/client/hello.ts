/** Building the ClientHello (and the second one after HelloRetryRequest). */
import { isIP } from 'node:net';
import type { ClientConfig, PskEntry } from '../api';
import type { KeyShare } from '../crypto/provider';
import type { Session } from '../session';
import { ExtensionType, SCHEME_CODES, SUITE_CODES, TLS13 } from '../wire/codes';
import {
  encodeAlpn,
  encodeClientKeyShares,
  encodeCookie,
  encodeOfferedPsks,
  encodeServerName,
  encodeU16List,
  type Extension,
} from '../wire/extensions';
import { encodeClientHello, type HandshakeMessage } from '../wire/handshake';
import { type BinderTranscript, binderLength, computeBinder, PSK_MODE_CODES, type PskMode } from '../psk';

/** What the client said in its ClientHello, needed to judge the server's answers. */
export interface Offer {
  random: Buffer;
  sessionId: Buffer;
  shares: KeyShare[];
  /** Extension types we sent (the server may only answer those). */
  sent: Set<number>;
  /** Whether we send the compatibility change_cipher_spec (non-empty session id). */
  compat: boolean;
  serverName?: string;
  /** External PSKs offered, in the order of the identities sent. */
  psks: PskEntry[];
  pskModes: PskMode[];
}

/** A host name, as opposed to an IP literal (RFC 6066 §3: no literals in SNI). */
export function sniName(serverName: string | undefined): string | undefined {
  if (!serverName) return undefined;
  const bare = serverName.startsWith('[') && serverName.endsWith(']') ? serverName.slice(1, -1) : serverName;
  if (isIP(bare) !== 0) return undefined;
  return serverName.endsWith('.') ? serverName.slice(0, -1) : serverName;
}

export function buildClientHello(
  s: Session,
  cfg: ClientConfig,
  offer: Omit<Offer, 'sent'>,
  cookie: Buffer | undefined,
  retry: boolean,
  binderTranscript?: BinderTranscript,
): { msg: HandshakeMessage; sent: Set<number> } {
  const c = s.cfg;
  let exts: Extension[] = [];
  if (offer.serverName) exts.push({ type: ExtensionType.server_name, body: encodeServerName(offer.serverName) });
  exts.push({ type: ExtensionType.supported_versions, body: encodeU16List([TLS13], 1) });
  exts.push({ type: ExtensionType.supported_groups, body: encodeU16List(c.groups.map((g) => s.kx(g).code)) });
  exts.push({ type: ExtensionType.signature_algorithms, body: encodeU16List(c.schemes.map((x) => SCHEME_CODES[x])) });
  exts.push({
    type: ExtensionType.key_share,
    body: encodeClientKeyShares(offer.shares.map((k) => ({ group: s.kx(k.group).code, key: k.publicKey }))),
  });
  if (c.alpn) exts.push({ type: ExtensionType.alpn, body: encodeAlpn(c.alpn) });
  if (cookie) exts.push({ type: ExtensionType.cookie, body: encodeCookie(cookie) });
  if (offer.psks.length > 0) {
    exts.push({
      type: ExtensionType.psk_key_exchange_modes,
      body: Buffer.concat([Buffer.from([offer.pskModes.length]), Buffer.from(offer.pskModes.map((m) => PSK_MODE_CODES[m]))]),
    });
  }
  if (s.hooks.clientHelloExtensions) exts = s.hooks.clientHelloExtensions(exts, retry);
  const encode = (binders: Buffer[]): HandshakeMessage => {
    const all = [...exts];
    // RFC 8446 §4.2.11: pre_shared_key is always the last extension.
    if (offer.psks.length > 0) {
      all.push({ type: ExtensionType.pre_shared_key, body: encodeOfferedPsks(offer.psks.map((p) => p.identity), binders) });
    }
    return encodeClientHello({
      random: offer.random,
      sessionId: offer.sessionId,
      cipherSuites: c.suites.map((x) => SUITE_CODES[x.name]),
      extensions: all,
    });
  };
  let msg = encode(offer.psks.map((p) => Buffer.alloc(binderLength(s.crypto, p))));
  if (offer.psks.length > 0 && binderTranscript) {
    // Binders cover the ClientHello up to the binders list; same length, so one re-encode.
    const bindersLen = 2 + offer.psks.reduce((n, p) => n + 1 + binderLength(s.crypto, p), 0);
    const truncated = msg.raw.subarray(0, msg.raw.length - bindersLen);
    msg = encode(offer.psks.map((p) => computeBinder(s.crypto, p, binderTranscript(truncated, p.hash))));
  }
  const sent = new Set(exts.map((e) => e.type));
  if (offer.psks.length > 0) sent.add(ExtensionType.pre_shared_key);
  return { msg, sent };
}
