/**
 * What the agent needs from the kernel keyrings (docs/kernel-interface.md, "remote-auth and keys"):
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
import type { PskEntry } from '../tls/api';
import { SysError } from '../sys/libc';
import {
  KeySpec,
  addKey,
  describeKeyRaw,
  invalidateKey,
  linkKey,
  readKeyPayload,
  findInKeyring,
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

/**
 * The identity and secret of a PSK key ("psk", or "user" on kernels without the psk type).
 * `desc`: its description, when the caller has just read it (one KEYCTL_DESCRIBE, not two).
 */
export function pskFromKey(serial: number, desc: KeyDescription = describeKey(serial)): KeyPsk {
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
    return findInKeyring(keyring, type, description);
  } catch (e) {
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
      // The nvme-keyring "psk" type matches a search when the key's description is a *prefix* of
      // the searched identity (memcmp over the description's length): insist on the whole identity.
      // One KEYCTL_DESCRIBE serves both the check and the key (pskFromKey would describe it again).
      const desc = describeKey(serial);
      if (desc.description !== identity) continue;
      const psk = pskFromKey(serial, desc);
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
      const serial = findInKeyring(ring, 'keyring', name);
      if (serial !== undefined && serial > 0) return serial;
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

// --- adapters for the handshake (HandshakeEnv.keys) -------------------------------------------

/** RFC 8446 external PSK hash by key length, as tlshd picks its PSK-SHA256 / PSK-SHA384 sets. */
function pskHash(key: Buffer): 'sha256' | 'sha384' {
  return key.length === 48 ? 'sha384' : 'sha256';
}

/** A PSK key as the engine wants it: identity bytes, key, hash, tag = serial. */
export function pskEntry(serial: number): PskEntry {
  const psk = pskFromKey(serial);
  return { identity: Buffer.from(psk.identity, 'utf8'), key: psk.key, hash: pskHash(psk.key), tag: serial };
}

/**
 * Server side: the PSK for the identity a client offered. Key descriptions are C strings, so an
 * identity that is not NUL-free UTF-8 cannot name a key and finds nothing.
 */
export function findPskEntry(identity: Buffer, keyring: number = KeySpec.SESSION): PskEntry | undefined {
  const text = identity.toString('utf8');
  if (text.includes('\0') || !Buffer.from(text, 'utf8').equals(identity)) return undefined;
  const psk = findPsk(text, keyring);
  if (!psk) return undefined;
  return { identity: Buffer.from(identity), key: psk.key, hash: pskHash(psk.key), tag: psk.serial };
}

/** Keyrings tlshd links for every handshake besides the configured ones (docs/kernel-interface.md). */
export const DEFAULT_KEYRINGS: readonly string[] = ['.nvme', '.nfs', '.nfsd'];

/**
 * Links keyrings into the session keyring for the duration of handshakes. Handshakes run
 * concurrently in one process and share one session keyring, so links are counted: a keyring
 * is linked by its first user and unlinked when its last user is done — and never unlinked if
 * it was already linked before we touched it.
 */
export class KeyringLinker {
  private readonly refs = new Map<number, { count: number; ours: boolean }>();
  /**
   * Keyring names resolved recently. Resolving a name that does not exist (.nfs without nfs.ko)
   * costs three failed keyctl searches and a read of /proc/keys; in a storm that was the
   * largest cost of a PSK handshake after the crypto. A keyring created meanwhile is seen at
   * most `nameTtlMs` later.
   */
  private readonly names = new Map<string, { serial: number | undefined; until: number }>();

  constructor(
    private readonly into: number = KeySpec.SESSION,
    private readonly nameTtlMs = 1000,
  ) {}

  private resolve(name: string): number | undefined {
    const now = Date.now();
    const hit = this.names.get(name);
    if (hit && hit.until > now) return hit.serial;
    const serial = findKeyringByName(name);
    this.names.set(name, { serial, until: now + this.nameTtlMs });
    return serial;
  }

  /**
   * Link `serials` and the keyrings named in `names` (missing names are skipped: .nfs exists only
   * once nfs.ko is loaded). Returns the undo. Failures to link one keyring do not stop the others;
   * they are reported through `onError`.
   */
  acquire(serials: readonly number[], names: readonly string[], onError?: (e: Error) => void): () => void {
    const taken: number[] = [];
    const targets = new Set<number>(serials.filter((s) => s > 0));
    for (const name of names) {
      try {
        const serial = this.resolve(name);
        if (serial !== undefined) targets.add(serial);
      } catch (e) {
        onError?.(e as Error);
      }
    }
    for (const serial of targets) {
      const ref = this.refs.get(serial);
      if (ref) {
        ref.count++;
        taken.push(serial);
        continue;
      }
      try {
        const already = this.isLinked(serial);
        if (!already) linkKeyring(serial, this.into);
        this.refs.set(serial, { count: 1, ours: !already });
        taken.push(serial);
      } catch (e) {
        // A cached name may point at a keyring that has gone: look it up afresh next time.
        for (const [name, n] of this.names) if (n.serial === serial) this.names.delete(name);
        onError?.(e as Error);
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const serial of taken) this.release(serial, onError);
    };
  }

  /** Keyrings currently held, for diagnostics. */
  held(): number[] {
    return [...this.refs.keys()];
  }

  private release(serial: number, onError?: (e: Error) => void): void {
    const ref = this.refs.get(serial);
    if (!ref) return;
    if (--ref.count > 0) return;
    this.refs.delete(serial);
    if (!ref.ours) return;
    try {
      unlinkKeyring(serial, this.into);
    } catch (e) {
      // ENOENT: someone else removed the link already; nothing left to undo
      if (!(e instanceof KeyError && e.code === 'ENOENT')) onError?.(e as Error);
    }
  }

  /** Is `serial` already reachable from our target keyring (so linking it adds nothing)? */
  private isLinked(serial: number): boolean {
    const desc = describeKey(serial);
    try {
      return searchKey(this.into, desc.type, desc.description) === serial;
    } catch {
      return false; // the target cannot be searched for it: link it
    }
  }
}
