/**
 * Internal test hooks: deterministic randoms, key shares and session ids, and raw control over
 * extension lists, so the engine can replay RFC 8448 traces byte for byte. Not part of the
 * public configs in api.ts; production callers never pass these.
 */
import type { ChainVerifyOptions, ChainVerifyResult, GroupName } from './api';
import type { CryptoProvider } from './crypto/provider';
import type { Extension } from './wire/extensions';

export interface TestHooks {
  /** The 32-byte Hello random. */
  random?: Buffer;
  /** Client: legacy_session_id (empty turns middlebox compatibility off). */
  sessionId?: Buffer;
  /** Raw private scalars for our key shares, by group. */
  keySharePrivate?: Partial<Record<GroupName, Buffer>>;
  /** Client: rewrite the ClientHello extension list (both ClientHellos) before encoding. */
  clientHelloExtensions?: (exts: Extension[], retry: boolean) => Extension[];
  /** Server: rewrite the EncryptedExtensions list before encoding. */
  encryptedExtensions?: (exts: Extension[]) => Extension[];
  /** Server: rewrite the HelloRetryRequest extension list (e.g. add a cookie). */
  helloRetryExtensions?: (exts: Extension[]) => Extension[];
  /** Replaces certificate path validation (src/tls/x509). */
  verifyChain?: (opts: ChainVerifyOptions) => ChainVerifyResult;
  crypto?: CryptoProvider;
}
