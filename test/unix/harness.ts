/**
 * An in-process unix transport on a controllable runner: the transport's framing, validation,
 * fd handling and connection life cycle are tested without TLS (the companion end-to-end test
 * covers the handshakes).
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { defaultConfig, type AgentConfig } from '../../src/agent/config';
import { Dispatcher, type RunContext, type RunOutcome } from '../../src/agent/dispatcher';
import { silentLogger } from '../../src/agent/logging';
import type { HandshakeRequest } from '../../src/agent/request';
import { UnixTransport } from '../../src/agent/unix-transport';
import { socketFd } from '../../src/sys/socket-fd';
import { openFds } from '../helpers/fds';
import { tcpPair as loopbackPair } from '../helpers/loopback';

export const uniqueName = (): string => `@handshaked-unix-test-${process.pid}-${randomBytes(6).toString('hex')}`;
export { openFds };

export interface Seen {
  req: HandshakeRequest;
  ctx: RunContext;
}

export type Behaviour = (req: HandshakeRequest, ctx: RunContext) => Promise<RunOutcome>;

export class Agent {
  readonly seen: Seen[] = [];
  behaviour: Behaviour = async () => ({ status: 0, remoteAuth: [] });
  readonly transport: UnixTransport;
  readonly dispatcher: Dispatcher;
  readonly name: string;

  private constructor(config: AgentConfig) {
    this.name = config.unixSocket!;
    this.dispatcher = new Dispatcher({
      run: (req, ctx) => {
        this.seen.push({ req, ctx });
        return this.behaviour(req, ctx);
      },
      limits: () => ({ maxInflight: 64, defaultTimeoutMs: 60000 }),
    });
    this.transport = new UnixTransport({ dispatcher: this.dispatcher, logger: silentLogger(), config: () => config, ktls: 'off' });
  }

  static async start(overrides: Partial<AgentConfig> = {}): Promise<Agent> {
    const config: AgentConfig = { ...defaultConfig(), unixSocket: uniqueName(), ...overrides };
    const a = new Agent(config);
    await a.transport.start();
    return a;
  }

  async stop(): Promise<void> {
    await this.dispatcher.shutdown(1000);
    await this.transport.close();
  }
}

/** A connected loopback TCP pair; `agentEnd` is never read by Node (pauseOnConnect). */
export async function tcpPair(): Promise<{ agentEnd: net.Socket; peer: net.Socket; fd: number; close: () => void }> {
  const pair = await loopbackPair({ pauseAccepted: true });
  return { agentEnd: pair.server, peer: pair.client, fd: socketFd(pair.server), close: () => void pair.close() };
}

export function until(cond: () => boolean, timeoutMs = 10000): Promise<void> {
  const end = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) resolve();
      else if (Date.now() > end) reject(new Error('condition not reached in time'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}
