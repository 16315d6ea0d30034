/**
 * Messages between the main thread (transports, dispatcher, configuration, DONE) and the worker
 * threads that run handshakes. Plain structured-clone data: an fd is a process-wide number, so a
 * request crosses as it is and the worker reads the socket through its own dup of it.
 *
 * Each postMessage carries an array: what one turn of the sender's loop had to say (outbox.ts).
 */
import type { AgentConfig, LogLevel } from '../config';
import type { AbortKind, RunOutcome } from '../run-context';
import type { HandshakeRequest } from '../request';
import type { PskEntry } from '../../tls';
import type { PrefetchedKeys } from './keys';

export type ToWorker =
  /** New configuration (start, SIGHUP, rotated identity files): decode identities once, use for new handshakes. */
  | { t: 'config'; gen: number; config: AgentConfig; logLevel: LogLevel }
  /** `keys`: what the request names by serial, read here for it (keys.ts); absent when it names none. */
  | { t: 'run'; id: number; req: HandshakeRequest; deadline: number; transport: string; peerIdleTimeoutMs: number; netns?: string; keys?: PrefetchedKeys }
  /** The answer to a 'findPsk': the PSK of each identity asked for, in order, null where none. */
  | { t: 'psks'; id: number; entries: Array<PskEntry | null> }
  /** Deadline, consumer gone, shutdown: abort the handshake (it sends user_canceled and reports ETIMEDOUT). */
  | { t: 'abort'; id: number; kind: AbortKind; detail?: string }
  /** Work slots for handshakes that asked for one ('slots' want), all granted in one turn of the main thread. */
  | { t: 'grant'; ids: number[] }
  /** Test-only (honoured only when the pool was built with test hooks): exit the worker thread now. */
  | { t: 'exit'; code: number };

export type FromWorker =
  /** Loaded, first configuration decoded: handshakes may go to this worker. */
  | { t: 'up' }
  /**
   * What one turn of the worker's loop changed, in one message: `wait`, handshakes now waiting
   * on their peer (their work slots are free); `want`, handshakes whose peer's record is here
   * and that want a work slot to go on. A handshake whose record was already there in the turn
   * it started waiting is in neither: it kept its slot (see worker.ts, SlotReports).
   */
  | { t: 'slots'; wait: number[]; want: number[] }
  | { t: 'done'; id: number; outcome: RunOutcome }
  /** A server PSK handshake's ClientHello offers these identities: look their keys up (keys.ts). */
  | { t: 'findPsk'; id: number; identities: Buffer[] }
  | { t: 'keylog'; line: string }
  | { t: 'log'; level: LogLevel; message: string; meta: Record<string, unknown> };

export interface WorkerInit {
  ktls: 'on' | 'off';
  keylog: boolean;
  /** Accept the test-only 'exit' message. */
  testHooks: boolean;
}
