/** Building the ClientHello (and the second one after HelloRetryRequest). */
import { isIP } from 'node:net';
import type { ClientConfig } from '../api';
import type { KeyShare } from '../crypto/provider';
import type { Session } from '../session';
import { ExtensionType, GROUP_CODES, SCHEME_CODES, SUITE_CODES, TLS13 } from '../wire/codes';
import {
  encodeAlpn,
  encodeClientKeyShares,
  encodeCookie,
  encodeServerName,
  encodeU16List,
  type Extension,
} from '../wire/extensions';
import { encodeClientHello, type HandshakeMessage } from '../wire/handshake';

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
): { msg: HandshakeMessage; sent: Set<number> } {
  const c = s.cfg;
  let exts: Extension[] = [];
  if (offer.serverName) exts.push({ type: ExtensionType.server_name, body: encodeServerName(offer.serverName) });
  exts.push({ type: ExtensionType.supported_versions, body: encodeU16List([TLS13], 1) });
  exts.push({ type: ExtensionType.supported_groups, body: encodeU16List(c.groups.map((g) => GROUP_CODES[g])) });
  exts.push({ type: ExtensionType.signature_algorithms, body: encodeU16List(c.schemes.map((x) => SCHEME_CODES[x])) });
  exts.push({
    type: ExtensionType.key_share,
    body: encodeClientKeyShares(offer.shares.map((k) => ({ group: GROUP_CODES[k.group], key: k.publicKey }))),
  });
  if (c.alpn) exts.push({ type: ExtensionType.alpn, body: encodeAlpn(c.alpn) });
  if (cookie) exts.push({ type: ExtensionType.cookie, body: encodeCookie(cookie) });
  if (s.hooks.clientHelloExtensions) exts = s.hooks.clientHelloExtensions(exts, retry);
  const msg = encodeClientHello({
    random: offer.random,
    sessionId: offer.sessionId,
    cipherSuites: c.suites.map((x) => SUITE_CODES[x.name]),
    extensions: exts,
  });
  return { msg, sent: new Set(exts.map((e) => e.type)) };
}
