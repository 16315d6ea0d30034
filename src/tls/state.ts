/** The handshake state machine's one interface: each state handles a message and returns the next. */
import { fail } from './errors';
import type { Suite } from './crypto/suites';
import type { Transcript } from './transcript';
import { handshakeName, type HandshakeMessage } from './wire/handshake';

export interface State {
  readonly name: string;
  /** False once the peer's Finished has been processed (RFC 8446 §5: CCS only before it). */
  readonly acceptsCcs: boolean;
  /** True in the final state: stop reading, take the secrets. */
  readonly done: boolean;
  handle(msg: HandshakeMessage): State;
}

export function expectType(msg: HandshakeMessage, state: string, ...types: number[]): void {
  if (!types.includes(msg.type)) {
    fail('unexpected_message', `${state}: got ${handshakeName(msg.type)}, expected ${types.map(handshakeName).join(' or ')}`);
  }
}

/**
 * A state waiting for the peer's next message, before the peer's Finished (so change_cipher_spec
 * is still allowed unless a state says otherwise). handle() checks the message type against
 * `expects` before take() sees it, so take() only ever gets a message it is meant for.
 */
export abstract class Awaiting<Ctx, Held> implements State {
  abstract readonly name: string;
  protected abstract readonly expects: readonly number[];
  readonly acceptsCcs: boolean = true;
  readonly done = false;

  constructor(
    /** The role's context, the same in every state of one handshake. */
    protected readonly ctx: Ctx,
    /** What this state alone holds. */
    protected readonly held: Held,
  ) {}

  handle(msg: HandshakeMessage): State {
    expectType(msg, this.name, ...this.expects);
    return this.take(msg);
  }

  protected abstract take(msg: HandshakeMessage): State;
}

/**
 * A state after the hellos: the transcript hash is known, and `keys` holds what every later
 * state of the role shares.
 */
export abstract class AfterHello<Ctx, Keys> extends Awaiting<Ctx, Keys> {
  constructor(
    ctx: Ctx,
    protected readonly transcript: Transcript,
    keys: Keys,
  ) {
    super(ctx, keys);
  }

  protected get keys(): Keys {
    return this.held;
  }
}

/** What a HelloRetryRequest fixed, in either role. */
export interface AfterRetry {
  /** Rewritten for the HelloRetryRequest (RFC 8446 §4.4.1), through the latest message. */
  transcript: Transcript;
  /** The suite the HelloRetryRequest named; the ServerHello must keep it. */
  suite: Suite;
}

/** The final state of both roles: holds nothing, accepts nothing. */
export class Done implements State {
  readonly name = 'Done';
  readonly acceptsCcs = false;
  readonly done = true;

  handle(msg: HandshakeMessage): State {
    return fail('unexpected_message', `handshake is complete; got ${handshakeName(msg.type)}`);
  }
}
