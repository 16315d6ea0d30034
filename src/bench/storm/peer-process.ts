/** The orchestrator's handle on the peer child process (peer.ts). */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { FromPeer, ToPeer } from './peer';
import type { AuthMode, BenchPsk } from './shape';

export class PeerProcess {
  private pending: Array<(m: FromPeer) => void> = [];
  private readonly ports = new Map<AuthMode, Promise<number>>();

  get pid(): number {
    return this.child.pid!;
  }

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: FromPeer) => this.pending.shift()?.(m));
    child.once('exit', (code) => {
      const err: FromPeer = { type: 'loaded', ok: 0, failed: 0, firstError: `peer exited (${code})` };
      for (const p of this.pending.splice(0)) p(err);
    });
  }

  static start(psk: BenchPsk): Promise<PeerProcess> {
    const child = fork(path.join(__dirname, 'peer.js'), [JSON.stringify(psk)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('message', (m: FromPeer) => (m.type === 'ready' ? resolve(new PeerProcess(child)) : reject(new Error('peer did not start'))));
      child.once('exit', (code) => reject(new Error(`benchmark peer exited with code ${code}`)));
    });
  }

  private ask(m: ToPeer): Promise<FromPeer> {
    return new Promise((resolve) => {
      this.pending.push(resolve);
      this.child.send(m);
    });
  }

  /** Port of the peer's TLS server for `auth` (started on first use). */
  serverPort(auth: AuthMode): Promise<number> {
    let p = this.ports.get(auth);
    if (!p) {
      p = this.ask({ type: 'serve', auth }).then((m) => {
        if (m.type !== 'serving') throw new Error(`peer: expected serving, got ${m.type}`);
        return m.port;
      });
      this.ports.set(auth, p);
    }
    return p;
  }

  /** Runs `count` peer clients against `port`, `concurrency` at a time. */
  async load(port: number, auth: AuthMode, count: number, concurrency: number): Promise<Extract<FromPeer, { type: 'loaded' }>> {
    const m = await this.ask({ type: 'load', port, auth, count, concurrency });
    if (m.type !== 'loaded') throw new Error(`peer: expected loaded, got ${m.type}`);
    return m;
  }

  kill(): void {
    this.child.kill('SIGTERM');
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      this.child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      if (this.child.connected) this.child.send({ type: 'exit' } satisfies ToPeer);
      else this.child.kill('SIGTERM');
    });
  }
}
