/**
 * A queue served round-robin between consumers (the kernel, each unix uid...): one item from
 * each consumer in turn, FIFO within a consumer. With one global FIFO, one consumer that queues
 * a thousand requests makes every other consumer wait behind all of them; here it waits behind
 * at most one request of each other consumer per turn.
 */
export class FairQueue<T> {
  private readonly lanes = new Map<string, T[]>();
  /** Consumers with queued items, in serving order; the head is served next. */
  private readonly ring: string[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(consumer: string, item: T): void {
    let lane = this.lanes.get(consumer);
    if (!lane) {
      lane = [];
      this.lanes.set(consumer, lane);
      this.ring.push(consumer);
    }
    lane.push(item);
    this.count++;
  }

  /** The next item: the head consumer's oldest, and that consumer goes to the back of the ring. */
  shift(): T | undefined {
    const consumer = this.ring.shift();
    if (consumer === undefined) return undefined;
    const lane = this.lanes.get(consumer) as T[];
    const item = lane.shift() as T;
    this.count--;
    if (lane.length > 0) this.ring.push(consumer);
    else this.lanes.delete(consumer);
    return item;
  }

  /** Removes every queued item that matches (an aborted request). */
  remove(consumer: string, match: (item: T) => boolean): number {
    const lane = this.lanes.get(consumer);
    if (!lane) return 0;
    const kept = lane.filter((i) => !match(i));
    const removed = lane.length - kept.length;
    if (removed === 0) return 0;
    this.count -= removed;
    if (kept.length > 0) {
      this.lanes.set(consumer, kept);
    } else {
      this.lanes.delete(consumer);
      this.ring.splice(this.ring.indexOf(consumer), 1);
    }
    return removed;
  }

  /** Empties the queue, returning everything in serving order. */
  drain(): T[] {
    const out: T[] = [];
    for (let i = this.shift(); i !== undefined; i = this.shift()) out.push(i);
    return out;
  }
}
