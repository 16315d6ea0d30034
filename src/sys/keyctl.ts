/**
 * Kernel key retention service (keyrings) through raw syscalls: add_key, request_key, keyctl.
 * glibc has no wrappers (libkeyutils does, but one more native library is not worth a dozen
 * calls), so this goes through libc's variadic `syscall()`. Variadic functions cannot be called
 * through koffi's fixed signatures portably, but on the LP64 Linux ABIs (x86-64, arm64) the
 * syscall number and up to five arguments travel in integer registers whether the prototype is
 * variadic or not, so we declare one fixed-arity prototype per argument shape.
 *
 * All calls are synchronous on the main thread. That matters: keyrings hang off *thread*
 * credentials, and koffi's async calls run on other threads with other session keyrings.
 */
import { Errno } from './errno';
import { SysError, declareFunctions, sysCall, sysCallUnless } from './libc';

const NR: Record<string, { add_key: number; request_key: number; keyctl: number }> = {
  x64: { add_key: 248, request_key: 249, keyctl: 250 },
  arm64: { add_key: 217, request_key: 218, keyctl: 219 },
};

function nr(): { add_key: number; request_key: number; keyctl: number } {
  const n = NR[process.arch];
  if (!n) throw new SysError('keyctl', Errno.ENOSYS, `no keyctl syscall numbers for architecture ${process.arch}`);
  return n;
}

/** Special keyring ids (KEY_SPEC_*), accepted wherever a keyring serial is. */
export const KeySpec = {
  THREAD: -1,
  PROCESS: -2,
  SESSION: -3,
  USER: -4,
  USER_SESSION: -5,
  GROUP: -6,
  REQKEY_AUTH: -7,
} as const;

/** keyctl(2) operations used here. */
export const KeyctlOp = {
  GET_KEYRING_ID: 0,
  JOIN_SESSION_KEYRING: 1,
  UPDATE: 2,
  REVOKE: 3,
  SETPERM: 5,
  DESCRIBE: 6,
  CLEAR: 7,
  LINK: 8,
  UNLINK: 9,
  SEARCH: 10,
  READ: 11,
  SET_TIMEOUT: 15,
  INVALIDATE: 21,
} as const;

// One prototype of syscall() per argument shape (see header comment).
const SYSCALL = declareFunctions({
  keyctlInts: 'long syscall(long nr, long op, long a2, long a3, long a4, long a5)',
  keyctlBuf: 'long syscall(long nr, long op, long serial, void *buf, size_t len, long unused)',
  keyctlStr: 'long syscall(long nr, long op, const char *name, long a3, long a4, long a5)',
  keyctlSearch: 'long syscall(long nr, long op, long ring, const char *type, const char *desc, long dest)',
  addKey: 'long syscall(long nr, const char *type, const char *desc, const void *payload, size_t plen, long ring)',
  requestKey: 'long syscall(long nr, const char *type, const char *desc, const char *callout, long ring)',
});

const asNumber = (v: number | bigint): number => Number(v);

export function keyctl(op: number, a2 = 0, a3 = 0, a4 = 0, a5 = 0, what = `keyctl(${op})`): number {
  return asNumber(sysCall(what, () => SYSCALL.keyctlInts(nr().keyctl, op, a2, a3, a4, a5)));
}

/** add_key(2): create or update a key in `keyring`; returns its serial. */
export function addKey(type: string, description: string, payload: Buffer | null, keyring: number): number {
  const len = payload ? payload.length : 0;
  return asNumber(
    sysCall('add_key', () => SYSCALL.addKey(nr().add_key, type, description, len ? payload : null, len, keyring), `${type} "${description}"`),
  );
}

/** request_key(2) without an upcall (callout NULL): find a key the process can see. */
export function requestKey(type: string, description: string, destKeyring = 0): number {
  return asNumber(
    sysCall('request_key', () => SYSCALL.requestKey(nr().request_key, type, description, null, destKeyring), `${type} "${description}"`),
  );
}

/** The serial behind a special id (KEY_SPEC_SESSION_KEYRING → its real serial). */
export function getKeyringId(id: number, create = false): number {
  return keyctl(KeyctlOp.GET_KEYRING_ID, id, create ? 1 : 0, 0, 0, 'keyctl(GET_KEYRING_ID)');
}

/** Replace this thread's session keyring with a new one (name undefined → anonymous). */
export function joinSessionKeyring(name?: string): number {
  return asNumber(
    sysCall('keyctl(JOIN_SESSION_KEYRING)', () => SYSCALL.keyctlStr(nr().keyctl, KeyctlOp.JOIN_SESSION_KEYRING, name ?? null, 0, 0, 0)),
  );
}

/** Read a variable-length result (READ, DESCRIBE): ask for the size, then fetch, retry if it grew. */
function readVariable(op: number, serial: number, what: string): Buffer {
  let size = 256;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = asNumber(sysCall(what, () => SYSCALL.keyctlBuf(nr().keyctl, op, serial, buf, buf.length, 0), `key ${serial}`));
    if (n <= buf.length) return buf.subarray(0, n);
    size = n;
  }
}

/** KEYCTL_READ: the key's payload (needs read permission). */
export function readKeyPayload(serial: number): Buffer {
  return readVariable(KeyctlOp.READ, serial, 'keyctl(READ)');
}

/** KEYCTL_DESCRIBE: "type;uid;gid;perm;description" (needs view permission). */
export function describeKeyRaw(serial: number): string {
  const raw = readVariable(KeyctlOp.DESCRIBE, serial, 'keyctl(DESCRIBE)');
  // the kernel counts the trailing NUL
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? raw.length : nul).toString();
}

/**
 * KEYCTL_SEARCH (recursive, needs search permission): the serial found, or undefined when
 * nothing matches (ENOKEY), without building an error for it: a PSK
 * lookup searches the "psk" type and then "user", and most searches miss. Other failures throw.
 */
export function findInKeyring(keyring: number, type: string, description: string, destKeyring = 0): number | undefined {
  const ret = sysCallUnless(
    Errno.ENOKEY,
    'keyctl(SEARCH)',
    () => SYSCALL.keyctlSearch(nr().keyctl, KeyctlOp.SEARCH, keyring, type, description, destKeyring),
    `${type} "${description}" in keyring ${keyring}`,
  );
  return ret === undefined ? undefined : asNumber(ret);
}

export function linkKey(serial: number, keyring: number): void {
  keyctl(KeyctlOp.LINK, serial, keyring, 0, 0, 'keyctl(LINK)');
}

export function unlinkKey(serial: number, keyring: number): void {
  keyctl(KeyctlOp.UNLINK, serial, keyring, 0, 0, 'keyctl(UNLINK)');
}

export function revokeKey(serial: number): void {
  keyctl(KeyctlOp.REVOKE, serial, 0, 0, 0, 'keyctl(REVOKE)');
}

export function invalidateKey(serial: number): void {
  keyctl(KeyctlOp.INVALIDATE, serial, 0, 0, 0, 'keyctl(INVALIDATE)');
}

export function setKeyPerm(serial: number, perm: number): void {
  keyctl(KeyctlOp.SETPERM, serial, perm, 0, 0, 'keyctl(SETPERM)');
}

/** Expire the key `seconds` from now (0 clears the expiry). */
export function setKeyTimeout(serial: number, seconds: number): void {
  keyctl(KeyctlOp.SET_TIMEOUT, serial, seconds, 0, 0, 'keyctl(SET_TIMEOUT)');
}
