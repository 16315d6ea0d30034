/**
 * The PSKs of the companion's PSK scenarios, in a kernel keyring the agent under test can use —
 * set up the way an NVMe/TCP host is: the keys sit in a keyring of their own (the kernel's is
 * ".nvme"; nvme-cli's --keyring names another), their descriptions are NVMe PSK identities
 * ("NVMe0R01 <hostnqn> <subnqn>", hash 01 = SHA-256 with a 32-byte key, 02 = SHA-384 with 48),
 * and the handshake request names that keyring in its `keyring` attribute, as the kernel does.
 * The agent links the request's keyring into its session keyring for the handshake, reads the
 * client's keys by serial (peer-identity) and finds the server's key by the client's identity.
 *
 * The keyring hangs off the companion's thread keyring, so nothing else can reach it by
 * accident: an agent that ignores the request's `keyring` attribute does not find the keys and
 * fails the PSK cases. Keyring and keys grant their owner (uid 0 when the companion runs as root,
 * which the agent requires before it honours key serials) view, read and search, the keyring
 * also link — what the agent needs, nothing more. Keys are of type "psk" where the kernel has
 * that type (nvme-keyring), else "user", the agent's documented fallback.
 *
 * Identities carry the companion's pid and a random tag, so two runs, or a key left behind by a
 * killed run, never answer for each other; `remove()` invalidates every key and the keyring.
 */
import { randomBytes } from 'node:crypto';
import { pskKeyTypeAvailable } from '../agent/keyring';
import { KeySpec, addKey, invalidateKey, setKeyPerm } from '../sys/keyctl';

/** KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH (keys). */
const KEY_PERM = 0x3f0b0000;
/** The same, plus KEY_USR_LINK: the agent links the keyring into its session keyring. */
const KEYRING_PERM = 0x3f1b0000;

export type PskName = 'sha256' | 'sha384' | 'decoy-sha256' | 'decoy-sha384' | 'unknown-sha256' | 'unknown-sha384';

export interface CompanionPsk {
  identity: string;
  key: Buffer;
  hash: 'sha256' | 'sha384';
  serial: number;
}

const HASH_OF: Record<PskName, 'sha256' | 'sha384'> = {
  sha256: 'sha256',
  sha384: 'sha384',
  'decoy-sha256': 'sha256',
  'decoy-sha384': 'sha384',
  'unknown-sha256': 'sha256',
  'unknown-sha384': 'sha384',
};

export class PskKeys {
  private constructor(
    /** Serial of the keyring the requests name. */
    readonly keyring: number,
    /** Its description, "handshaked-companion-<pid>-<random>"; the key identities contain the same tag. */
    readonly keyringName: string,
    /** Key type used: "psk" (nvme-keyring loaded) or "user". */
    readonly type: 'psk' | 'user',
    private readonly keys: ReadonlyMap<PskName, CompanionPsk>,
  ) {}

  /** Creates the keyring and one key per PskName; throws with what to check when the kernel refuses. */
  static create(): PskKeys {
    const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const keyringName = `handshaked-companion-${tag}`;
    let keyring: number;
    try {
      keyring = addKey('keyring', keyringName, null, KeySpec.THREAD);
    } catch (e) {
      throw new Error(`cannot create the PSK keyring (${(e as Error).message}): the PSK cases need a kernel with keyrings (CONFIG_KEYS) and keyctl permitted`);
    }
    const keys = new Map<PskName, CompanionPsk>();
    let type: 'psk' | 'user' = 'user';
    try {
      setKeyPerm(keyring, KEYRING_PERM);
      type = pskKeyTypeAvailable() ? 'psk' : 'user';
      const hostnqn = `nqn.2014-08.org.nvmexpress:uuid:${uuid()}`;
      for (const name of Object.keys(HASH_OF) as PskName[]) {
        const hash = HASH_OF[name];
        const identity = `NVMe0R${hash === 'sha256' ? '01' : '02'} ${hostnqn} nqn.2024-01.io.handshaked:${keyringName}-${name}`;
        const key = randomBytes(hash === 'sha256' ? 32 : 48);
        const serial = addKey(type, identity, key, keyring);
        setKeyPerm(serial, KEY_PERM);
        keys.set(name, { identity, key, hash, serial });
      }
    } catch (e) {
      removeQuietly([...[...keys.values()].map((k) => k.serial), keyring]);
      throw new Error(`cannot create the companion's PSK keys: ${(e as Error).message}`);
    }
    return new PskKeys(keyring, keyringName, type, keys);
  }

  get(name: PskName): CompanionPsk {
    const k = this.keys.get(name);
    if (!k) throw new Error(`no companion PSK named ${name}`);
    return k;
  }

  /** Invalidate every key and the keyring (the kernel unlinks and frees them). */
  remove(): void {
    removeQuietly([...[...this.keys.values()].map((k) => k.serial), this.keyring]);
  }
}

function removeQuietly(serials: number[]): void {
  for (const s of serials) {
    try {
      invalidateKey(s);
    } catch {
      // already gone (invalidated keyring took it along, or never fully created)
    }
  }
}

function uuid(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
