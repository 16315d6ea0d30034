/**
 * The agent's logs: winston to stderr, in a shape journald stores well (no timestamp, no colour,
 * `<level> message key=value ...`; the journal adds time and unit) or one JSON object per line.
 *
 * One `info` line per handshake, with what an operator needs to find a failed mount; details at
 * `debug`. Secrets never reach a log line: the handshake code passes only the typed summary
 * below, and the format additionally drops any binary or key-object value it is handed, so a
 * mistake elsewhere prints "[redacted]" instead of key bytes.
 */
import { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { LogFormat, LogLevel } from './config';
import { Status, type AuthMode, type Role } from './request';

export type Logger = winston.Logger;

export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  /** Where lines go; default stderr. Tests pass a capture transport. */
  transports?: winston.transport[];
  /**
   * Prefix every line (text or JSON) with the sd-daemon priority `<N>` so journald files it at
   * the right priority. Default: when stderr is the journal stream (see stderrIsJournal).
   */
  journalPriority?: boolean;
  /**
   * Write the per-handshake line straight to stderr, bypassing winston's stream pipeline, when
   * the logger still has only its own stderr transport (the bytes are the same). Default true.
   */
  direct?: boolean;
}

/** How logHandshake may write without winston: the logger's own stderr transport and format. */
interface DirectSink {
  console: winston.transport;
  format: LogFormat;
  journal: boolean;
}

const directSinks = new WeakMap<Logger, DirectSink>();

const SYSLOG_PRIORITY: Record<string, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/**
 * `<N>` for a level: journald strips it from a stream line and stores N as PRIORITY, so
 * `journalctl -p warning` lists exactly the warn and error lines (failed handshakes among them).
 */
export function journalPrefix(level: string): string {
  return `<${SYSLOG_PRIORITY[level] ?? 6}>`;
}

/**
 * True when fd 2 is the journal stream systemd connected: JOURNAL_STREAM ("DEV:INO", decimal)
 * names the stream it set up, and it must be the very file on fd 2 — an agent started from a
 * unit's shell with stderr redirected to a file inherits the variable but not the stream.
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 2): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]) && st.ino === BigInt(m[2]);
  } catch {
    return false;
  }
}

/** Meta keys winston adds itself or that are carried by the message. */
const RESERVED = new Set(['level', 'message', 'splat']);

function isSecretish(v: unknown): boolean {
  return Buffer.isBuffer(v) || v instanceof Uint8Array || v instanceof ArrayBuffer || v instanceof KeyObject;
}

/** Drops binary values and KeyObjects from every log record, wherever they came from. */
const redact = winston.format((info) => {
  for (const k of Object.keys(info)) {
    if (RESERVED.has(k)) continue;
    const v = info[k];
    if (isSecretish(v)) info[k] = '[redacted]';
    else if (Array.isArray(v) && v.some(isSecretish)) info[k] = v.map((x) => (isSecretish(x) ? '[redacted]' : x));
  }
  return info;
});

function textValue(v: unknown): string {
  let s: string;
  if (Array.isArray(v)) s = v.map((x) => String(x)).join(',');
  else if (v instanceof Error) s = v.message;
  else if (typeof v === 'object' && v !== null) s = JSON.stringify(v);
  else s = String(v);
  // Quote what would otherwise split the key=value list or a journal line.
  return s === '' || /[\s"=\\]/.test(s) ? JSON.stringify(s) : s;
}

function textFormat(journalPriority: boolean) {
  return winston.format.printf((info) => {
    const parts: string[] = [];
    parts.push(journalPriority ? journalPrefix(info.level) + info.level : info.level);
    parts.push(String(info.message).replace(/\n/g, '\\n'));
    for (const [k, v] of Object.entries(info)) {
      if (RESERVED.has(k) || v === undefined) continue;
      parts.push(`${k}=${textValue(v)}`);
    }
    return parts.join(' ');
  });
}

/** JSON lines, behind the priority prefix when the journal reads them. */
function jsonFormat(journalPriority: boolean) {
  const json = winston.format.json();
  if (!journalPriority) return json;
  const MESSAGE = Symbol.for('message');
  return winston.format.combine(
    json,
    winston.format((info) => {
      const rec = info as unknown as Record<symbol, unknown>;
      rec[MESSAGE] = journalPrefix(info.level) + String(rec[MESSAGE]);
      return info;
    })(),
  );
}

export function createLogger(opts: LoggerOptions): Logger {
  const journal = opts.journalPriority ?? stderrIsJournal();
  const format =
    opts.format === 'json'
      ? winston.format.combine(redact(), jsonFormat(journal))
      : winston.format.combine(redact(), textFormat(journal));
  const stderrTransport = opts.transports ? undefined : new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] });
  const logger = winston.createLogger({
    level: opts.level,
    levels: LEVELS,
    format,
    transports: opts.transports ?? [stderrTransport as winston.transport],
  });
  if (stderrTransport && opts.direct !== false) directSinks.set(logger, { console: stderrTransport, format: opts.format, journal });
  skipDisabledLevels(logger);
  return logger;
}

/**
 * winston formats every record (redaction, the text or JSON format) and streams it through the
 * logger before a transport drops it for its level: a `debug` call with debug off cost as much
 * as a line written. The hot path has several per handshake (each request, each record read),
 * 2-4 % of the agent's CPU per handshake in the profiles (docs/bench.md, "CPU per handshake").
 * So a record no transport would take is dropped before winston sees it, by the same rule
 * (isLevelEnabled: the logger's level, or a transport's own). Nothing written changes.
 */
function skipDisabledLevels(logger: Logger): void {
  const enabled = (level: unknown): boolean => typeof level !== 'string' || (!logger.silent && logger.isLevelEnabled(level));
  type Method = (this: Logger, ...args: unknown[]) => Logger;
  const table = logger as unknown as Record<string, Method>;
  // `this`, not `logger`: a child logger (logger.child(meta)) inherits these and adds its meta in its own write.
  for (const level of Object.keys(LEVELS)) {
    const method = table[level];
    table[level] = function (this: Logger, ...args: unknown[]) {
      return enabled(level) ? method.apply(this, args) : this;
    };
  }
  const log = table.log;
  table.log = function (this: Logger, ...args: unknown[]) {
    const first = args[0];
    const level = typeof first === 'object' && first !== null ? (first as { level?: unknown }).level : first;
    return enabled(level) ? log.apply(this, args) : this;
  };
}

const LEVELS: Record<string, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** A logger that drops everything (library use, tests that do not look at logs). */
export function silentLogger(): Logger {
  return winston.createLogger({ levels: LEVELS, silent: true, transports: [new winston.transports.Console()] });
}

const STATUS_NAMES = new Map<number, string>(Object.entries(Status).map(([name, n]) => [n, name]));

/** 'OK', 'EACCES', ... or the number when it is not one we send. */
export function statusName(status: number): string {
  return STATUS_NAMES.get(status) ?? String(status);
}

/** Everything the per-handshake line says. Deliberately no field that could hold key material. */
export interface HandshakeSummary {
  transport: string;
  /** The request's network namespace: `self`, a /run/netns name or `ino:<n>`. */
  netns?: string;
  role: Role;
  auth: AuthMode;
  /** The peer's address:port (getpeername), when known. */
  peer?: string;
  peername?: string;
  suite?: string;
  group?: string;
  signatureScheme?: string;
  clientSignatureScheme?: string;
  durationMs: number;
  status: number;
  remoteAuth: number[];
  /** Why it failed, in words (TlsError message, errno name, ...). */
  reason?: string;
  /** The alert we sent or received, when the failure was a TLS alert. */
  alert?: string;
}

export function logHandshake(logger: Logger, s: HandshakeSummary): void {
  const ok = s.status === Status.OK;
  const level = ok ? 'info' : 'warn';
  const message = ok ? 'handshake succeeded' : 'handshake failed';
  const meta = handshakeMeta(s);
  const sink = directSinks.get(logger);
  const out = sink && canWriteDirect(logger, sink, level) ? consoleStderr() : undefined;
  if (out && sink) {
    out.write(`${formatDirect(sink, level, message, meta)}\n`);
    return;
  }
  logger.log(level, message, meta);
}

/** Where winston's Console transport writes (process.stderr, unless the console was replaced). */
function consoleStderr(): NodeJS.WritableStream | undefined {
  return (console as unknown as { _stderr?: NodeJS.WritableStream })._stderr;
}

/**
 * The logger would send this line, unchanged, to its one stderr transport, and nothing it
 * queued earlier is still on its way there (so lines keep their order).
 */
function canWriteDirect(logger: Logger, sink: DirectSink, level: string): boolean {
  const t = logger.transports;
  return (
    !logger.silent &&
    LEVELS[level] <= LEVELS[logger.level] &&
    t.length === 1 &&
    t[0] === sink.console &&
    !sink.console.silent &&
    (sink.console.level === undefined || LEVELS[level] <= LEVELS[sink.console.level]) &&
    logger.writableLength === 0 &&
    logger.readableLength === 0
  );
}

/**
 * The line winston's pipeline would make of it: text as textFormat() (meta keys in order), JSON
 * as logform's json() (safe-stable-stringify with sorted keys). The meta holds only strings,
 * numbers and arrays of strings (HandshakeSummary), so redaction has nothing to drop.
 */
function formatDirect(sink: DirectSink, level: string, message: string, meta: Record<string, unknown>): string {
  if (sink.format === 'json') {
    const all: Record<string, unknown> = { ...meta, level, message };
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(all).sort()) if (all[k] !== undefined) sorted[k] = all[k];
    return JSON.stringify(sorted);
  }
  let line = sink.journal ? `<${SYSLOG_PRIORITY[level] ?? 6}>${level} ${message}` : `${level} ${message}`;
  for (const k in meta) {
    const v = meta[k];
    if (v !== undefined) line += ` ${k}=${textValue(v)}`;
  }
  return line;
}

function handshakeMeta(s: HandshakeSummary): Record<string, unknown> {
  return {
    transport: s.transport,
    netns: s.netns,
    role: s.role,
    auth: s.auth,
    peer: s.peer,
    peername: s.peername,
    suite: s.suite,
    group: s.group,
    // Whether the key exchange and the authentication were post-quantum is visible from these two.
    signature_scheme: s.signatureScheme,
    client_signature_scheme: s.clientSignatureScheme,
    duration_ms: Math.round(s.durationMs * 10) / 10,
    status: statusName(s.status),
    remote_auth: s.remoteAuth.map((n) => `0x${n.toString(16)}`),
    reason: s.reason,
    alert: s.alert,
  };
}

/** A transport that keeps formatted lines in memory (tests; also handy for a debug dump). */
export function captureTransport(): { transport: winston.transport; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l !== '') lines.push(l);
      cb();
    },
  });
  return { transport: new winston.transports.Stream({ stream: sink }), lines };
}
