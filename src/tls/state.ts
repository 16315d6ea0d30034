/** The handshake state machine's one interface: each state handles a message and returns the next. */
import { fail } from './errors';
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

/** The final state of both roles: holds nothing, accepts nothing. */
export class Done implements State {
  readonly name = 'Done';
  readonly acceptsCcs = false;
  readonly done = true;

  handle(msg: HandshakeMessage): State {
    return fail('unexpected_message', `handshake is complete; got ${handshakeName(msg.type)}`);
  }
}
