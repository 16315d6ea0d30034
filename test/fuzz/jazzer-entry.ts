/**
 * The module Jazzer.js loads (scripts/fuzz.sh): FUZZ_TARGET names the target. One entry for all
 * targets keeps the build to one tsc run.
 */
import { targetByName } from './targets';

const target = targetByName(process.env.FUZZ_TARGET ?? '');

export function fuzz(data: Buffer): void {
  target.fuzz(data);
}
