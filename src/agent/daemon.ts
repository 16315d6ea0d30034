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
import { monotonicUsec, serviceNotifier, type ServiceNotifier } from '../sys/sd-notify';
import { loadConfig, type AgentConfig, type ConfigWarning, type HostPort, type LogFormat, type LogLevel, type LoadedConfig } from './config';
import { SELF_NETNS, type NamespacesSetting } from './netns';
import { buildProfiles, profileFor, type Profiles } from './profiles';
import { Dispatcher, type RunContext, type RunOutcome } from './dispatcher';
import { runHandshake, type HandshakeEnv, type Profile } from './handshake';
import { identityFilesStamp } from './identities';
import { IDLE_TRIM_QUIET_MS, IdleTrim } from './idle-trim';
import { lookUpMallocTrim } from '../sys/libc';
import { PathWatch } from '../sys/inotify';
import { createLogger, type Logger } from './logging';
import type { AgentMetrics } from './metrics';
import { openAppendRegular } from '../sys/files';
import { peerGatedEnv } from './pool/gate';
import { WorkerPool } from './pool/pool';
import type { HandshakeRequest } from './request';
import { isDefaultHandshakeEnv } from './runtime';
import { StartupError, type AgentTransport, type TransportFactory } from './transport';

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
  /** Worker threads, instead of [handshaked] workers (tests, benchmarks). */
  workers?: number;
  /** Log sinks instead of stderr (tests). */
  logTransports?: winston.transport[];
  /** The service manager's notification socket; default: $NOTIFY_SOCKET, nothing without it. */
  notifier?: ServiceNotifier;
}

/** The effective log level: --log-level, else [handshaked] log_level, else tlshd's [debug] loglevel. */
function levelOf(c: AgentConfig): LogLevel {
  return c.logLevel ?? (c.debug.loglevel > 0 ? 'debug' : 'info');
}

export class Daemon {
  readonly logger: Logger;
  readonly dispatcher: Dispatcher;
  readonly metrics?: AgentMetrics;
  /** The worker threads running handshakes; undefined when they run on the main thread. */
  readonly pool?: WorkerPool;
  metricsAddress?: AddressInfo;
  /** The base profile and each namespace's, by label; replaced whole by a reload or a rotation. */
  private profiles: Profiles;
  private transports: AgentTransport[] = [];
  /** A configuration warning as one log line, `FILE:LINE: why` (start, reload, rotation). */
  private readonly warnConfig = (w: ConfigWarning): void => {
    this.logger.warn(`${w.file}:${w.line}: ${w.message}`);
  };
  private keylogFd?: number;
  private stopping?: Promise<void>;
  private identityStamp!: string;
  /** Watches the identity files (see currentProfiles); undefined: they are stat()ed before every handshake. */
  private identityWatch?: PathWatch;
  /** The reload a SIGHUP asked for, not started yet: further SIGHUPs join it. */
  private queuedReload?: Promise<boolean>;
  private readonly notifier: ServiceNotifier;
  /** Returns the C heap's free memory to the kernel when a storm is over (idle-trim.ts). */
  private readonly idleTrim: IdleTrim;

  /** Loads configuration and identities; throws ConfigError (file:line: why) when they are unusable. */
  private constructor(
    private readonly opts: DaemonOptions,
    loaded: LoadedConfig,
    metricsModule: typeof import('./metrics') | undefined,
  ) {
    const config = applyOverrides(loaded.config, opts.overrides);
    this.notifier = opts.notifier ?? serviceNotifier();
    this.logger = createLogger({ format: config.logFormat, level: levelOf(config), transports: opts.logTransports });
    for (const n of loaded.notices) this.logger.info(n);
    for (const w of loaded.warnings) this.warnConfig(w);
    this.profiles = buildProfiles(config, this.warnConfig);
    this.restamp();
    if (config.namespaces.mode === 'self') {
      for (const o of config.namespaceOverrides) {
        if (o.label !== SELF_NETNS) this.logger.warn(`${o.file}:${o.line}: [namespace.${o.label}] has no effect: [handshaked] namespaces serves only the agent's own namespace`);
      }
    }
    if (config.metrics && metricsModule) this.metrics = new metricsModule.AgentMetrics({ processMetrics: true, logger: this.logger });
    if (opts.keylogFile) this.keylogFd = openKeylog(opts.keylogFile);
    const workers = opts.workers ?? config.workers;
    if (workers > 0 && !isDefaultHandshakeEnv(opts.env)) {
      this.logger.debug('handshakes run on the main thread: the handshake environment was overridden', { workers });
    } else if (workers > 0) {
      this.pool = new WorkerPool({
        size: workers,
        logger: this.logger,
        ktls: opts.ktls,
        ...(this.keylogFd !== undefined ? { onKeylog: (line: string) => this.writeKeylog(line) } : {}),
        testHooks: process.env.HANDSHAKED_TEST_HOOKS === '1',
      });
      this.pool.configure(config, levelOf(config));
    }
    this.dispatcher = new Dispatcher({
      run: (req, ctx) => this.run(req, ctx),
      limits: () => {
        const c = this.config;
        return { maxInflight: c.maxInflight, maxHandshakes: c.maxHandshakes, defaultTimeoutMs: c.defaultTimeoutMs, peerIdleTimeoutMs: c.peerIdleTimeoutMs };
      },
      logger: this.logger,
      metrics: this.metrics,
    });
    this.idleTrim = new IdleTrim(this.dispatcher, {
      trim: lookUpMallocTrim(),
      quietMs: IDLE_TRIM_QUIET_MS,
      onTrim: (released, ms) => this.logger.debug('idle: free C heap memory given back', { released, ms: Number(ms.toFixed(2)) }),
    });
  }

  /** One handshake, here or on a worker thread, with the profile in force when it starts. */
  private run(req: HandshakeRequest, ctx: RunContext): Promise<RunOutcome> {
    const profile = profileFor(this.currentProfiles(), ctx.netns);
    const pooled = this.pool && this.runPooled(req, ctx, profile);
    if (pooled) return pooled;
    return runHandshake(req, ctx, profile, peerGatedEnv(this.opts.env, ctx), {
      ktls: this.opts.ktls,
      logger: this.logger,
      ...(this.keylogFd !== undefined ? { keyLog: (line: string) => this.writeKeylog(line) } : {}),
    });
  }

  /**
   * On a worker thread; undefined when none is up (start-up, replacing a dead one). Handshakes
   * that read kernel keys (PSKs, certificates by serial) go too: their keyrings are linked and
   * their keys read on this thread, whose credentials the kernel judges them by (pool/keys.ts).
   */
  private runPooled(req: HandshakeRequest, ctx: RunContext, profile: Profile): Promise<RunOutcome> | undefined {
    return this.pool?.run(req, ctx, profile.config.peerIdleTimeoutMs, { env: this.opts.env.keys, keyrings: profile.config.keyrings });
  }

  /** Build, start the metrics endpoint and every transport. On failure everything started is undone. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const loaded = loadConfig({ path: opts.configPath, searchPaths: opts.configSearchPaths });
    // prom-client and its dependencies are a large share of start-up: loaded only when asked for.
    const metricsModule = (opts.overrides?.metrics ?? loaded.config.metrics) ? await import('./metrics') : undefined;
    const d = new Daemon(opts, loaded, metricsModule);
    try {
      const cfg = d.config;
      if (d.metrics && cfg.metrics) {
        d.metricsAddress = await d.metrics.listen(cfg.metrics);
        d.logger.info('metrics endpoint listening', { address: `${d.metricsAddress.address}:${d.metricsAddress.port}`, path: '/metrics' });
      }
      for (const factory of opts.transports) {
        const t = factory({
          dispatcher: d.dispatcher,
          logger: d.logger,
          metrics: d.metrics,
          config: () => d.config,
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
    // Workers load while the agent already answers: until one is up, handshakes run here.
    d.pool?.start();
    d.logger.info('handshaked ready', { transports: d.transports.map((t) => t.name), ktls: opts.ktls, config: d.config.file ?? '(defaults)' });
    // Only now: every transport has joined the tlshd group or listens, so units ordered after
    // this one (remote-fs-pre.target and the NFS mounts behind it) find an agent that answers.
    d.tellServiceManager({ READY: 1, STATUS: `serving (${d.transports.map((t) => t.name).join(', ')})` });
    return d;
  }

  get config(): AgentConfig {
    return this.profiles.base.config;
  }

  /**
   * SIGHUP: a reload on the next turn of the event loop. Signals that arrive before it starts
   * (including those delivered while the previous reload ran) join it, so a burst of SIGHUPs
   * costs at most one reload beyond the one running, and handshakes get the loop in between.
   */
  requestReload(): Promise<boolean> {
    this.queuedReload ??= new Promise<boolean>((resolve) => {
      setImmediate(() => {
        this.queuedReload = undefined;
        resolve(this.stopping ? false : this.reload());
      });
    });
    return this.queuedReload;
  }

  /** Re-read the file and identities now. A broken new configuration is logged and the old one kept. */
  reload(): boolean {
    // The manager shows the unit "reloading" until READY=1; MONOTONIC_USEC ties the two together.
    this.tellServiceManager({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec().toString() });
    const ok = this.doReload();
    this.tellServiceManager({ READY: 1, STATUS: ok ? 'serving (configuration reloaded)' : 'serving (reload failed, previous configuration kept)' });
    return ok;
  }

  private doReload(): boolean {
    let next: Profiles;
    try {
      const loaded = loadConfig({ path: this.opts.configPath, searchPaths: this.opts.configSearchPaths });
      const config = applyOverrides(loaded.config, this.opts.overrides);
      for (const w of loaded.warnings) this.warnConfig(w);
      next = buildProfiles(config, this.warnConfig);
    } catch (e) {
      this.logger.error(`reload failed, keeping the previous configuration: ${(e as Error).message}`);
      return false;
    }
    const config = next.base.config;
    if (this.pool && (this.opts.workers ?? config.workers) !== this.pool.size) {
      this.logger.warn('[handshaked] workers changes only at restart', { running: this.pool.size, configured: config.workers });
    }
    if (!sameNamespaces(config.namespaces, this.config.namespaces)) {
      this.logger.warn('[handshaked] namespaces changes only at restart; [namespace.NAME] sections follow the reload');
    }
    this.profiles = next;
    this.restamp();
    this.logger.level = levelOf(config);
    this.pool?.configure(config, levelOf(config));
    this.logger.info('configuration reloaded', { config: config.file ?? '(defaults)' });
    return true;
  }

  /**
   * The profiles for a new handshake. When a configured certificate, key, CRL or trust store was
   * replaced on disk since it was loaded, the identities are loaded again first (tlshd reads them
   * per handshake, so hosts rotate certificates without signalling the agent). Files that do not
   * load (say, a key written before its certificate) are logged and the previous identities kept
   * until the files change again.
   *
   * An inotify descriptor watches the files, their directories and the symbolic links leading
   * to them (src/sys/inotify.ts), and the event loop watches that descriptor: the kernel queues
   * the event before the change returns, the loop delivers it and sets a flag, and the check
   * here reads the flag, with no system call. A file replaced before a handshake's request
   * arrives is seen by it (the loop delivers the event on its next turn); only a request read in
   * the same turn as the event may start with the old files, and the next one gets the new.
   * Only when an event came are the files stat()ed and compared with the stamp. When the loop
   * cannot watch the descriptor, the check is one read(2) of it per handshake (a change before
   * the handshake started is seen by it); without inotify (no watch left for this user), the
   * files are stat()ed every time: that cost 2-4 % of the agent's CPU per handshake
   * (docs/bench.md, "CPU per handshake").
   */
  private currentProfiles(): Profiles {
    if (this.identityWatch && !this.identityWatch.changed()) return this.profiles;
    if (identityFilesStamp(this.profiles.files) === this.identityStamp) return this.profiles;
    const { config } = this.profiles.base;
    this.restamp();
    try {
      this.profiles = buildProfiles(config, this.warnConfig);
      this.pool?.configure(config, levelOf(config));
      this.logger.info('identity files changed on disk; certificates, keys and trust reloaded');
    } catch (e) {
      this.logger.error(`identity files changed on disk but do not load, keeping the previous ones: ${(e as Error).message}`);
    }
    return this.profiles;
  }

  /**
   * Watch the files the profiles name (again: links may now lead elsewhere), then take their
   * stamp, in that order, so that a change between the two is an event, not lost. Each file
   * once, however many profiles name it.
   */
  private restamp(): void {
    this.identityWatch?.close();
    this.identityWatch = undefined;
    if (!this.stopping) {
      try {
        this.identityWatch = PathWatch.of(this.profiles.files);
        if (!this.identityWatch.arm()) this.logger.debug('the event loop cannot watch the identity files\' inotify descriptor; it is read before each handshake');
      } catch (e) {
        this.logger.debug('identity files are not watched; they are checked with stat() before each handshake', { error: (e as Error).message });
      }
    }
    this.identityStamp = identityFilesStamp(this.profiles.files);
  }

  /** Stop taking requests, give running handshakes the grace period, send every reply, release everything. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.tellServiceManager({ STOPPING: 1, STATUS: `stopping: ${this.dispatcher.inFlight} handshakes in flight` });
    for (const t of this.transports) t.stopAccepting();
    this.idleTrim.close();
    await this.dispatcher.shutdown(this.config.shutdownGraceMs);
    await this.pool?.close();
    for (const t of this.transports) {
      try {
        await t.close();
      } catch (e) {
        this.logger.error('transport did not close cleanly', { transport: t.name, error: (e as Error).message });
      }
    }
    await this.metrics?.close();
    this.identityWatch?.close();
    this.identityWatch = undefined;
    if (this.keylogFd !== undefined) {
      fs.closeSync(this.keylogFd);
      this.keylogFd = undefined;
    }
    this.logger.info('handshaked stopped');
    this.notifier.close();
  }

  private tellServiceManager(fields: Readonly<Record<string, string | number>>): void {
    if (!this.notifier.enabled) return;
    const r = this.notifier.notify(fields);
    if (!r.sent) this.logger.warn(`cannot notify the service manager: ${r.error}`);
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

/** The NSS key log: appended to, never a FIFO or device (a FIFO without a reader would block start-up). */
function openKeylog(file: string): number {
  try {
    return openAppendRegular(file, 'key log file');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new StartupError(`cannot open the key log (--keylog / SSLKEYLOGFILE): ${err.code === undefined ? err.message : `"${file}": ${err.code}`}`);
  }
}

function sameNamespaces(a: NamespacesSetting, b: NamespacesSetting): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
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
