/**
 * What one thread of the pool sends the other, as one postMessage per turn of its loop.
 *
 * Every postMessage costs more than its copy: it wakes the receiving thread (an eventfd write
 * and the scheduler's work to run it) and is an event of its own there. With several handshakes
 * on a worker, one turn of either loop often has several things to say — a handshake's 'done',
 * another's slot report, a 'run' and a 'grant' — so they are gathered during the turn and cross
 * together at its end (setImmediate), in the order they were pushed. Messages built from what the
 * turn gathered (slot reports, grants) come from drains asked at that moment, after the rest.
 * Nothing waits longer than the end of the current turn.
 */
export class Outbox<M> {
  private queue: M[] = [];
  private scheduled = false;
  private readonly drains: (() => M | undefined)[] = [];

  constructor(private readonly post: (batch: M[]) => void) {}

  push(m: M): void {
    this.queue.push(m);
    this.schedule();
  }

  /** A drain has something to say at the end of this turn. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  /** `drain` is asked at every flush for one message built from what it gathered in the turn. */
  onFlush(drain: () => M | undefined): void {
    this.drains.push(drain);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    for (const drain of this.drains) {
      const m = drain();
      if (m !== undefined) this.queue.push(m);
    }
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.post(batch);
  };
}
