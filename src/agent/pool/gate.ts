/**
 * Puts every read from the peer through RunContext.peerWait, so a handshake gives its work slot
 * back while its peer is silent, whatever runs it (the main thread or a worker). Writes and the
 * engine's work between reads keep the slot.
 */
import type { RunContext } from '../run-context';
import type { HandshakeEnv, RecordChannel } from '../handshake';

export function peerGatedEnv(env: HandshakeEnv, ctx: Pick<RunContext, 'peerWait'>): HandshakeEnv {
  return {
    ...env,
    openChannel: (fd: number): RecordChannel => {
      const channel = env.openChannel(fd);
      return {
        readRecord: () => ctx.peerWait(() => channel.readRecord()),
        write: (data) => channel.write(data),
        close: () => channel.close(),
      };
    },
  };
}
