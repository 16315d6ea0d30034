/**
 * Hands a finished TLS 1.3 session to kernel TLS: attach the "tls" ULP to the TCP socket, then
 * give it the application traffic keys for each direction (docs/kernel-interface.md, "kTLS").
 *
 * Order matters: TCP_ULP first (it fails unless the socket is ESTABLISHED), then TLS_TX, then
 * TLS_RX. RX goes last because from that moment the kernel decrypts incoming records itself; the
 * socket reader must already have stopped reading (it never reads past the last handshake record).
 */
import type { CipherSuiteName, ExtractedSecrets, TrafficKeys } from '../tls/api';
import { TLS13 } from '../tls/wire/codes';
import { SOL_TCP, SOL_TLS, SysError, TCP_ULP, close, setsockoptBytes, tcpLoopbackPair } from '../sys/libc';

const TLS_TX = 1;
const TLS_RX = 2;

interface CipherLayout {
  /** tls_crypto_info.cipher_type */
  type: number;
  keyLen: number;
  /** Bytes of the 12-byte write_iv that go in `salt`; the rest go in `iv`. */
  saltLen: number;
  /** sizeof(struct tls12_crypto_info_*) — setsockopt wants exactly this length. */
  size: number;
}

/** Struct layouts: header {u16 version, u16 cipher_type}, then iv, key, salt, rec_seq, no padding. */
export const CIPHER_LAYOUTS: Readonly<Record<CipherSuiteName, CipherLayout>> = {
  TLS_AES_128_GCM_SHA256: { type: 51, keyLen: 16, saltLen: 4, size: 40 },
  TLS_AES_256_GCM_SHA384: { type: 52, keyLen: 32, saltLen: 4, size: 56 },
  TLS_AES_128_CCM_SHA256: { type: 53, keyLen: 16, saltLen: 4, size: 40 },
  // ChaCha20-Poly1305 has no salt: the whole 12-byte write_iv goes in `iv`.
  TLS_CHACHA20_POLY1305_SHA256: { type: 54, keyLen: 32, saltLen: 0, size: 56 },
};

const IV_LEN = 12;
const REC_SEQ_LEN = 8;

/** Why kTLS could not be installed, with a message an operator can act on. */
export class KtlsError extends Error {
  constructor(
    /** 'ENOENT', 'EINVAL', … from the failing setsockopt, or 'EINVAL' for bad key material. */
    readonly code: string,
    /** 'ulp' | 'tx' | 'rx' | 'keys': which step failed. */
    readonly step: 'ulp' | 'tx' | 'rx' | 'keys',
    message: string,
    cause?: Error,
  ) {
    super(message, cause ? { cause } : undefined);
    this.name = 'KtlsError';
  }
}

/**
 * struct tls12_crypto_info_<cipher> for TLS 1.3, host byte order (little-endian) for the header,
 * big-endian for rec_seq (it is the record sequence number as it appears in the nonce).
 */
export function buildCryptoInfo(suite: CipherSuiteName, keys: TrafficKeys): Buffer {
  const layout = CIPHER_LAYOUTS[suite];
  if (!layout) throw new KtlsError('EINVAL', 'keys', `cipher suite ${String(suite)} has no kernel TLS equivalent`);
  if (keys.key.length !== layout.keyLen) {
    throw new KtlsError('EINVAL', 'keys', `${suite} needs a ${layout.keyLen}-byte key, got ${keys.key.length}`);
  }
  if (keys.iv.length !== IV_LEN) {
    throw new KtlsError('EINVAL', 'keys', `${suite} needs a ${IV_LEN}-byte IV, got ${keys.iv.length}`);
  }
  if (keys.seq < 0n || keys.seq > 0xffff_ffff_ffff_ffffn) {
    throw new KtlsError('EINVAL', 'keys', `record sequence number ${keys.seq} does not fit in 64 bits`);
  }
  const ivLen = IV_LEN - layout.saltLen;
  const buf = Buffer.alloc(layout.size);
  let off = 0;
  buf.writeUInt16LE(TLS13, off);
  buf.writeUInt16LE(layout.type, off + 2);
  off += 4;
  keys.iv.copy(buf, off, layout.saltLen, IV_LEN); // iv = write_iv[salt..12]
  off += ivLen;
  keys.key.copy(buf, off);
  off += layout.keyLen;
  keys.iv.copy(buf, off, 0, layout.saltLen); // salt = write_iv[0..salt]
  off += layout.saltLen;
  buf.writeBigUInt64BE(keys.seq, off);
  off += REC_SEQ_LEN;
  if (off !== layout.size) throw new Error(`internal: ${suite} crypto_info is ${off} bytes, expected ${layout.size}`);
  return buf;
}

/** "tls\0": tlshd passes sizeof("tls"); the kernel accepts the name with or without the NUL. */
const ULP_NAME = Buffer.from('tls\0', 'latin1');

function explain(step: 'ulp' | 'tx' | 'rx', suite: CipherSuiteName | undefined, err: SysError): KtlsError {
  const what = step === 'ulp' ? 'attaching the "tls" ULP (TCP_ULP)' : `setting ${step === 'tx' ? 'TLS_TX' : 'TLS_RX'}`;
  let why: string;
  switch (err.code) {
    case 'ENOENT':
      why =
        step === 'ulp'
          ? 'kernel has no kTLS (CONFIG_TLS / module tls): load it with "modprobe tls"'
          : `kernel does not support the requested algorithm (${suite}): its crypto module is missing`;
      break;
    case 'EEXIST':
      why = step === 'ulp' ? 'the socket already has a ULP attached' : 'keys for this direction are already installed';
      break;
    case 'ENOTCONN':
      why = 'the TCP connection is not established (peer closed it?)';
      break;
    case 'EOPNOTSUPP':
      why = 'the socket does not support kTLS (not TCP, or not in ESTABLISHED state)';
      break;
    case 'EINVAL':
      why =
        step === 'ulp'
          ? 'the socket cannot take a ULP'
          : `kernel rejected the crypto_info for ${suite} (wrong length, version or cipher)`;
      break;
    case 'EBUSY':
      why = 'kernel TLS is busy on this socket (data pending in the ULP)';
      break;
    case 'EPERM':
      why = 'not permitted (loading the tls module needs CAP_NET_ADMIN)';
      break;
    default:
      why = err.message;
  }
  return new KtlsError(err.code, step, `kTLS: ${what} failed: ${why} [${err.code}]`, err);
}

function step(fd: number, which: 'ulp' | 'tx' | 'rx', suite: CipherSuiteName | undefined, fn: (fd: number) => void): void {
  try {
    fn(fd);
  } catch (e) {
    if (e instanceof SysError) throw explain(which, suite, e);
    throw e;
  }
}

/**
 * Install kTLS on a connected TCP socket with the session's application traffic keys.
 * Throws KtlsError (code = errno name, step = which setsockopt failed).
 */
export function installKtls(fd: number, secrets: ExtractedSecrets): void {
  // Build both structs before touching the socket: bad key material must not leave a
  // half-configured socket behind.
  const tx = buildCryptoInfo(secrets.suite, secrets.tx);
  const rx = buildCryptoInfo(secrets.suite, secrets.rx);
  try {
    step(fd, 'ulp', undefined, (f) => setsockoptBytes(f, SOL_TCP, TCP_ULP, ULP_NAME));
    step(fd, 'tx', secrets.suite, (f) => setsockoptBytes(f, SOL_TLS, TLS_TX, tx));
    step(fd, 'rx', secrets.suite, (f) => setsockoptBytes(f, SOL_TLS, TLS_RX, rx));
  } finally {
    // Key material should not outlive its use in our heap longer than necessary.
    tx.fill(0);
    rx.fill(0);
  }
}

export interface KtlsProbe {
  available: boolean;
  /** Why not, when unavailable (the KtlsError message). */
  reason?: string;
}

let probeCache: KtlsProbe | undefined;

/**
 * Can this kernel attach the "tls" ULP? Tries it on a throwaway loopback TCP connection (the ULP
 * refuses unconnected sockets), made with plain blocking syscalls so the answer is synchronous.
 * A CAP_NET_ADMIN caller may autoload the tls module here, as the real install would. The
 * answer is cached; pass `refresh` after e.g. "modprobe tls".
 */
export function ktlsAvailable(refresh = false): KtlsProbe {
  if (probeCache && !refresh) return probeCache;
  let pair: [number, number];
  try {
    pair = tcpLoopbackPair();
  } catch (e) {
    return { available: false, reason: `cannot open a loopback TCP connection to probe kTLS: ${(e as Error).message}` };
  }
  try {
    step(pair[0], 'ulp', undefined, (f) => setsockoptBytes(f, SOL_TCP, TCP_ULP, ULP_NAME));
    probeCache = { available: true };
  } catch (e) {
    probeCache = { available: false, reason: (e as Error).message };
  } finally {
    close(pair[0]);
    close(pair[1]);
  }
  return probeCache;
}
