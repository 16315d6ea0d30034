/** Every family spec handshaked knows, by name. */
import { handshakeFamily } from './handshake';
import { nlctrlFamily } from './nlctrl';
import type { FamilySpec } from '../spec';

export { handshakeFamily, nlctrlFamily };
export * from './handshake';
export * from './nlctrl';

export const KNOWN_FAMILIES: ReadonlyMap<string, FamilySpec> = new Map([
  [handshakeFamily.name, handshakeFamily],
  [nlctrlFamily.name, nlctrlFamily],
]);
