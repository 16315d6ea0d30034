/**
 * What the agent needs from the kernel keyrings (tlshd.md §2.3, kernel-handshake.md §2.8):
 * certificates, private keys and PSKs arrive as key serials; PSKs are looked up by identity in
 * the session keyring; consumer keyrings (.nvme, per-request KEYRING) are linked into the
 * session keyring so that search can see them.
 *
 * PSK key type: NVMe PSKs are keys of type "psk", a type registered by the nvme-keyring module.
 * Kernels without it (like the development machines: add_key("psk") → ENODEV) cannot hold such
 * keys at all, so PSK lookups fall back to "user" keys with the same description, as tlshd's
 * QUIC server path does. A "user" key's payload is the raw PSK just like a "psk" key's.
 */
import * as fs from 'node:fs';
import { SysError } from '../sys/libc';
import {
  KeySpec,
  addKey,
  describeKeyRaw,
  invalidateKey,
  linkKey,
  readKeyPayload,
  searchKeyring,
  unlinkKey,
} from '../sys/keyctl';

export { KeySpec };

export type KeyErrorCode = 'EACCES' | 'ENOKEY' | 'EKEYEXPIRED' | 'EKEYREVOKED' | 'EKEYREJECTED' | 'ENODEV' | string;

/** A keyring operation failed; `code` is the errno name, `serial` the key involved. */
export class KeyError extends Error {
  constructor(
    readonly code: KeyErrorCode,
    readonly op: string,
    readonly serial: number | undefined,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KeyError';
  }
}

const keyName = (serial: number | undefined): string => (serial === undefined ? 'key' : `key ${serial} (0x${(serial >>> 0).toString(16)})`);

function explain(op: string, serial: number | undefined, e: unknown): never {
  if (!(e instanceof SysError)) throw e;
  const k = keyName(serial);
  let msg: string;
  switch (e.code) {
    case 'EACCES':
      msg = `${op}: permission denied for ${k}: this process may not ${op === 'read' ? 'read' : 'use'} it (check the key's permissions and that its keyring is linked into the agent's session keyring)`;
      break;
    case 'ENOKEY':
      msg = `${op}: ${k} does not exist (or is not visible to this process)`;
      break;
    case 'EKEYEXPIRED':
      msg = `${op}: ${k} has expired`;
      break;
    case 'EKEYREVOKED':
      msg = `${op}: ${k} has been revoked`;
      break;
    case 'EKEYREJECTED':
      msg = `${op}: ${k} was rejected`;
      break;
    default:
      msg = `${op}: ${k}: ${e.message}`;
  }
  throw new KeyError(e.code, op, serial, `${msg} [${e.code}]`, e);
}

function guard<T>(op: string, serial: number | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    explain(op, serial, e);
  }
}

/** The payload of a key: DER certificate or key, or raw PSK bytes. */
export function readKey(serial: number): Buffer {
  return guard('read', serial, () => readKeyPayload(serial));
}

export interface KeyDescription {
  type: string;
  uid: number;
  gid: number;
  /** Permission mask (possessor/user/group/other bytes, KEY_POS_* …). */
  perm: number;
  description: string;
}

/** Parse "type;uid;gid;perm;description" — the description itself may contain ';'. */
export function parseDescription(raw: string): KeyDescription {
  const parts = raw.split(';');
  if (parts.length < 5) throw new KeyError('EINVAL', 'describe', undefined, `unexpected key description format: "${raw}"`);
  const [type, uid, gid, perm] = parts;
  return {
    type,
    uid: Number.parseInt(uid, 10),
    gid: Number.parseInt(gid, 10),
    perm: Number.parseInt(perm, 16) >>> 0,
    description: parts.slice(4).join(';'),
  };
}

export function describeKey(serial: number): KeyDescription {
  return parseDescription(guard('describe', serial, () => describeKeyRaw(serial)));
}

export interface KeyPsk {
  /** PSK identity: the key description after its last ';' (tlshd's rule). */
  identity: string;
  key: Buffer;
  serial: number;
}

/** The identity and secret of a PSK key ("psk", or "user" on kernels without the psk type). */
export function pskFromKey(serial: number): KeyPsk {
  const desc = describeKey(serial);
  const key = readKey(serial);
  const semi = desc.description.lastIndexOf(';');
  return { identity: semi < 0 ? desc.description : desc.description.slice(semi + 1), key, serial };
}

/**
 * KEYCTL_SEARCH: the serial of a key of `type` named `description` reachable from `keyring`
 * (searched recursively), or undefined when there is none. Other failures throw KeyError.
 */
export function searchKey(keyring: number, type: string, description: string): number | undefined {
  try {
    return searchKeyring(keyring, type, description);
  } catch (e) {
    if (e instanceof SysError && e.code === 'ENOKEY') return undefined;
    explain(`search for ${type} "${description}"`, keyring, e);
  }
}

let pskTypeCache: boolean | undefined;

/**
 * Whether this kernel has the "psk" key type. Probed once by adding a "psk" key to a throwaway
 * keyring in the thread keyring: ENODEV means the type is not registered.
 */
export function pskKeyTypeAvailable(): boolean {
  if (pskTypeCache !== undefined) return pskTypeCache;
  const ring = guard('probe', undefined, () => addKey('keyring', `handshaked-probe-${process.pid}`, null, KeySpec.THREAD));
  try {
    addKey('psk', 'handshaked probe', Buffer.alloc(32), ring);
    pskTypeCache = true;
  } catch (e) {
    if (e instanceof SysError && e.code === 'ENODEV') pskTypeCache = false;
    else if (e instanceof SysError) pskTypeCache = true; // the type exists; it disliked our probe key
    else throw e;
  } finally {
    try {
      invalidateKey(ring);
    } catch {
      // the thread keyring goes away with the thread anyway
    }
  }
  return pskTypeCache;
}

/**
 * Look up a PSK by the identity a client sent: type "psk" first, then "user" (see header).
 * Searches the session keyring, where configured and per-request keyrings are linked.
 */
export function findPsk(identity: string, keyring: number = KeySpec.SESSION): KeyPsk | undefined {
  for (const type of ['psk', 'user']) {
    const serial = searchKey(keyring, type, identity);
    if (serial !== undefined) {
      const psk = pskFromKey(serial);
      return { ...psk, identity };
    }
  }
  return undefined;
}

/** Link a keyring (or key) into the session keyring (default) or another one. */
export function linkKeyring(keyring: number, into: number = KeySpec.SESSION): void {
  guard('link', keyring, () => linkKey(keyring, into));
}

/** Undo linkKeyring. */
export function unlinkKeyring(keyring: number, from: number = KeySpec.SESSION): void {
  guard('unlink', keyring, () => unlinkKey(keyring, from));
}

/**
 * Find a keyring by name, e.g. ".nvme". First a KEYCTL_SEARCH of the session, process and user
 * keyrings (finds keyrings linked there); then /proc/keys, which lists every key this process
 * may view — that is how system keyrings such as .nvme, which are linked nowhere, are found
 * (tlshd does the same). Returns undefined when there is no such keyring.
 */
export function findKeyringByName(name: string): number | undefined {
  for (const ring of [KeySpec.SESSION, KeySpec.PROCESS, KeySpec.USER]) {
    try {
      const serial = searchKeyring(ring, 'keyring', name);
      if (serial > 0) return serial;
    } catch (e) {
      // ENOKEY: not there; EACCES/EKEY*: this keyring cannot be searched — try the next source
      if (!(e instanceof SysError)) throw e;
    }
  }
  return findInProcKeys(name);
}

/** A line of /proc/keys: "serial flags usage expiry perm uid gid type description: summary". */
const PROC_KEYS_LINE = /^([0-9a-f]+)\s+\S+\s+\d+\s+\S+\s+[0-9a-f]+\s+\d+\s+\d+\s+(\S+)\s+(.*)$/;

export function parseProcKeys(text: string): Array<{ serial: number; type: string; description: string }> {
  const out: Array<{ serial: number; type: string; description: string }> = [];
  for (const line of text.split('\n')) {
    const m = PROC_KEYS_LINE.exec(line);
    if (!m) continue;
    // keyrings print "name: empty" or "name: <n links>"; other types print their own summary
    const rest = m[3];
    const colon = rest.lastIndexOf(': ');
    const description = colon < 0 ? rest.replace(/:$/, '') : rest.slice(0, colon);
    out.push({ serial: Number.parseInt(m[1], 16) | 0, type: m[2], description });
  }
  return out;
}

function findInProcKeys(name: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/keys', 'utf8');
  } catch {
    return undefined; // kernel without CONFIG_KEYS_PROC... or no keys at all
  }
  const hit = parseProcKeys(text).find((k) => k.type === 'keyring' && k.description === name);
  return hit?.serial;
}
