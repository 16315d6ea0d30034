import fs from 'node:fs';

/**
 * Companion keys (their descriptions carry "handshaked-companion", and one run's the name of its
 * keyring, "handshaked-companion-<pid>-<random>") that are still alive in
 * /proc/keys. Invalidated keys ('i' in the flags column) and dead ones ('D') are listed until
 * the kernel's key garbage collector gets to them, so they do not count.
 */
export function liveCompanionKeys(tag = 'handshaked-companion'): string[] {
  return fs
    .readFileSync('/proc/keys', 'utf8')
    .split('\n')
    .filter((l) => l.includes(tag))
    .filter((l) => !/[iD]/.test(l.trim().split(/\s+/)[1] ?? ''));
}
