/**
 * `handshaked serve`: the long-running agent (a drop-in for tlshd).
 * Parses options, starts the Daemon, wires signals, and turns start-up failures into one line
 * on stderr and exit status 1.
 */
import { parseArgs } from 'node:util';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { CONFIG_PATH, LEGACY_CONFIG_PATH, LOG_LEVELS, parseHostPort, type HostPort, type LogFormat, type LogLevel } from '../agent/config';
import { Daemon } from '../agent/daemon';
import { journalPrefix, stderrIsJournal } from '../agent/logging';
import { checkConfig } from './check-config';
import { codeCacheAfterReady } from './code-cache';
import { defaultHandshakeEnv, kernelNamespacesTransport, unixTransportFactory } from '../agent/runtime';
import type { TransportFactory } from '../agent/transport';

export interface ServeArgs {
  config?: string;
  transport: 'kernel' | 'unix' | 'both';
  'unix-socket'?: string;
  ktls: 'on' | 'off';
  keylog?: string;
  'log-format'?: LogFormat;
  'log-level'?: LogLevel;
  metrics?: string;
  stderr?: boolean;
  'check-config'?: boolean;
}

const EPILOG = `DESCRIPTION
  Runs TLS 1.3 handshakes for kernel TLS consumers (NFS "xprtsec=tls|mtls", NVMe/TCP with TLS)
  and installs the session keys into kernel TLS (kTLS). It speaks the kernel's "handshake"
  generic-netlink family, joins its "tlshd" multicast group and reads tlshd's configuration file,
  so it replaces tlshd without configuration changes. By default it serves its own network
  namespace; with [handshaked] namespaces = all (or a list) one agent serves every namespace,
  each over its own socket, so one tlshd per namespace is no longer needed. Never run two agents
  for the same namespace.

CONFIGURATION FILE
  -c FILE, else ${CONFIG_PATH}, else the legacy ${LEGACY_CONFIG_PATH}; without any, built-in
  defaults. GLib key-file (INI) syntax, tlshd's sections and keys:
    [debug]                 loglevel (>0: debug logging), delay_done (seconds before DONE);
                            tls, nl (tlshd's library debug levels) are checked, no effect
    [authenticate]          keyrings = name;name;...  linked for every handshake, besides
                            .nvme, .nfs and .nfsd, which are always linked
    [authenticate.client]   x509.truststore, x509.crl, x509.certificate, x509.private_key (PEM),
                            x509.strict (yes: the peer's chain must meet the strict profile),
                            x509.pq.certificate, x509.pq.private_key (an ML-DSA identity)
    [authenticate.server]   the same keys for the server role: x509.truststore, x509.crl,
                            x509.certificate, x509.private_key, x509.strict,
                            x509.pq.certificate, x509.pq.private_key; and
                            x509.client_certificate (request|require|none; default request),
                            x509.allowed_peers (dns:, cn:, ip: patterns a verified client
                            certificate must match), psk.allowed_identities (PSK identities
                            that may connect); unset: everyone verified may
  and handshaked's own section:
    [handshaked]            max_inflight (64: handshakes doing work), max_handshakes (4096: held,
                            working or waiting on their peer), peer_idle_timeout_ms (30000),
                            workers (0 on 1-2 CPUs, else CPUs - 1, at most 32;
                            0: no worker threads),
                            default_timeout_ms (10000), shutdown_grace_ms (5000),
                            unix_socket, allow_uids (0), allow_gids, metrics (HOST:PORT),
                            log_format (text|json), log_level, cipher_suites, groups,
                            psk_modes (psk_dhe_ke|psk_ke; default psk_dhe_ke),
                            key_file_mode_check (warn|refuse|off; default warn),
                            namespaces (self | all | NAME;NAME;/proc/PID/ns/net)
    [namespace.NAME]        for requests from that namespace: keyrings, client.x509.* and
                            server.x509.* instead of the main sections' (docs/serve.md)
  A value that does not parse stops start-up (and is refused on reload) with FILE:LINE and the
  reason; unknown keys only warn. x509.truststore unset means the system trust store; a configured
  path that cannot be read is an error (tlshd silently falls back to the system store).
  Command-line options win over the file.
  handshaked's own per-peer settings (certificate by SNI, client certificate by server, allow
  lists): [authenticate.server.certificate.NAME], [authenticate.client.certificate.NAME] (with
  peers = ...), and in [authenticate.server] x509.allowed_peers and psk.allowed_identities.
  --check-config prints what a file resolves to without starting (docs/serve.md).

SIGNALS
  SIGHUP    reload the configuration file and re-read certificates and keys. Handshakes already
            running finish with the configuration they started with. A broken file is logged and
            the running configuration kept.
  SIGTERM, SIGINT
            stop: take no new requests, give running handshakes shutdown_grace_ms to finish,
            end the rest with ETIMEDOUT (so the kernel consumer retries), then exit 0.

LOGGING
  stderr, one line per record: "<level> message key=value ..." without timestamps or colour (the
  journal adds them; under systemd each line carries its syslog priority), or JSON objects with
  --log-format json. One info line per handshake: transport, netns (self, a /run/netns name or
  ino:N), role, auth, peer, peername, suite, group, duration, status, remote-auth. Keys, secrets and PSKs are never logged, at any level.

STATUS SENT TO THE KERNEL
  0 success; EACCES handshake or certificate verification failure; ETIMEDOUT peer went away or
  deadline passed; EKEYREJECTED peer sent unknown_psk_identity; EIO local failure; EOPNOTSUPP not
  a TCP socket, or kTLS unavailable.

EXIT STATUS
  0  stopped by SIGTERM or SIGINT; with --check-config, the configuration is valid
  1  could not start: bad option, bad configuration (the line names FILE:LINE), no handshake
     family in the kernel (needs Linux >= 6.5 with CONFIG_NET_HANDSHAKE), no privilege (ACCEPT
     needs root or CAP_NET_ADMIN in the initial user namespace), metrics address in use; with
     --check-config, the configuration is not valid (FILE:LINE on stderr)

ENVIRONMENT
  SSLKEYLOGFILE  like --keylog when that is not given (debugging only: it exposes session keys).
  HANDSHAKED_CODE_CACHE=DIR
                 keep the V8 code cache of the built program in DIR (owned by this user or
                 root, writable by no one else): later starts are ready sooner. "off": none.
  CACHE_DIRECTORY
                 set by systemd from the unit's CacheDirectory=: the cache's directory when
                 HANDSHAKED_CODE_CACHE is not set. Neither: no cache, nothing written.`;

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'run the handshake agent (tlshd drop-in): kernel upcalls in, kTLS sockets out',
  builder: (y: Argv) =>
    y
      .usage('$0 serve [options]\n\nRun the TLS handshake agent for kernel TLS consumers.')
      .option('config', {
        alias: 'c',
        type: 'string',
        describe: `configuration file (default ${CONFIG_PATH}, then ${LEGACY_CONFIG_PATH})`,
        requiresArg: true,
      })
      .option('transport', {
        choices: TRANSPORTS,
        default: 'kernel' as const,
        describe: 'where requests come from: the kernel handshake family, the unix socket, or both',
      })
      .option('unix-socket', {
        type: 'string',
        describe: 'unix transport socket path (@name: abstract namespace); default [handshaked] unix_socket or /run/handshaked/upcall.sock',
        requiresArg: true,
      })
      .option('ktls', {
        choices: KTLS,
        default: 'on' as const,
        describe: 'install kernel TLS after each handshake; "off" is a test mode the kernel transport refuses',
      })
      .option('keylog', {
        type: 'string',
        describe: 'append NSS key-log lines (SSLKEYLOGFILE format) to FILE, for Wireshark; exposes session keys',
        requiresArg: true,
      })
      .option('log-format', { choices: LOG_FORMATS, describe: 'stderr log format (default text)' })
      .option('log-level', { choices: [...LOG_LEVELS], describe: 'least severe level logged (default info; debug with [debug] loglevel > 0)' })
      .option('metrics', {
        type: 'string',
        describe: 'serve Prometheus metrics at http://HOST:PORT/metrics (use a loopback address)',
        requiresArg: true,
      })
      .option('check-config', {
        type: 'boolean',
        describe: 'load the configuration as serve would, print what it resolves to (certificates by SNI and peer, allow lists, limits) and exit: 0 valid, 1 not',
      })
      .option('stderr', {
        alias: 's',
        type: 'boolean',
        describe: "accepted for tlshd compatibility; logs always go to stderr",
      })
      .check((a) => {
        if (a.metrics !== undefined) parseHostPort(a.metrics);
        return true;
      })
      .epilog(EPILOG) as unknown as Argv<ServeArgs>,
  handler: async (argv: ArgumentsCamelCase<ServeArgs>) => {
    const code = await serve(argv);
    process.exitCode = code;
  },
};

const TRANSPORTS = ['kernel', 'unix', 'both'] as const;
const KTLS = ['on', 'off'] as const;
const LOG_FORMATS = ['text', 'json'] as const;

/**
 * `serve` arguments parsed without yargs, for the start-up path: only the canonical spellings
 * (--name VALUE, --name=VALUE, -c FILE, -s), each option at most once, every value valid.
 * Anything else returns undefined and is left to the yargs command line, which accepts the
 * other spellings and words every error; so this never refuses what yargs would accept the
 * same way, and never accepts what yargs would refuse.
 */
export function quickServeArgs(argv: readonly string[]): ServeArgs | undefined {
  if (argv[0] !== 'serve') return undefined;
  const args = argv.slice(1);
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      tokens: true,
      options: {
        config: { type: 'string', short: 'c' },
        transport: { type: 'string' },
        'unix-socket': { type: 'string' },
        ktls: { type: 'string' },
        keylog: { type: 'string' },
        'log-format': { type: 'string' },
        'log-level': { type: 'string' },
        metrics: { type: 'string' },
        stderr: { type: 'boolean', short: 's' },
        'check-config': { type: 'boolean' },
      },
    });
  } catch {
    return undefined;
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option') continue;
    if (seen.has(t.name)) return undefined;
    // A short option only on its own (-c FILE, -s): grouped or glued forms are yargs' to read.
    if (!t.rawName.startsWith('--') && args[t.index] !== t.rawName) return undefined;
    seen.add(t.name);
    if (t.value !== undefined && (t.value === '' || t.value.startsWith('-'))) return undefined;
  }
  const v = parsed.values;
  const pick = <T extends string>(value: string | undefined, choices: readonly T[]): T | undefined | false =>
    value === undefined ? undefined : (choices as readonly string[]).includes(value) ? (value as T) : false;
  const transport = pick(v.transport, TRANSPORTS);
  const ktls = pick(v.ktls, KTLS);
  const logFormat = pick(v['log-format'], LOG_FORMATS);
  const logLevel = pick(v['log-level'], LOG_LEVELS);
  if (transport === false || ktls === false || logFormat === false || logLevel === false) return undefined;
  if (v.metrics !== undefined) {
    try {
      parseHostPort(v.metrics);
    } catch {
      return undefined;
    }
  }
  return {
    transport: transport ?? 'kernel',
    ktls: ktls ?? 'on',
    ...(v.config !== undefined ? { config: v.config } : {}),
    ...(v['unix-socket'] !== undefined ? { 'unix-socket': v['unix-socket'] } : {}),
    ...(v.keylog !== undefined ? { keylog: v.keylog } : {}),
    ...(logFormat ? { 'log-format': logFormat } : {}),
    ...(logLevel ? { 'log-level': logLevel } : {}),
    ...(v.metrics !== undefined ? { metrics: v.metrics } : {}),
    ...(v.stderr !== undefined ? { stderr: v.stderr } : {}),
    ...(v['check-config'] !== undefined ? { 'check-config': v['check-config'] } : {}),
  };
}

/** Runs the agent until SIGTERM/SIGINT; the exit status. */
export async function serve(argv: ServeArgs): Promise<number> {
  if (argv['check-config']) {
    const r = checkConfig({ path: argv.config, format: argv['log-format'] ?? 'text' });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.code;
  }
  let daemon: Daemon;
  try {
    const metrics: HostPort | undefined = argv.metrics !== undefined ? parseHostPort(argv.metrics) : undefined;
    const transports: TransportFactory[] = [];
    if (argv.transport === 'kernel' || argv.transport === 'both') transports.push(await kernelNamespacesTransport());
    if (argv.transport === 'unix' || argv.transport === 'both') transports.push(await unixTransportFactory());
    daemon = await Daemon.start({
      configPath: argv.config,
      transports,
      ktls: argv.ktls,
      keylogFile: argv.keylog ?? (process.env.SSLKEYLOGFILE || undefined),
      overrides: {
        logFormat: argv['log-format'],
        logLevel: argv['log-level'],
        metrics,
        unixSocket: argv['unix-socket'],
      },
      env: defaultHandshakeEnv(),
    });
  } catch (e) {
    // Under systemd this line is the reason the unit failed: file it at err priority.
    process.stderr.write(`${stderrIsJournal() ? journalPrefix('error') : ''}handshaked serve: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  // Ready: the code cache's one line, and a new cache written a second later if it was not used.
  codeCacheAfterReady(daemon.logger);
  return new Promise<number>((resolve) => {
    const onHup = () => void daemon.requestReload();
    const onStop = (sig: NodeJS.Signals) => {
      daemon.logger.info('stopping', { signal: sig });
      process.off('SIGHUP', onHup);
      daemon.stop().then(
        () => resolve(0),
        (e: unknown) => {
          process.stderr.write(`handshaked serve: stop failed: ${e instanceof Error ? e.message : String(e)}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGHUP', onHup);
    process.once('SIGTERM', onStop);
    process.once('SIGINT', onStop);
  });
}
