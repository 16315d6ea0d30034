/**
 * Errors of the netlink layer. Two kinds: malformed bytes (NetlinkFormatError, always naming
 * the byte offset and the field) and values that cannot be encoded (NetlinkEncodeError).
 * Kernel error replies are NetlinkError from ./link (the daemon's contract).
 */
import os from 'node:os';

/** Bytes that do not parse: `offset` is from the start of the input, `field` names what was being read. */
export class NetlinkFormatError extends Error {
  readonly code = 'ENLFORMAT';
  constructor(
    readonly offset: number,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`malformed netlink at byte ${offset}: ${field}: ${problem}`);
    this.name = 'NetlinkFormatError';
  }
}

/** A value that has no encoding under the family's spec (unknown attribute name, out-of-range integer, ...). */
export class NetlinkEncodeError extends Error {
  readonly code = 'ENLENCODE';
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`cannot encode ${field}: ${problem}`);
    this.name = 'NetlinkEncodeError';
  }
}

// Keyring errnos are missing from os.constants.errno; the handshake family reports them as status.
const EXTRA_ERRNOS: Record<string, number> = { ENOKEY: 126, EKEYEXPIRED: 127, EKEYREVOKED: 128, EKEYREJECTED: 129 };
const ERRNO_BY_NAME: Record<string, number> = { ...os.constants.errno, ...EXTRA_ERRNOS };
const ERRNO_NAMES = new Map<number, string>();
for (const [name, num] of Object.entries(ERRNO_BY_NAME)) {
  // os.constants.errno has aliases (EWOULDBLOCK = EAGAIN, ENOTSUP = EOPNOTSUPP); keep the first, canonical name.
  if (!ERRNO_NAMES.has(num)) ERRNO_NAMES.set(num, name);
}
ERRNO_NAMES.set(11, 'EAGAIN');
ERRNO_NAMES.set(95, 'EOPNOTSUPP');

/** 'EAGAIN' for 11 (or -11); 'E<n>' when the number has no name. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  return ERRNO_NAMES.get(n) ?? `E${n}`;
}

/** 11 for 'EAGAIN'; undefined for an unknown name. */
export function errnoNumber(name: string): number | undefined {
  return ERRNO_BY_NAME[name];
}
