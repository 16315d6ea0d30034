/**
 * A worker thread of the handshake pool: runs runHandshake for the requests the main thread
 * hands it and reports each outcome back; the main thread logs it, counts it and sends DONE.
 *
 * Identities are decoded here once per configuration the main thread sends (start, reload,
 * rotated files), never per handshake. Kernel keys are never read here: the main thread links
 * the keyrings and reads every key a handshake names before handing it over, and looks up the
 * PSK identities a client offers when this thread asks (keys.ts). Work slots stay the main thread's: this thread says when a handshake starts
 * waiting on its peer and asks again when the peer's record is there, once per turn of its loop
 * for all its handshakes ('slots').
 */
import net from 'node:net';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { HandshakeAborted, waitOnPeer, type RunContext, type WorkSlot } from '../run-context';
import { runHandshake, type HandshakeEnv, type HandshakeLog } from '../handshake';
import { buildProfiles, profileFor, type Profiles } from '../profiles';
import type { LogLevel } from '../config';
import { Status } from '../request';
import { defaultHandshakeEnv } from '../runtime';
import { peerGatedEnv } from './gate';
import { SlotReports } from './slot-reports';
import { Outbox } from './outbox';
import type { FromWorker, ToWorker, WorkerInit } from './protocol';
import type { PskEntry } from '../../tls';
import { looksUpOfferedPsks, pskLookahead, workerKeys } from './keys';
import { Cancellation } from '../cancel';

const port = parentPort;
if (!port) throw new Error('src/agent/pool/worker runs only as a worker thread');
const init = workerData as WorkerInit;
/** Everything this thread says in one turn crosses as one message at its end (outbox.ts). */
const outbox = new Outbox<FromWorker>((batch) => port.postMessage(batch));
const post = (m: FromWorker): void => outbox.push(m);

/**
 * Log records go to the main thread's logger, whose format, sinks and redaction apply (Buffers
 * arrive there as Uint8Array and are redacted like Buffers). Winston itself is not loaded here:
 * it would add most of a second to every worker's start.
 */
let debugOn = false;
function forward(level: LogLevel, message: string, meta: Record<string, unknown> = {}): void {
  post({ t: 'log', level, message, meta });
}
const logger: HandshakeLog = {
  debug: ((message: string, meta?: Record<string, unknown>) => {
    if (debugOn) forward('debug', message, meta);
    return logger;
  }) as HandshakeLog['debug'],
};

const base = defaultHandshakeEnv();

/** Server PSK handshakes waiting for the main thread's answer to their 'findPsk'. */
const pskAnswers = new Map<number, (entries: Array<PskEntry | null>) => void>();

/**
 * A handshake's env here: keys from the main thread's reads, every read from the peer gated
 * (peerGatedEnv); a server PSK handshake looks its client's identities up before the engine
 * sees the ClientHello, outside the peer waits (the main thread is not an idle peer).
 */
function envFor(m: Extract<ToWorker, { t: 'run' }>, ctx: RunContext): HandshakeEnv {
  const found = new Map<string, PskEntry | undefined>();
  const gated = peerGatedEnv({ ...base, keys: workerKeys(m.keys, found) }, ctx);
  if (!looksUpOfferedPsks(m.req)) return gated;
  const lookup = (identities: Buffer[]) =>
    new Promise<Array<PskEntry | null>>((resolve) => {
      pskAnswers.set(m.id, resolve);
      post({ t: 'findPsk', id: m.id, identities });
    });
  return { ...gated, openChannel: (fd) => pskLookahead(gated.openChannel(fd), found, lookup) };
}

let profiles: Profiles | undefined;

interface Running {
  controller: Cancellation;
  working: boolean;
  granted?: () => void;
}
const running = new Map<number, Running>();

const reports = new SlotReports(outbox);

let up = false;
const RESOLVED = Promise.resolve();

function configure(m: Extract<ToWorker, { t: 'config' }>): void {
  debugOn = m.logLevel === 'debug';
  try {
    // The main thread has loaded the same files and logged their warnings.
    profiles = buildProfiles(m.config);
  } catch (e) {
    forward('error', `a worker thread: the new configuration's identities do not load here, keeping the previous ones: ${(e as Error).message}`);
  }
  // Up once the first configuration is decoded: from then on a handshake here costs no set-up.
  if (!up) {
    up = true;
    warmStreams(() => post({ t: 'up' }));
  }
}

/**
 * libuv keeps one spare fd per event loop (to survive EMFILE), opened by the loop's first stream
 * handle. Opening it now, with a connection that cannot succeed, keeps this thread's fd count
 * constant from 'up' on instead of growing at its first handshake.
 */
function warmStreams(then: () => void): void {
  const s = net.connect({ path: `\0handshaked-worker-warm-${process.pid}-${threadId}` });
  s.once('error', () => undefined);
  s.once('close', then);
}

function run(m: Extract<ToWorker, { t: 'run' }>): void {
  const job: Running = { controller: new Cancellation(), working: true };
  running.set(m.id, job);
  const slot: WorkSlot = {
    release: () => {
      if (!job.working) return;
      job.working = false;
      reports.released(m.id);
    },
    acquire: () => {
      if (job.working || !running.has(m.id)) return RESOLVED;
      if (reports.takeBack(m.id)) {
        job.working = true;
        return RESOLVED;
      }
      return new Promise<void>((resolve) => {
        job.granted = resolve;
        reports.wanted(m.id);
      });
    },
  };
  const idleMs = m.peerIdleTimeoutMs;
  const ctx: RunContext = {
    signal: job.controller.signal,
    deadline: m.deadline,
    transport: m.transport,
    ...(m.netns ? { netns: m.netns } : {}),
    slot,
    peerWait: (read) => waitOnPeer(read, slot, idleMs, () => job.controller.abort(new HandshakeAborted('idle', `for ${idleMs} ms ([handshaked] peer_idle_timeout_ms)`))),
  };
  const finish = (outcome: Parameters<typeof post>[0] & { t: 'done' }): void => {
    running.delete(m.id);
    pskAnswers.delete(m.id);
    reports.forget(m.id);
    post(outcome);
  };
  const profile = profiles && profileFor(profiles, m.netns);
  if (!profile) {
    finish({ t: 'done', id: m.id, outcome: { status: Status.EIO, remoteAuth: [], reason: 'the worker thread has no usable configuration' } });
    return;
  }
  runHandshake(m.req, ctx, profile, envFor(m, ctx), {
    ktls: init.ktls,
    logger,
    ...(init.keylog ? { keyLog: (line: string) => post({ t: 'keylog', line }) } : {}),
  }).then(
    (outcome) => finish({ t: 'done', id: m.id, outcome }),
    (e: unknown) => finish({ t: 'done', id: m.id, outcome: { status: Status.EIO, remoteAuth: [], reason: `internal error: ${e instanceof Error ? e.message : String(e)}` } }),
  );
}

port.on('message', (batch: ToWorker[]) => {
  for (const m of batch) receive(m);
});

function receive(m: ToWorker): void {
  switch (m.t) {
    case 'config':
      configure(m);
      return;
    case 'run':
      run(m);
      return;
    case 'psks': {
      const answer = pskAnswers.get(m.id);
      pskAnswers.delete(m.id);
      answer?.(m.entries);
      return;
    }
    case 'abort':
      running.get(m.id)?.controller.abort(new HandshakeAborted(m.kind, m.detail));
      return;
    case 'grant':
      for (const id of m.ids) {
        const job = running.get(id);
        if (!job) continue;
        job.working = true;
        const g = job.granted;
        job.granted = undefined;
        g?.();
      }
      return;
    case 'exit':
      if (init.testHooks) process.exit(m.code);
      return;
  }
}
