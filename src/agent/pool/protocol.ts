/**
 * Messages between the main thread (transports, dispatcher, configuration, DONE) and the worker
 * threads that run handshakes. Plain structured-clone data: an fd is a process-wide number, so a
 * request crosses as it is and the worker reads the socket through its own dup of it.
 */
import type { AgentConfig, LogLevel } from '../config';
import type { AbortKind, RunOutcome } from '../run-context';
import type { HandshakeRequest } from '../request';

export type ToWorker =
  /** New configuration (start, SIGHUP, rotated identity files): decode identities once, use for new handshakes. */
  | { t: 'config'; gen: number; config: AgentConfig; logLevel: LogLevel }
  | { t: 'run'; id: number; req: HandshakeRequest; deadline: number; transport: string; peerIdleTimeoutMs: number }
  /** Deadline, consumer gone, shutdown: abort the handshake (it sends user_canceled and reports ETIMEDOUT). */
  | { t: 'abort'; id: number; kind: AbortKind }
  /** A work slot for a handshake that asked for one ('want'). */
  | { t: 'grant'; id: number }
  /** Test-only (honoured only when the pool was built with test hooks): exit the worker thread now. */
  | { t: 'exit'; code: number };

export type FromWorker =
  /** Loaded, first configuration decoded: handshakes may go to this worker. */
  | { t: 'up' }
  /** The handshake waits on its peer: its work slot is free. */
  | { t: 'wait'; id: number }
  /** The peer's record is here: the handshake wants a work slot to go on. */
  | { t: 'want'; id: number }
  | { t: 'done'; id: number; outcome: RunOutcome }
  | { t: 'keylog'; line: string }
  | { t: 'log'; level: LogLevel; message: string; meta: Record<string, unknown> };

export interface WorkerInit {
  ktls: 'on' | 'off';
  keylog: boolean;
  /** Accept the test-only 'exit' message. */
  testHooks: boolean;
}
