/**
 * A worker thread's reports of its handshakes' work slots to the main thread (pool/protocol.ts,
 * 'slots').
 */
import type { FromWorker } from './protocol';
import type { Outbox } from './outbox';

/**
 * The slot changes of one turn of this thread's loop, told to the main thread in one message at
 * its end, in the same crossing as the rest of the turn's messages (Outbox). A release not told yet is taken back when the same handshake wants its
 * slot again in that turn: its peer's record was already readable, so it never gave the slot up
 * as far as the main thread can tell, and no message crosses for that read. Without this, every
 * record read cost three messages between the threads ('wait', 'want', 'grant'; docs/bench.md,
 * "CPU per handshake"). A slot is given back at most one turn later than it was freed.
 * (Kept apart from worker.ts, which runs only as a worker thread, so that tests can drive it.)
 */
export class SlotReports {
  private readonly waits = new Set<number>();
  private wants: number[] = [];

  constructor(private readonly outbox: Pick<Outbox<FromWorker>, 'schedule' | 'onFlush'>) {
    outbox.onFlush(this.drain);
  }

  released(id: number): void {
    this.waits.add(id);
    this.outbox.schedule();
  }

  /** The handshake wants its slot back: true when its release was not told yet (and now never is). */
  takeBack(id: number): boolean {
    return this.waits.delete(id);
  }

  wanted(id: number): void {
    this.wants.push(id);
    this.outbox.schedule();
  }

  /** The handshake is over: its 'done' frees its slot on the main thread. */
  forget(id: number): void {
    this.waits.delete(id);
  }

  private readonly drain = (): FromWorker | undefined => {
    if (this.waits.size === 0 && this.wants.length === 0) return undefined;
    const m: FromWorker = { t: 'slots', wait: [...this.waits], want: this.wants };
    this.waits.clear();
    this.wants = [];
    return m;
  };
}
