/** The netlink layer: codec, family specs, links (kernel and fake). */
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
export * from './fake-kernel';
export * from './kernel-link';
