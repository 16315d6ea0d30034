/**
 * Where handshaked's answer differs from both OpenSSL's and GnuTLS's, each with the reason from
 * RFC 8446; docs/interop.md carries the same list for people. A difference not listed here, or a
 * verdict that is not what the RFC names, fails the harness.
 */
import fs from 'node:fs';
import path from 'node:path';
import { differsFromBoth, type Row } from './run';

/** probe id → the RFC reason handshaked answers as it does. */
export const KNOWN_DIFFERENCES: Record<string, string> = {
  'ch-duplicate-extension': 'RFC 8446 §4.2: there MUST NOT be more than one extension of the same type in a block; OpenSSL and GnuTLS only notice duplicates of types they parse',
  'ks-two-for-one-group': 'RFC 8446 §4.2.8: clients MUST NOT offer two KeyShareEntry values for one group, and servers MAY abort with illegal_parameter',
  'rec-alert-3-bytes': 'RFC 8446 §5.1: an alert record holds exactly one 2-byte alert; §6: what cannot be parsed is decode_error',
  'rec-alert-1-byte': 'RFC 8446 §5.1: an alert record holds exactly one 2-byte alert; §6: what cannot be parsed is decode_error',
  'hrr-changed-random': 'RFC 8446 §4.1.2: the second ClientHello MUST be the first one unchanged except for the listed fields, and the random is not among them; the transcript would otherwise bind two different client randoms',
  'fl-two-ccs': 'RFC 8446 §5/§D.4: the compatibility change_cipher_spec is one record; a second is unexpected_message (the CVE-2020-25648 class: unbounded CCS records)',
};

const INTEROP_DOC = path.resolve(__dirname, '..', '..', 'docs', 'interop.md');

/** Problems with a run: unexplained differences, and RFC-named answers handshaked did not give. */
export function unexplained(rows: Row[]): string[] {
  const doc = fs.readFileSync(INTEROP_DOC, 'utf8');
  const out: string[] = [];
  for (const r of rows) {
    const id = r.probe.id;
    const v = r.verdicts;
    if (r.probe.rfc && v.handshaked !== r.probe.rfc) out.push(`${id}: handshaked answered ${v.handshaked}, RFC 8446 §${r.probe.section} names ${r.probe.rfc}`);
    if (differsFromBoth(r) && !KNOWN_DIFFERENCES[id]) out.push(`${id}: handshaked ${v.handshaked}, openssl ${v.openssl}, gnutls ${v.gnutls}, and no reason recorded`);
    if (differsFromBoth(r) && KNOWN_DIFFERENCES[id] && !doc.includes(`\`${id}\``)) out.push(`${id}: the difference is not explained in docs/interop.md`);
  }
  return out;
}
