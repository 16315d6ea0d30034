/**
 * The long-running agent: configuration, logging, metrics, one dispatcher, and a list of
 * transports feeding it. SIGHUP → reload(): the next handshakes use the new configuration and
 * parsed identities, the running ones keep what they started with. SIGTERM → stop(): transports
 * stop taking requests, running handshakes get the grace period, the rest end with ETIMEDOUT,
 * every reply owed is sent.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type winston from 'winston';
import { loadConfig, type AgentConfig, type HostPort, type LogFormat, type LogLevel, type LoadedConfig } from './config';
import { Dispatcher } from './dispatcher';
import { runHandshake, type HandshakeEnv, type Profile } from './handshake';
import { identityFilesStamp, loadIdentities } from './identities';
import { createLogger, type Logger } from './logging';
import type { AgentMetrics } from './metrics';
import type { AgentTransport, TransportFactory } from './transport';

export interface DaemonOptions {
  /** `-c FILE`. */
  configPath?: string;
  /** Where to look without -c (tests). */
  configSearchPaths?: readonly string[];
  transports: TransportFactory[];
  ktls: 'on' | 'off';
  /** NSS key-log file (--keylog or SSLKEYLOGFILE). */
  keylogFile?: string;
  /** Command-line settings win over the file, on start and on every reload. */
  overrides?: {
    logFormat?: LogFormat;
    logLevel?: LogLevel;
    metrics?: HostPort;
    unixSocket?: string;
  };
  env: HandshakeEnv;
  /** Log sinks instead of stderr (tests). */
  logTransports?: winston.transport[];
}

/** The effective log level: --log-level, else [handshaked] log_level, else tlshd's [debug] loglevel. */
function levelOf(c: AgentConfig): LogLevel {
  return c.logLevel ?? (c.debug.loglevel > 0 ? 'debug' : 'info');
}

export class Daemon {
  readonly logger: Logger;
  readonly dispatcher: Dispatcher;
  readonly metrics?: AgentMetrics;
  metricsAddress?: AddressInfo;
  private profile: Profile;
  private transports: AgentTransport[] = [];
  private keylogFd?: number;
  private stopping?: Promise<void>;
  private identityStamp: string;

  /** Loads configuration and identities; throws ConfigError (file:line: why) when they are unusable. */
  private constructor(
    private readonly opts: DaemonOptions,
    loaded: LoadedConfig,
    metricsModule: typeof import('./metrics') | undefined,
  ) {
    const config = applyOverrides(loaded.config, opts.overrides);
    this.logger = createLogger({ format: config.logFormat, level: levelOf(config), transports: opts.logTransports });
    for (const n of loaded.notices) this.logger.info(n);
    for (const w of loaded.warnings) this.logger.warn(`${w.file}:${w.line}: ${w.message}`);
    this.profile = Object.freeze({ config, identities: loadIdentities(config, (w) => this.logger.warn(`${w.file}:${w.line}: ${w.message}`)) });
    this.identityStamp = identityFilesStamp(config);
    if (config.metrics && metricsModule) this.metrics = new metricsModule.AgentMetrics({ processMetrics: true });
    if (opts.keylogFile) this.keylogFd = fs.openSync(opts.keylogFile, 'a', 0o600);
    this.dispatcher = new Dispatcher({
      run: (req, ctx) => {
        const profile = this.currentProfile();
        return runHandshake(req, ctx, profile, opts.env, {
          ktls: opts.ktls,
          logger: this.logger,
          ...(this.keylogFd !== undefined ? { keyLog: (line: string) => this.writeKeylog(line) } : {}),
        });
      },
      limits: () => ({ maxInflight: this.profile.config.maxInflight, defaultTimeoutMs: this.profile.config.defaultTimeoutMs }),
      logger: this.logger,
      metrics: this.metrics,
    });
  }

  /** Build, start the metrics endpoint and every transport. On failure everything started is undone. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const loaded = loadConfig({ path: opts.configPath, searchPaths: opts.configSearchPaths });
    // prom-client and its dependencies are a large share of start-up: loaded only when asked for.
    const metricsModule = (opts.overrides?.metrics ?? loaded.config.metrics) ? await import('./metrics') : undefined;
    const d = new Daemon(opts, loaded, metricsModule);
    try {
      const cfg = d.profile.config;
      if (d.metrics && cfg.metrics) {
        d.metricsAddress = await d.metrics.listen(cfg.metrics);
        d.logger.info('metrics endpoint listening', { address: `${d.metricsAddress.address}:${d.metricsAddress.port}`, path: '/metrics' });
      }
      for (const factory of opts.transports) {
        const t = factory({
          dispatcher: d.dispatcher,
          logger: d.logger,
          metrics: d.metrics,
          config: () => d.profile.config,
          ktls: opts.ktls,
        });
        await t.start();
        d.transports.push(t);
        d.logger.info('transport started', { transport: t.name });
      }
    } catch (e) {
      await d.stop();
      throw e;
    }
    d.logger.info('handshaked ready', { transports: d.transports.map((t) => t.name), ktls: opts.ktls, config: d.profile.config.file ?? '(defaults)' });
    return d;
  }

  get config(): AgentConfig {
    return this.profile.config;
  }

  /** SIGHUP: re-read the file and identities. A broken new configuration is logged and the old one kept. */
  reload(): boolean {
    let next: Profile;
    try {
      const loaded = loadConfig({ path: this.opts.configPath, searchPaths: this.opts.configSearchPaths });
      const config = applyOverrides(loaded.config, this.opts.overrides);
      for (const w of loaded.warnings) this.logger.warn(`${w.file}:${w.line}: ${w.message}`);
      next = Object.freeze({ config, identities: loadIdentities(config, (w) => this.logger.warn(`${w.file}:${w.line}: ${w.message}`)) });
    } catch (e) {
      this.logger.error(`reload failed, keeping the previous configuration: ${(e as Error).message}`);
      return false;
    }
    this.profile = next;
    this.identityStamp = identityFilesStamp(next.config);
    this.logger.level = levelOf(next.config);
    this.logger.info('configuration reloaded', { config: next.config.file ?? '(defaults)' });
    return true;
  }

  /**
   * The profile for a new handshake. When a configured certificate, key, CRL or trust store was
   * replaced on disk since it was loaded, the identities are loaded again first (tlshd reads them
   * per handshake, so hosts rotate certificates without signalling the agent). Files that do not
   * load (say, a key written before its certificate) are logged and the previous identities kept
   * until the files change again. The check is a few stat() calls, small beside a handshake.
   */
  private currentProfile(): Profile {
    const { config } = this.profile;
    const stamp = identityFilesStamp(config);
    if (stamp === this.identityStamp) return this.profile;
    this.identityStamp = stamp;
    try {
      const identities = loadIdentities(config, (w) => this.logger.warn(`${w.file}:${w.line}: ${w.message}`));
      this.profile = Object.freeze({ config, identities });
      this.logger.info('identity files changed on disk; certificates, keys and trust reloaded');
    } catch (e) {
      this.logger.error(`identity files changed on disk but do not load, keeping the previous ones: ${(e as Error).message}`);
    }
    return this.profile;
  }

  /** Stop taking requests, give running handshakes the grace period, send every reply, release everything. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    for (const t of this.transports) t.stopAccepting();
    await this.dispatcher.shutdown(this.profile.config.shutdownGraceMs);
    for (const t of this.transports) {
      try {
        await t.close();
      } catch (e) {
        this.logger.error('transport did not close cleanly', { transport: t.name, error: (e as Error).message });
      }
    }
    await this.metrics?.close();
    if (this.keylogFd !== undefined) {
      fs.closeSync(this.keylogFd);
      this.keylogFd = undefined;
    }
    this.logger.info('handshaked stopped');
  }

  private writeKeylog(line: string): void {
    if (this.keylogFd === undefined) return;
    try {
      fs.writeSync(this.keylogFd, `${line}\n`);
    } catch (e) {
      this.logger.warn('cannot write the key log', { error: (e as Error).message });
    }
  }
}

function applyOverrides(c: AgentConfig, o: DaemonOptions['overrides']): AgentConfig {
  if (!o) return c;
  return Object.freeze({
    ...c,
    ...(o.logFormat ? { logFormat: o.logFormat } : {}),
    ...(o.logLevel ? { logLevel: o.logLevel } : {}),
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.unixSocket ? { unixSocket: o.unixSocket } : {}),
  });
}
