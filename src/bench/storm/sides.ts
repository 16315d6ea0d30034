/**
 * The two sides under test, each a separate process handed connected TCP sockets:
 * - handshaked: `handshaked serve --transport unix --ktls off` on an abstract socket, asked
 *   through the client library (src/client) over one SEQPACKET connection, as a kernel would
 *   use its one netlink socket;
 * - node: Node's tls (OpenSSL) in node-agent.ts, sent sockets over Node's IPC channel.
 * Latency is measured here, from the request to the reply, the same way for both.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AgentConnection, requestHandshake, type HandshakeParams } from '../../client';
import { addKey, invalidateKey, joinSessionKeyring, KeySpec } from '../../sys/keyctl';
import type { FromNodeAgent, ToNodeAgent } from './node-agent';
import { agentIdentityLines, ROOT_DIR, SERVER_NAME, type AuthMode, type BenchPsk, type Role } from './shape';
import { stopReading } from '../../sys/socket-fd';

export { unitNodeArgs } from './shape';

export type SideName = 'handshaked' | 'node';

export interface Side {
  readonly name: SideName;
  readonly pid: number;
  /** Runs one handshake on `socket` (which the side now owns); rejects with the reason on failure. */
  handshake(socket: net.Socket, role: Role, auth: AuthMode): Promise<void>;
  stop(): Promise<void>;
  /** Signal the process to go, now (the driver is being interrupted). */
  kill(): void;
}

const REQUEST_TIMEOUT_MS = 120_000;

function waitExit(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * The bench PSK as the agent finds it: a "user" key (the development kernel has no "psk" key
 * type; the agent falls back to "user" keys) named by its identity, in a fresh session keyring
 * that the agent inherits and therefore possesses.
 */
export class BenchKeys {
  private constructor(
    readonly psk: BenchPsk,
    readonly serial: number,
  ) {}

  static create(): BenchKeys {
    const psk: BenchPsk = { identity: `handshaked-bench-${process.pid}`, keyHex: randomBytes(32).toString('hex') };
    joinSessionKeyring();
    const serial = addKey('user', psk.identity, Buffer.from(psk.keyHex, 'hex'), KeySpec.SESSION);
    return new BenchKeys(psk, serial);
  }

  dispose(): void {
    try {
      invalidateKey(this.serial);
    } catch {
      // the anonymous session keyring goes away with this process anyway
    }
  }
}

export interface AgentSideOptions {
  keys: BenchKeys;
  /** [handshaked] max_inflight for the run. */
  maxInflight: number;
  /** [handshaked] workers; undefined: the agent's default (0 on ≤ 2 CPUs, else CPUs − 1). */
  workers?: number;
  /** [handshaked] log_level (default: the agent's, info: one line per handshake). */
  logLevel?: string;
  /** Directory for `node --cpu-prof` output, when profiling. */
  cpuProfDir?: string;
  /** More node options for the agent (e.g. --perf-basic-prof to profile with perf). */
  nodeArgs?: string[];
  workDir: string;
}

export class AgentSide implements Side {
  readonly name = 'handshaked' as const;
  private constructor(
    private readonly child: ChildProcess,
    private readonly conn: AgentConnection,
    private readonly keys: BenchKeys,
    readonly logFile: string,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  static async start(o: AgentSideOptions): Promise<AgentSide> {
    const socketName = `@handshaked-bench-${process.pid}-${randomBytes(4).toString('hex')}`;
    const configFile = path.join(o.workDir, 'tlshd.conf');
    fs.writeFileSync(
      configFile,
      [
        ...agentIdentityLines(),
        '[handshaked]',
        `max_inflight=${o.maxInflight}`,
        // Everything the driver asks is held and worked on: the storm measures the engines, not the bounds.
        `max_handshakes=${Math.max(o.maxInflight, 4096)}`,
        ...(o.workers !== undefined ? [`workers=${o.workers}`] : []),
        ...(o.logLevel ? [`log_level=${o.logLevel}`] : []),
        `default_timeout_ms=${REQUEST_TIMEOUT_MS}`,
        'cipher_suites=TLS_AES_128_GCM_SHA256',
        'groups=x25519',
        '',
      ].join('\n'),
    );
    const logFile = path.join(o.workDir, 'handshaked.log');
    const log = fs.openSync(logFile, 'w');
    const nodeArgs = [...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []), ...(o.nodeArgs ?? [])];
    const main = path.join(ROOT_DIR, 'dist', 'cli', 'main.js');
    const child = spawn(process.execPath, [...nodeArgs, main, 'serve', '-c', configFile, '--transport', 'unix', '--unix-socket', socketName, '--ktls', 'off'], {
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    let exited: string | undefined;
    child.once('exit', (code, sig) => (exited = `handshaked exited (${sig ?? code}); see ${logFile}`));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`${exited}: ${tail(logFile)}`);
      try {
        const conn = await AgentConnection.connect(socketName);
        return new AgentSide(child, conn, o.keys, logFile);
      } catch (e) {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`handshaked did not listen on ${socketName} within 30 s: ${(e as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async handshake(socket: net.Socket, role: Role, auth: AuthMode): Promise<void> {
    const params: HandshakeParams = { role, auth: auth === 'psk' ? 'psk' : role === 'client' && auth === 'x509' ? 'unauth' : 'x509', timeoutMs: REQUEST_TIMEOUT_MS };
    if (role === 'client') params.peername = SERVER_NAME;
    if (role === 'client' && auth === 'psk') params.peerIdentities = [this.keys.serial];
    try {
      const r = await requestHandshake(socket, params, { connection: this.conn });
      if (r.status !== 0) throw new Error(`handshaked status ${r.code}`);
    } finally {
      socket.destroy();
    }
  }

  kill(): void {
    this.child.kill('SIGTERM');
  }

  async stop(): Promise<void> {
    this.conn.close();
    this.child.kill('SIGTERM');
    await waitExit(this.child, 10_000);
  }
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no log)';
  }
}

export class NodeSide implements Side {
  readonly name = 'node' as const;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: FromNodeAgent) => {
      if (m.type !== 'done') return;
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve();
      else w.reject(new Error(`node tls: ${m.error ?? 'failed'}`));
    });
    child.once('exit', () => {
      for (const w of this.waiting.values()) w.reject(new Error('the node tls process exited'));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(psk: BenchPsk, cpuProfDir?: string): Promise<NodeSide> {
    const execArgv = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
    const child = fork(path.join(__dirname, 'node-agent.js'), [JSON.stringify(psk)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    await new Promise<void>((resolve, reject) => {
      child.once('message', (m: FromNodeAgent) => (m.type === 'ready' ? resolve() : reject(new Error('node tls process did not start'))));
      child.once('exit', (code) => reject(new Error(`node tls process exited with ${code}`)));
    });
    return new NodeSide(child);
  }

  handshake(socket: net.Socket, role: Role, auth: AuthMode): Promise<void> {
    const id = this.nextId++;
    // Our copy of the handle stays open until the child acknowledges it; if it were still
    // reading, it could swallow the peer's first flight meant for the child (seen: 3 in 1000
    // PSK handshakes hung). pause() alone lets libuv keep reading; stop the read itself.
    stopReading(socket);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ type: 'hs', id, role, auth } satisfies ToNodeAgent, socket, (err) => {
        if (!err) return;
        this.waiting.delete(id);
        socket.destroy();
        reject(err);
      });
    });
  }

  kill(): void {
    this.child.kill('SIGTERM');
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.send({ type: 'exit' } satisfies ToNodeAgent);
    await waitExit(this.child, 5_000);
  }
}

export function makeWorkDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'handshaked-bench-'));
}
