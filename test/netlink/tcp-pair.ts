/** Connected loopback TCP pairs for tests that need a real consumer socket fd. */
import { tcpPair as loopbackPair, type TcpPair as LoopbackPair } from '../helpers/loopback';
import { socketFd } from '../../src/sys/socket-fd';

export interface TcpPair extends LoopbackPair {
  /** The client's fd (owned by its net.Socket; dups of it are independent). */
  fd: number;
}

export async function tcpPair(): Promise<TcpPair> {
  const pair = await loopbackPair();
  return { ...pair, fd: socketFd(pair.client) };
}
