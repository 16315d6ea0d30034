/**
 * What the daemon needs from a transport (the kernel's netlink family, or the unix socket): start
 * taking requests, stop taking them, and finish sending the replies it owes. Requests go to the
 * shared Dispatcher; how a result is sent back is the transport's own business.
 */
import type { AgentConfig } from './config';
import type { Dispatcher } from './dispatcher';
import type { Logger } from './logging';
import type { AgentMetrics } from './metrics';

export interface AgentTransport {
  /** 'kernel', 'unix', ...: used in logs and metrics. */
  readonly name: string;
  /**
   * Start taking requests. Rejects with a StartupError when the transport cannot work on this
   * host (e.g. no handshake family, no privilege); the daemon then exits with that one line.
   */
  start(): Promise<void>;
  /** Take no new requests. Requests already submitted still get their reply. */
  stopAccepting(): void;
  /** Resolves when every reply owed has been sent, and the transport's resources are released. */
  close(): Promise<void>;
}

/** What the daemon hands to every transport it builds. */
export interface TransportContext {
  dispatcher: Dispatcher;
  logger: Logger;
  metrics?: AgentMetrics;
  /** The configuration in force now (changes on SIGHUP). */
  config: () => AgentConfig;
  /** Whether handshakes install kTLS ('off' is a test mode). */
  ktls: 'on' | 'off';
}

export type TransportFactory = (ctx: TransportContext) => AgentTransport;

/**
 * The agent cannot run as configured on this host: the message is one line saying what is
 * wrong and what to do about it.
 */
export class StartupError extends Error {
  readonly code = 'ESTARTUP';
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}
