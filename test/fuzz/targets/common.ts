/**
 * What every fuzz target shares. A target takes arbitrary bytes and either returns or throws;
 * it throws only for a finding: an exception other than the module's own error type (a parser
 * that reports bad input with its own error class is doing its job), or an engine that turned
 * a bug into internal_error. Hangs and unbounded allocation are caught by the fuzzer's
 * -timeout and -rss_limit_mb, and by the jest replay's own timeout.
 */

export interface FuzzTarget {
  /** Directory name under fixtures/fuzz/ and the name `npm run fuzz` takes. */
  name: string;
  /** What untrusted input this target stands for. */
  about: string;
  fuzz(data: Buffer): void;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** A finding: carries the input-independent reason so crash reports group well. */
export class FuzzFinding extends Error {
  constructor(target: string, cause: unknown) {
    const what = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`${target}: unexpected ${what}`, { cause });
    this.name = 'FuzzFinding';
  }
}

/** Runs `body`; errors of the `expected` classes are the parser doing its job, anything else is a finding. */
export function expectOnly(target: string, expected: readonly ErrorClass[], body: () => void): void {
  try {
    body();
  } catch (e) {
    if (expected.some((cls) => e instanceof cls)) return;
    throw new FuzzFinding(target, e);
  }
}
