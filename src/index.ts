// Public API of the handshaked package.
export * from './agent/request';
export * from './tls/api';
export * from './client';
