/**
 * Errors of the netlink layer. Two kinds: malformed bytes (NetlinkFormatError, always naming
 * the byte offset and the field) and values that cannot be encoded (NetlinkEncodeError).
 * Kernel error replies are NetlinkError from ./link (the daemon's contract).
 */

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

// The errno table lives in sys; these names stay exported from the netlink layer for its users.
export { errnoName, errnoNumber } from '../sys/errno';
