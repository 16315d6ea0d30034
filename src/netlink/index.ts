/**
 * The netlink layer: codec, family specs, the kernel link. The fake kernel is test support and
 * is not exported here: tests import it from ./fake-kernel by path.
 */
export * from './constants';
export * from './errors';
export * from './spec';
export * from './attributes';
export * from './codec';
export * from './message';
export * from './families';
export * from './handshake-messages';
export * from './link';
export * from './transport';
export * from './genl-client';
export * from './handshake-link';
export * from './kernel-link';
