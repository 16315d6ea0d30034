/**
 * External PSKs (RFC 8446 §4.2.11, §7.1): binder computation and checking. A binder is the
 * Finished-style MAC, under the PSK's "ext binder" key, over the transcript up to and
 * excluding the binders list of the ClientHello that carries it.
 */
import type { PskEntry } from './api';
import type { CryptoProvider, HashName } from './crypto/provider';
import { EarlyStage, Hkdf } from './keyschedule';

export type PskMode = 'psk_ke' | 'psk_dhe_ke';
export const PSK_MODE_CODES: Record<PskMode, number> = { psk_ke: 0, psk_dhe_ke: 1 };

/** Hash of the transcript up to the binders, for a given hash function. */
export type BinderTranscript = (truncatedHello: Buffer, alg: HashName) => Buffer;

export function computeBinder(crypto: CryptoProvider, psk: PskEntry, transcriptHash: Buffer): Buffer {
  const hkdf = new Hkdf(crypto, psk.hash);
  const binderKey = new EarlyStage(hkdf, psk.key).externalBinderKey();
  return hkdf.verifyData(binderKey, transcriptHash);
}

export function binderLength(crypto: CryptoProvider, psk: PskEntry): number {
  return crypto.hashLen(psk.hash);
}

/**
 * The cipher suites a PSK-only client may offer: those whose hash is the hash of at least one
 * offered PSK (RFC 8446 §4.2.11: a PSK is usable only with its own hash). Offering more would
 * let the server pick a suite no PSK can authenticate — e.g. ChaCha20-Poly1305 (SHA-256) for a
 * SHA-384 PSK, which tlshd's PSK-SHA384 priority list allows. Preference order is kept.
 */
export function suitesForPsks<S extends { hash: HashName }>(suites: readonly S[], psks: readonly Pick<PskEntry, 'hash'>[]): S[] {
  const hashes = new Set<HashName>(psks.map((p) => p.hash));
  const fit = suites.filter((s) => hashes.has(s.hash));
  if (fit.length === 0) {
    throw new Error(`no configured cipher suite uses the hash of any offered PSK (${[...hashes].join(', ')}); enable a suite with that hash`);
  }
  return fit;
}
