import { CIPHER_LAYOUTS, KtlsError, buildCryptoInfo, installKtls, ktlsAvailable } from '../../src/agent/ktls';
import { AF_UNIX, SOCK_STREAM, close, socketpair } from '../../src/sys/libc';
import type { CipherSuiteName, ExtractedSecrets, TrafficKeys } from '../../src/tls/api';
import { socketFd } from '../../src/sys/socket-fd';
import { tcpPair } from '../helpers/loopback';
import { openFds } from '../helpers/fds';
import { thrownBy } from '../helpers/thrown';

const seqBytes = (seq: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(seq);
  return b;
};
const fill = (n: number, start: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));

describe('buildCryptoInfo', () => {
  // Offsets from docs/kernel-interface.md, "kTLS" (iv / key / salt / rec_seq).
  const table: Array<[CipherSuiteName, number, number, [number, number, number, number], number, number]> = [
    // suite, type, size, offsets, keyLen, ivLen in struct
    ['TLS_AES_128_GCM_SHA256', 51, 40, [4, 12, 28, 32], 16, 8],
    ['TLS_AES_256_GCM_SHA384', 52, 56, [4, 12, 44, 48], 32, 8],
    ['TLS_AES_128_CCM_SHA256', 53, 40, [4, 12, 28, 32], 16, 8],
    ['TLS_CHACHA20_POLY1305_SHA256', 54, 56, [4, 16, 48, 48], 32, 12],
  ];

  test.each(table)('%s: type %d, %d bytes, fields at their kernel offsets', (suite, type, size, offs, keyLen, ivLen) => {
    const keys: TrafficKeys = { key: fill(keyLen, 0x10), iv: fill(12, 0xa0), seq: 0x0102030405060708n };
    const info = buildCryptoInfo(suite, keys);
    expect(info.length).toBe(size);
    expect(info.readUInt16LE(0)).toBe(0x0304);
    expect(info.readUInt16LE(2)).toBe(type);
    const [ivOff, keyOff, saltOff, seqOff] = offs;
    const saltLen = 12 - ivLen;
    expect(info.subarray(ivOff, ivOff + ivLen)).toEqual(keys.iv.subarray(saltLen));
    expect(info.subarray(keyOff, keyOff + keyLen)).toEqual(keys.key);
    expect(info.subarray(saltOff, saltOff + saltLen)).toEqual(keys.iv.subarray(0, saltLen));
    expect(info.subarray(seqOff, seqOff + 8)).toEqual(seqBytes(keys.seq));
    expect(seqOff + 8).toBe(size);
    expect(CIPHER_LAYOUTS[suite]).toMatchObject({ type, size, keyLen });
  });

  test('AES-128-GCM golden bytes', () => {
    const info = buildCryptoInfo('TLS_AES_128_GCM_SHA256', {
      key: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
      iv: Buffer.from('a0a1a2a3a4a5a6a7a8a9aaab', 'hex'),
      seq: 1n,
    });
    expect(info.toString('hex')).toBe(
      '0403' + '3300' + 'a4a5a6a7a8a9aaab' + '000102030405060708090a0b0c0d0e0f' + 'a0a1a2a3' + '0000000000000001',
    );
  });

  test('ChaCha20 golden bytes: full IV, no salt', () => {
    const info = buildCryptoInfo('TLS_CHACHA20_POLY1305_SHA256', {
      key: Buffer.alloc(32, 0x11),
      iv: Buffer.from('000102030405060708090a0b', 'hex'),
      seq: 0xfffffffffffffffen,
    });
    expect(info.toString('hex')).toBe('0403' + '3600' + '000102030405060708090a0b' + '11'.repeat(32) + 'fffffffffffffffe');
  });

  test('rejects wrong key / iv lengths and out-of-range sequence numbers', () => {
    const ok = { key: Buffer.alloc(16), iv: Buffer.alloc(12), seq: 0n };
    expect(() => buildCryptoInfo('TLS_AES_256_GCM_SHA384', ok)).toThrow(/32-byte key, got 16/);
    expect(() => buildCryptoInfo('TLS_AES_128_GCM_SHA256', { ...ok, iv: Buffer.alloc(8) })).toThrow(/12-byte IV/);
    expect(() => buildCryptoInfo('TLS_AES_128_GCM_SHA256', { ...ok, seq: 1n << 64n })).toThrow(KtlsError);
    expect(() => buildCryptoInfo('TLS_AES_128_GCM_SHA256', { ...ok, seq: -1n })).toThrow(/64 bits/);
    expect(() => buildCryptoInfo('TLS_NULL' as CipherSuiteName, ok)).toThrow(/no kernel TLS/);
  });
});

describe('installKtls on this kernel (no CONFIG_TLS)', () => {
  const secrets: ExtractedSecrets = {
    suite: 'TLS_AES_128_GCM_SHA256',
    tx: { key: Buffer.alloc(16, 1), iv: Buffer.alloc(12, 2), seq: 0n },
    rx: { key: Buffer.alloc(16, 3), iv: Buffer.alloc(12, 4), seq: 0n },
  };

  test('fails at TCP_ULP with the "no kTLS" message, and the connection still works', async () => {
    const { client, server: peer, close: closePair } = await tcpPair();
    try {
      const fd = socketFd(client);
      const err = thrownBy(KtlsError, () => installKtls(fd, secrets));
      expect(err).toMatchObject({ code: 'ENOENT', step: 'ulp' });
      expect(err.message).toContain('kernel has no kTLS (CONFIG_TLS / module tls)');
      // nothing was half-installed: plain TCP still flows
      const got = new Promise<Buffer>((r) => peer.once('data', r));
      client.write('still plain');
      expect((await got).toString()).toBe('still plain');
    } finally {
      await closePair();
    }
  });

  test('on a non-TCP socket the kernel error is reported, not thrown raw', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
    try {
      expect(() => installKtls(a, secrets)).toThrow(KtlsError);
    } finally {
      close(a);
      close(b);
    }
  });

  test('ktlsAvailable() says no, with the reason, and leaves no fds behind', () => {
    const before = openFds();
    const probe = ktlsAvailable(true);
    expect(probe.available).toBe(false);
    expect(probe.reason).toContain('kernel has no kTLS (CONFIG_TLS / module tls)');
    expect(ktlsAvailable()).toBe(probe); // cached
    expect(openFds()).toBe(before);
  });
});
