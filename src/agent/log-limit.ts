/**
 * Rate limiting for log lines a peer can trigger at will (a refused consumer reconnecting in a
 * loop, accept() failing with EMFILE every 100 ms): the first line of a kind is written, the
 * same kind again within the interval is only counted, and the next line written says how many
 * were left out. The log stays readable and its volume stays bounded whatever peers do.
 */

/** One line of a kind per this many milliseconds. */
const LOG_INTERVAL_MS = 10_000;
/** Kinds remembered at once; beyond it the oldest are forgotten (their counts are lost). */
const MAX_KINDS = 1024;

export class LogLimiter {
  private readonly kinds = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = LOG_INTERVAL_MS,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /**
   * Runs `emit` unless a line of `kind` was written less than the interval ago; `emit` gets the
   * number of lines of that kind left out since the last one written.
   */
  log(kind: string, emit: (suppressed: number) => void): void {
    const t = this.now();
    const k = this.kinds.get(kind);
    if (k && t - k.at < this.intervalMs) {
      k.suppressed++;
      return;
    }
    const suppressed = k?.suppressed ?? 0;
    this.kinds.delete(kind);
    if (this.kinds.size >= MAX_KINDS) this.kinds.delete(this.kinds.keys().next().value as string);
    this.kinds.set(kind, { at: t, suppressed: 0 });
    emit(suppressed);
  }
}

/** Log metadata for a line after `suppressed` similar ones were left out (nothing when none were). */
export function suppressedMeta(suppressed: number): { suppressed?: number } {
  return suppressed > 0 ? { suppressed } : {};
}
