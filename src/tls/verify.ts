/** The engine's certificate path validator: src/tls/x509's verifyChain unless a test hook replaces it. */
import type { ChainVerifyOptions, ChainVerifyResult } from './api';
import { verifyChain } from './x509';

export type ChainVerifier = (opts: ChainVerifyOptions) => ChainVerifyResult;

export const defaultChainVerifier: ChainVerifier = verifyChain;
