/**
 * A command-line TLS peer (openssl, gnutls-cli/-serv) as a child process with piped stdio:
 * wait for output, write lines to its stdin, discover its listening port, and always clean up.
 * Every peer started is tracked so a test file can kill whatever is left with stopAllPeers().
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';

const live = new Set<ProcessPeer>();

export class ProcessPeer {
  readonly child: ChildProcessWithoutNullStreams;
  private out = '';
  private err = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly command: string,
    readonly args: string[],
    cwd?: string,
  ) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd });
    live.add(this);
    this.child.stdout.setEncoding('latin1');
    this.child.stderr.setEncoding('latin1');
    this.child.stdout.on('data', (s: string) => {
      this.out += s;
      this.poke();
    });
    this.child.stderr.on('data', (s: string) => {
      this.err += s;
      this.poke();
    });
    // A peer that exits early closes its stdin; writes after that must not crash the test run.
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this);
        this.poke();
        resolve();
      });
      this.child.on('error', (e) => {
        this.err += `\nspawn error: ${e.message}`;
        this.exitInfo = { code: -1, signal: null };
        live.delete(this);
        this.poke();
        resolve();
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name}: process did not start: ${this.err}`);
    return this.child.pid;
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  private poke(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** The tail of both streams, for failure messages. */
  describe(): string {
    const tail = (s: string) => s.slice(-1500);
    return `${this.name} (${this.command} ${this.args.join(' ')})\n--- stdout ---\n${tail(this.out)}\n--- stderr ---\n${tail(this.err)}`;
  }

  /** Waits until stdout+stderr satisfy `test`; rejects on timeout or when the process exits first. */
  async waitFor(test: RegExp | string, timeoutMs = 15000, streams: 'stdout' | 'stderr' | 'both' = 'both'): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    const re = typeof test === 'string' ? new RegExp(test.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : test;
    for (;;) {
      const text = streams === 'stdout' ? this.out : streams === 'stderr' ? this.err : `${this.out}\n${this.err}`;
      const m = text.match(re);
      if (m) return m;
      if (this.exitInfo) throw new Error(`${this.name} exited (${JSON.stringify(this.exitInfo)}) before printing ${re}\n${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name} did not print ${re} within ${timeoutMs} ms\n${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves with the exit code (or signal) once the process has ended, or rejects on timeout. */
  async waitExit(timeoutMs = 15000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms\n${this.describe()}`)), timeoutMs);
    });
    try {
      await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.exitInfo ?? { code: null, signal: null };
  }

  writeLine(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** SIGTERM, then SIGKILL if it lingers; resolves once the process is gone and its pipes are closed. */
  async stop(): Promise<void> {
    if (!this.exitInfo) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => {
        if (!this.exitInfo) this.child.kill('SIGKILL');
      }, 2000);
      await this.exited;
      clearTimeout(t);
    }
    this.child.stdin.destroy();
    this.child.stdout.destroy();
    this.child.stderr.destroy();
  }

  /** TCP ports this process listens on, read from /proc (works for peers that cannot print them). */
  listeningPorts(): number[] {
    const inodes = new Set<string>();
    for (const fd of fs.readdirSync(`/proc/${this.pid}/fd`)) {
      try {
        const m = fs.readlinkSync(`/proc/${this.pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
        if (m) inodes.add(m[1]);
      } catch {
        // fd closed while we looked
      }
    }
    const ports: number[] = [];
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text: string;
      try {
        text = fs.readFileSync(table, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        // f[1] = local address:port (hex), f[3] = state (0A = LISTEN), f[9] = inode
        if (f.length > 9 && f[3] === '0A' && inodes.has(f[9])) ports.push(parseInt(f[1].split(':')[1], 16));
      }
    }
    return ports;
  }

  /** Polls listeningPorts() until one shows up (the IPv4 one when there are several). */
  async waitListening(timeoutMs = 15000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exitInfo) throw new Error(`${this.name} exited before listening\n${this.describe()}`);
      const ports = this.listeningPorts();
      if (ports.length > 0) return ports[0];
      if (Date.now() > deadline) throw new Error(`${this.name} is not listening after ${timeoutMs} ms\n${this.describe()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Kills every peer still running (use in afterEach/afterAll so no process outlives the tests). */
export async function stopAllPeers(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

export function livePeerCount(): number {
  return live.size;
}

/**
 * Gives a peer whose handshake failed time to say why before its output is read: s_server exits
 * after its one connection, gnutls-serv logs the error and stays up.
 */
export async function settleFailed(proc: ProcessPeer): Promise<void> {
  if (proc.name.startsWith('gnutls-serv')) await proc.waitFor(/Error in handshake|alert/i, 5000).catch(() => undefined);
  else await proc.waitExit(10000).catch(() => undefined);
}
