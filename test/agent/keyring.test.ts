import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import {
  KeyError,
  KeyringLinker,
  KeySpec,
  findPskEntry,
  pskEntry,
  describeKey,
  findKeyringByName,
  findPsk,
  linkKeyring,
  parseDescription,
  parseProcKeys,
  pskFromKey,
  pskKeyTypeAvailable,
  readKey,
  searchKey,
  unlinkKeyring,
} from '../../src/agent/keyring';
import {
  addKey,
  requestKey,
  getKeyringId,
  joinSessionKeyring,
  revokeKey,
  setKeyPerm,
  setKeyTimeout,
} from '../../src/sys/keyctl';
import * as keyctl from '../../src/sys/keyctl';
import { SysError } from '../../src/sys/libc';
import { thrownBy } from '../helpers/thrown';

/** Keyrings found by name: other runs' leftovers (visible in /proc/keys) must not answer for ours. */
const uniqueName = (base: string): string => `${base}-${process.pid}-${Date.now().toString(36)}`;

// Every test works inside a fresh anonymous session keyring joined by this (jest worker)
// process's main thread, so nothing leaks into the user's keyrings: it goes away when the
// process exits. Child processes (keyctl) inherit it.
let session: number;
beforeAll(() => {
  session = joinSessionKeyring();
});

const keyctlCli = (...args: string[]): string => {
  const r = spawnSync('keyctl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`keyctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

const keyErr = (fn: () => unknown): KeyError => thrownBy(KeyError, fn);

describe('keyring (real kernel keyrings, fresh session keyring)', () => {
  test('the fresh session keyring is ours and empty', () => {
    expect(session).toBeGreaterThan(0);
    expect(getKeyringId(KeySpec.SESSION)).toBe(session);
    expect(keyctlCli('rdescribe', '@s')).toMatch(/^keyring;0;0;[0-9a-f]{8};_ses$/);
    expect(keyctlCli('rlist', '@s')).toBe('');
  });

  test('read and describe a key added by keyctl(1)', () => {
    const serial = Number(keyctlCli('add', 'user', 'hs;cert-der', 'payload bytes', '@s'));
    expect(readKey(serial).toString()).toBe('payload bytes');
    const d = describeKey(serial);
    expect(d).toMatchObject({ type: 'user', uid: process.getuid!(), gid: process.getgid!(), description: 'hs;cert-der' });
    expect(d.perm).toBe(Number.parseInt(keyctlCli('rdescribe', String(serial)).split(';')[3], 16));
  });

  test('large binary payloads round-trip', () => {
    const payload = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff));
    const serial = addKey('user', 'hs-big', payload, KeySpec.SESSION);
    expect(readKey(serial)).toEqual(payload);
    expect(keyctlCli('pipe', String(serial)).length).toBeGreaterThan(0);
  });

  test('pskFromKey: identity after the last ";", payload as key', () => {
    const secret = Buffer.alloc(32, 0x5a);
    const identity = 'NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:host nqn.test:subsys';
    const serial = addKey('user', identity, secret, KeySpec.SESSION);
    expect(pskFromKey(serial)).toEqual({ identity, key: secret, serial });
    const s2 = addKey('user', 'prefix;with;semis;my-identity', Buffer.alloc(48, 1), KeySpec.SESSION);
    expect(pskFromKey(s2).identity).toBe('my-identity');
  });

  test('psk key type: probe agrees with add_key, and lookups fall back to user keys', () => {
    const available = pskKeyTypeAvailable();
    let addErr: unknown;
    try {
      addKey('psk', 'hs-psk-probe-2', Buffer.alloc(32), KeySpec.SESSION);
    } catch (e) {
      addErr = e;
    }
    if (available) expect(addErr).toBeUndefined();
    else expect(addErr).toMatchObject({ code: 'ENODEV' });
    const secret = Buffer.alloc(32, 7);
    const serial = addKey('user', 'client-identity-1', secret, KeySpec.SESSION);
    expect(findPsk('client-identity-1')).toEqual({ identity: 'client-identity-1', key: secret, serial });
    expect(findPsk('nobody-has-this-identity')).toBeUndefined();
  });

  test('findPsk describes the key it found once (one KEYCTL_DESCRIBE for the identity check and the entry)', () => {
    const secret = Buffer.alloc(32, 9);
    const serial = addKey('user', 'client-identity-describe-once', secret, KeySpec.SESSION);
    const describes = jest.spyOn(keyctl, 'describeKeyRaw');
    try {
      expect(findPsk('client-identity-describe-once')).toEqual({ identity: 'client-identity-describe-once', key: secret, serial });
      expect(describes.mock.calls).toEqual([[serial]]);
    } finally {
      describes.mockRestore();
    }
  });

  test('searchKey finds keys recursively and returns undefined for ENOKEY', () => {
    const ring = addKey('keyring', 'hs-sub', null, KeySpec.SESSION);
    const serial = addKey('user', 'deep-key', Buffer.from('x'), ring);
    expect(searchKey(KeySpec.SESSION, 'user', 'deep-key')).toBe(serial);
    expect(searchKey(session, 'user', 'deep-key')).toBe(serial);
    expect(searchKey(KeySpec.SESSION, 'user', 'missing')).toBeUndefined();
    expect(searchKey(KeySpec.SESSION, 'keyring', 'hs-sub')).toBe(ring);
  });

  test('link and unlink a keyring into the session keyring', () => {
    // a keyring reachable only from the thread keyring, not from the session keyring
    const otherName = uniqueName('hs-other');
    const other = addKey('keyring', otherName, null, KeySpec.THREAD);
    const key = addKey('user', 'behind-link', Buffer.from('k'), other);
    expect(searchKey(KeySpec.SESSION, 'user', 'behind-link')).toBeUndefined();
    linkKeyring(other);
    expect(searchKey(KeySpec.SESSION, 'user', 'behind-link')).toBe(key);
    expect(findKeyringByName(otherName)).toBe(other);
    unlinkKeyring(other);
    expect(searchKey(KeySpec.SESSION, 'user', 'behind-link')).toBeUndefined();
    expect(keyErr(() => unlinkKeyring(other)).code).toBe('ENOENT');
    expect(keyErr(() => linkKeyring(0x7ffffff0)).code).toBe('ENOKEY');
  });

  test('findKeyringByName: system keyrings via /proc/keys, missing names undefined', () => {
    const sys = parseProcKeys(fs.readFileSync('/proc/keys', 'utf8')).find(
      (k) => k.type === 'keyring' && k.description.startsWith('.'),
    );
    expect(sys).toBeDefined(); // e.g. .builtin_trusted_keys, .dns_resolver
    expect(findKeyringByName(sys!.description)).toBe(sys!.serial);
    expect(findKeyringByName('.handshaked-no-such-keyring')).toBeUndefined();
  });

  test('/proc/keys and describe parsing', () => {
    const text =
      '078a5950 I------     1 perm 1f030000     0     0 keyring   .dns_resolver: empty\n' +
      '2f9406fc I--Q---     1 perm 0c030000     0 65534 keyring   .user_reg: 2\n' +
      '1234abcd I--Q---     1 perm 3f010000     0     0 user      a: b;c: 5\n';
    expect(parseProcKeys(text)).toEqual([
      { serial: 0x078a5950, type: 'keyring', description: '.dns_resolver' },
      { serial: 0x2f9406fc, type: 'keyring', description: '.user_reg' },
      { serial: 0x1234abcd, type: 'user', description: 'a: b;c' },
    ]);
    expect(parseDescription('psk;0;0;3f010000;NVMe0R01 a;b')).toEqual({
      type: 'psk',
      uid: 0,
      gid: 0,
      perm: 0x3f010000,
      description: 'NVMe0R01 a;b',
    });
  });

  test('ENOKEY for a serial that does not exist', () => {
    const e = keyErr(() => readKey(0x7ffffff0));
    expect(e.code).toBe('ENOKEY');
    expect(e.serial).toBe(0x7ffffff0);
    expect(e.message).toMatch(/does not exist/);
    expect(keyErr(() => describeKey(0x7ffffff0)).code).toBe('ENOKEY');
  });

  test('EKEYREVOKED after revoke', () => {
    const serial = addKey('user', 'to-revoke', Buffer.from('secret'), KeySpec.SESSION);
    revokeKey(serial);
    const e = keyErr(() => readKey(serial));
    expect(e.code).toBe('EKEYREVOKED');
    expect(e.message).toMatch(/revoked/);
    expect(keyErr(() => pskFromKey(serial)).code).toBe('EKEYREVOKED');
  });

  test('EKEYEXPIRED after the timeout passes', async () => {
    const serial = addKey('user', 'to-expire', Buffer.from('secret'), KeySpec.SESSION);
    setKeyTimeout(serial, 1);
    let err: KeyError | undefined;
    for (let i = 0; i < 100 && !err; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        readKey(serial);
      } catch (e) {
        err = e as KeyError;
      }
    }
    expect(err).toBeInstanceOf(KeyError);
    expect(err!.code).toBe('EKEYEXPIRED');
    expect(err!.message).toMatch(/expired/);
  });

  test('EACCES when the key may not be read', () => {
    const serial = addKey('user', 'no-read', Buffer.from('secret'), KeySpec.SESSION);
    // possessor and user: view only (no read, no search)
    setKeyPerm(serial, 0x01010000);
    const e = keyErr(() => readKey(serial));
    expect(e.code).toBe('EACCES');
    expect(e.message).toMatch(/permission denied/);
    expect(describeKey(serial).perm).toBe(0x01010000);
  });

  test('raw errors are SysErrors with errno names', () => {
    expect(() => addKey('no-such-type', 'x', Buffer.from('y'), KeySpec.SESSION)).toThrow(SysError);
    expect(() => addKey('no-such-type', 'x', Buffer.from('y'), KeySpec.SESSION)).toThrow(
      expect.objectContaining({ code: 'ENODEV', syscall: 'add_key' }),
    );
  });

  test('pskEntry / findPskEntry: what the engine gets', () => {
    const k48 = Buffer.alloc(48, 0x33);
    const s48 = addKey('user', 'id-sha384', k48, KeySpec.SESSION);
    expect(pskEntry(s48)).toEqual({ identity: Buffer.from('id-sha384'), key: k48, hash: 'sha384', tag: s48 });
    const k32 = Buffer.alloc(32, 0x44);
    const s32 = addKey('user', 'id-sha256', k32, KeySpec.SESSION);
    expect(findPskEntry(Buffer.from('id-sha256'))).toEqual({ identity: Buffer.from('id-sha256'), key: k32, hash: 'sha256', tag: s32 });
    expect(findPskEntry(Buffer.from([0xff, 0xfe]))).toBeUndefined();
    expect(findPskEntry(Buffer.from('id-sha256\0x'))).toBeUndefined();
    expect(findPskEntry(Buffer.from('id-unknown'))).toBeUndefined();
  });

  test('KeyringLinker counts links across concurrent handshakes', () => {
    const name = uniqueName('hs-linker');
    const ring = addKey('keyring', name, null, KeySpec.THREAD);
    const key = addKey('user', 'linker-key', Buffer.from('v'), ring);
    const visible = (): boolean => searchKey(KeySpec.SESSION, 'user', 'linker-key') === key;
    const linker = new KeyringLinker();
    const errors: Error[] = [];
    const undo1 = linker.acquire([], [name, '.handshaked-missing'], (e) => errors.push(e));
    expect(visible()).toBe(true);
    const undo2 = linker.acquire([ring], [], (e) => errors.push(e));
    undo1();
    undo1(); // idempotent
    expect(visible()).toBe(true); // the second handshake still needs it
    undo2();
    expect(visible()).toBe(false);
    expect(linker.held()).toEqual([]);
    expect(errors).toEqual([]);
  });

  test('KeyringLinker never unlinks a keyring that was linked before', () => {
    const ring = addKey('keyring', 'hs-prelinked', null, KeySpec.SESSION);
    const key = addKey('user', 'prelinked-key', Buffer.from('v'), ring);
    const linker = new KeyringLinker();
    linker.acquire([ring], [])();
    expect(searchKey(KeySpec.SESSION, 'user', 'prelinked-key')).toBe(key);
  });

  test('KeyringLinker reports keyrings it cannot link and links the rest', () => {
    const ring = addKey('keyring', 'hs-linker-2', null, KeySpec.THREAD);
    const key = addKey('user', 'linker-key-2', Buffer.from('v'), ring);
    const errors: Error[] = [];
    const undo = new KeyringLinker().acquire([0x7ffffff0, ring], [], (e) => errors.push(e));
    expect(searchKey(KeySpec.SESSION, 'user', 'linker-key-2')).toBe(key);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'ENOKEY' });
    undo();
    expect(searchKey(KeySpec.SESSION, 'user', 'linker-key-2')).toBeUndefined();
  });

  test('request_key finds a visible key without an upcall; ENOKEY otherwise', () => {
    const serial = addKey('user', 'requested', Buffer.from('r'), KeySpec.SESSION);
    expect(requestKey('user', 'requested')).toBe(serial);
    expect(() => requestKey('user', 'never-added')).toThrow(expect.objectContaining({ code: 'ENOKEY', syscall: 'request_key' }));
  });
});
