/**
 * The TLS 1.3 engine: createClient / createServer implement the contract in ./api.
 * The optional `hooks` parameter is internal (deterministic traces in tests).
 */
import type { ClientConfig, Connection, ServerConfig } from './api';
import { startClient } from './client/states';
import { nodeCrypto } from './crypto/node';
import { Engine } from './connection';
import type { TestHooks } from './hooks';
import { startServer } from './server/states';
import { suitesForPsks } from './psk';
import { resolveCommon, Session } from './session';
import type { State } from './state';

export * from './api';
export { plaintextAlertRecord } from './record/layer';
export { MAX_PSK_IDENTITIES_LOOKED_UP, OfferedPskReader } from './server/offered-psks';
export { DEFAULT_MAX_HANDSHAKE_MESSAGE } from './session';

class NotStarted implements State {
  readonly name = 'NotStarted';
  readonly acceptsCcs = false;
  readonly done = false;
  handle(): State {
    throw new Error('handle() before start()');
  }
}

export function createClient(cfg: ClientConfig, hooks: TestHooks = {}): Connection {
  const resolved = resolveCommon(cfg, hooks.crypto ?? nodeCrypto);
  // PSK-only (no trust anchors for a certificate fallback): offer only suites some PSK can use.
  if (cfg.psks && cfg.psks.length > 0 && !cfg.trust) resolved.suites = suitesForPsks(resolved.suites, cfg.psks);
  const s = new Session(resolved, hooks, true);
  return new Engine(s, new NotStarted(), () => startClient(s, cfg));
}

export function createServer(cfg: ServerConfig, hooks: TestHooks = {}): Connection {
  if (!cfg.certificate && !cfg.pskLookup) throw new Error('ServerConfig needs a certificate or a pskLookup');
  if (cfg.clientAuth !== 'none' && !cfg.trust) {
    throw new Error(`ServerConfig.trust is required when clientAuth is '${cfg.clientAuth}'`);
  }
  if (cfg.certificate && cfg.certificate.chain.length === 0) throw new Error('ServerConfig.certificate.chain is empty');
  const s = new Session(resolveCommon(cfg, hooks.crypto ?? nodeCrypto), hooks, false);
  return new Engine(s, new NotStarted(), () => startServer({ s, cfg }));
}
