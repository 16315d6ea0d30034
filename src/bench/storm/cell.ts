/**
 * One benchmark cell: `count` handshakes with at most `concurrency` in flight, the side under
 * test in one role and auth mode against the Node tls peer. Records the latency of every
 * handshake (request sent → reply), the wall time, and the side's CPU and peak RSS from /proc.
 */
import net from 'node:net';
import { cpuMicros, cpuTimes, peakRssKb, resetPeakRss } from './proc';
import type { AuthMode, Role } from './shape';
import type { RunTally } from '../report';
import type { Side } from './sides';
import type { PeerProcess } from './peer-process';

export interface CellSample extends RunTally {
  side: string;
  role: Role;
  auth: AuthMode;
  concurrency: number;
  /** CPU of the side's process over the cell, µs: total (schedstat), and the part spent in the kernel (stime, 10 ms ticks). */
  cpuUs: number;
  systemCpuUs: number;
  /** CPU of the peer process and of this (driver) process over the cell, µs: the harness's share of the machine. */
  peerCpuUs: number;
  driverCpuUs: number;
  /** Peak RSS of the side's process during the cell (since its reset), KiB. */
  peakRssKb: number;
  /** ms, one per successful handshake, in completion order. */
  latenciesMs: number[];
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

export async function runCell(side: Side, peer: PeerProcess, role: Role, auth: AuthMode, concurrency: number, count: number): Promise<CellSample> {
  const latencies: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  const one = (socket: net.Socket): Promise<void> => {
    const t0 = now();
    return side.handshake(socket, role, auth).then(
      () => void latencies.push(now() - t0),
      (e: Error) => {
        failed++;
        firstError ??= e.message;
      },
    );
  };

  resetPeakRss(side.pid);
  const cpu0 = cpuTimes(side.pid);
  const side0 = cpuMicros(side.pid);
  const peer0 = cpuMicros(peer.pid);
  const driver0 = process.cpuUsage();
  const t0 = now();
  if (role === 'client') {
    const port = await peer.serverPort(auth);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        next++;
        let socket: net.Socket;
        try {
          socket = await connect(port);
        } catch (e) {
          failed++;
          firstError ??= `connect: ${(e as Error).message}`;
          continue;
        }
        await one(socket);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } else {
    const inFlight = new Set<Promise<void>>();
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      socket.on('error', () => undefined);
      const p = one(socket).finally(() => inFlight.delete(p));
      inFlight.add(p);
    });
    await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: 8192 }, () => r()));
    const loaded = await peer.load((server.address() as net.AddressInfo).port, auth, count, concurrency);
    while (inFlight.size > 0) await Promise.all([...inFlight]);
    server.close();
    // Connections the peer could not even make never reached the side under test.
    const unseen = count - latencies.length - failed;
    if (unseen > 0) {
      failed += unseen;
      firstError ??= `peer: ${loaded.firstError ?? 'connections never arrived'}`;
    }
  }
  const wallMs = now() - t0;
  const cpu1 = cpuTimes(side.pid);
  const sideCpuUs = cpuMicros(side.pid) - side0;
  const driver = process.cpuUsage(driver0);
  const peerCpuUs = cpuMicros(peer.pid) - peer0;
  return {
    side: side.name,
    role,
    auth,
    concurrency,
    count,
    ok: latencies.length,
    failed,
    firstError,
    wallMs,
    cpuUs: sideCpuUs,
    systemCpuUs: cpu1.system - cpu0.system,
    peerCpuUs,
    driverCpuUs: driver.user + driver.system,
    peakRssKb: peakRssKb(side.pid),
    latenciesMs: latencies,
  };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}
