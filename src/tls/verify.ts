/**
 * Certificate path validation lives in src/tls/x509 (another module owner). It is looked up
 * at run time so the engine builds and runs its own tests while that module is in progress;
 * a missing validator is a local failure (internal_error), never a silent accept.
 */
import type { ChainVerifyOptions, ChainVerifyResult } from './api';

export type ChainVerifier = (opts: ChainVerifyOptions) => ChainVerifyResult;

let cached: ChainVerifier | null | undefined;

export function defaultChainVerifier(): ChainVerifier | undefined {
  if (cached === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require('./x509') as { verifyChain?: ChainVerifier };
      cached = typeof mod.verifyChain === 'function' ? mod.verifyChain : null;
    } catch {
      cached = null;
    }
  }
  return cached ?? undefined;
}
