import { execFileSync } from 'node:child_process';
import { TlsError, type GroupName } from '../../src/tls/api';
import { ffdhePrime, groupByCode, groupByName, hybridGroup, KEY_EXCHANGE_GROUPS, type KeyExchangeGroup } from '../../src/tls/crypto/groups';

function group(name: GroupName): KeyExchangeGroup {
  const g = groupByName(name);
  if (!g) throw new Error(`no ${name}`);
  return g;
}

function alertOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof TlsError) return e.alert;
    throw e;
  }
  return 'no error';
}

describe('key-exchange group registry', () => {
  it('has the RFC 8446 / RFC 7919 code points, each once', () => {
    const codes = Object.fromEntries(KEY_EXCHANGE_GROUPS.map((g) => [g.name, g.code]));
    expect(codes).toEqual({
      x25519: 0x1d, secp256r1: 0x17, secp384r1: 0x18, secp521r1: 0x19, x448: 0x1e,
      ffdhe2048: 0x100, ffdhe3072: 0x101, ffdhe4096: 0x102, ffdhe6144: 0x103, ffdhe8192: 0x104,
    });
    for (const g of KEY_EXCHANGE_GROUPS) expect(groupByCode(g.code)).toBe(g);
    expect(groupByCode(0x11ec)).toBeUndefined();
  });

  it.each([2048, 3072, 4096, 6144, 8192])('ffdhe%i prime equals OpenSSL\'s built-in copy', (bits) => {
    const params = execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', `group:ffdhe${bits}`]);
    const asn1 = execFileSync('openssl', ['asn1parse'], { input: params }).toString();
    const hex = /INTEGER\s+:([0-9A-F]+)/.exec(asn1)?.[1];
    expect(ffdhePrime(bits).toString('hex').toUpperCase()).toBe(hex);
  });

  it.each(KEY_EXCHANGE_GROUPS.map((g) => [g.name, g] as const))('%s: client and server derive the same secret', (_n, g) => {
    const client = g.generate();
    expect(client.publicKey.length).toBe(g.clientShareLen);
    const answer = g.respond(client.publicKey);
    expect(answer.publicKey.length).toBe(g.serverShareLen);
    expect(client.agree(answer.publicKey).equals(answer.secret)).toBe(true);
  });

  it.each(KEY_EXCHANGE_GROUPS.map((g) => [g.name, g] as const))('%s: a share one byte short or long is illegal_parameter', (_n, g) => {
    const share = g.generate().publicKey;
    expect(alertOf(() => g.respond(share.subarray(1)))).toBe('illegal_parameter');
    expect(alertOf(() => g.respond(Buffer.concat([share, Buffer.alloc(1)])))).toBe('illegal_parameter');
  });

  it.each(['x25519', 'x448'] as const)('%s: the all-zero (low-order) share is illegal_parameter', (name) => {
    const g = group(name);
    expect(alertOf(() => g.respond(Buffer.alloc(g.clientShareLen)))).toBe('illegal_parameter');
    // u = 1 is also of low order: the shared secret would be all zero.
    const one = Buffer.alloc(g.clientShareLen);
    one[0] = 1;
    expect(alertOf(() => g.respond(one))).toBe('illegal_parameter');
  });

  it.each(['secp256r1', 'secp384r1', 'secp521r1'] as const)('%s: compressed and off-curve points are illegal_parameter', (name) => {
    const g = group(name);
    const good = g.generate().publicKey;
    const compressed = Buffer.concat([Buffer.from([2 + (good[good.length - 1] & 1)]), good.subarray(1, 1 + (good.length - 1) / 2)]);
    expect(alertOf(() => g.respond(compressed))).toBe('illegal_parameter');
    const wrongForm = Buffer.from(good);
    wrongForm[0] = 3;
    expect(alertOf(() => g.respond(wrongForm))).toBe('illegal_parameter');
    const offCurve = Buffer.from(good);
    offCurve[offCurve.length - 1] ^= 1;
    expect(alertOf(() => g.respond(offCurve))).toBe('illegal_parameter');
  });

  describe('ffdhe2048', () => {
    const g = group('ffdhe2048');
    const p = ffdhePrime(2048);
    const big = (n: bigint) => Buffer.from(n.toString(16).padStart(512, '0'), 'hex');
    const P = BigInt(`0x${p.toString('hex')}`);

    it.each([
      ['0', 0n],
      ['1', 1n],
      ['p-1', P - 1n],
      ['p', P],
      ['p+1', P + 1n],
    ])('peer value %s is outside 1 < Y < p-1: illegal_parameter', (_label, y) => {
      expect(alertOf(() => g.respond(big(y)))).toBe('illegal_parameter');
    });

    it('accepts Y = 2 and Y = p-2, the ends of the range', () => {
      expect(g.respond(big(2n)).secret.length).toBe(256);
      expect(g.respond(big(P - 2n)).secret.length).toBe(256);
    });

    it('left-pads our public value and the shared secret to the size of p', () => {
      // Private key 1: our public value is g = 2 and the secret equals the peer's value.
      const ours = g.generate(Buffer.from([1]));
      expect(ours.publicKey).toEqual(big(2n));
      expect(ours.agree(big(5n))).toEqual(big(5n));
    });
  });

  describe('hybridGroup', () => {
    const h = hybridGroup('x25519', 0xfe00, group('x25519'), group('secp256r1'));

    it('concatenates shares and secrets in order, and the two roles agree', () => {
      expect(h.clientShareLen).toBe(32 + 65);
      const client = h.generate();
      const answer = h.respond(client.publicKey);
      expect(answer.publicKey.length).toBe(32 + 65);
      expect(answer.secret.length).toBe(32 + 32);
      expect(client.agree(answer.publicKey).equals(answer.secret)).toBe(true);
    });

    it('refuses a share of the wrong total length, and a bad part', () => {
      const share = h.generate().publicKey;
      expect(alertOf(() => h.respond(share.subarray(1)))).toBe('illegal_parameter');
      const badPart = Buffer.from(share);
      badPart.fill(0, 0, 32);
      expect(alertOf(() => h.respond(badPart))).toBe('illegal_parameter');
    });
  });
});
