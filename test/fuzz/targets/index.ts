/** Every fuzz target, by name (the names are the directories under fixtures/fuzz/). */
import type { FuzzTarget } from './common';
import { config } from './config';
import { netlink } from './netlink';
import { unixRequest } from './unix-request';
import { tlsClientFlight, tlsClientRecords, tlsServerFlight, tlsServerRecords } from './tls';
import { x509 } from './x509';

export type { FuzzTarget } from './common';

export const TARGETS: readonly FuzzTarget[] = [
  tlsServerRecords,
  tlsClientRecords,
  tlsClientFlight,
  tlsServerFlight,
  x509,
  netlink,
  config,
  unixRequest,
];

export function targetByName(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target "${name}"; targets: ${TARGETS.map((x) => x.name).join(', ')}`);
  return t;
}
