/**
 * The key schedule's cached labels and constants, and the record layer's nonce, against
 * straightforward reference computations (RFC 5869 / RFC 8446 §7.1, §5.3).
 */
import { createDecipheriv, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { nodeCrypto } from '../../src/tls/crypto/node';
import { EarlyStage, Hkdf } from '../../src/tls/keyschedule';
import { RecordLayer } from '../../src/tls/record/layer';
import { SUITES } from '../../src/tls/crypto/suites';
import type { HandshakeMessage } from '../../src/tls/wire/handshake';

function refExpand(alg: 'sha256' | 'sha384', prk: Buffer, info: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let t = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(out).length < length; i++) {
    t = createHmac(alg, prk).update(Buffer.concat([t, info, Buffer.from([i])])).digest();
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, length);
}

function refExpandLabel(alg: 'sha256' | 'sha384', secret: Buffer, label: string, context: Buffer, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([context.length]), context]);
  return refExpand(alg, secret, info, length);
}

describe('HKDF-Expand-Label with cached labels', () => {
  it('matches the RFC 8446 definition for any secret, label, context and length, repeatedly', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('sha256' as const, 'sha384' as const),
        fc.uint8Array({ minLength: 32, maxLength: 48 }),
        fc.constantFrom('key', 'iv', 'finished', 'derived', 'c hs traffic', 's ap traffic', 'res binder'),
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 100 }),
        (alg, secret, label, context, length) => {
          const hkdf = new Hkdf(nodeCrypto, alg);
          const want = refExpandLabel(alg, Buffer.from(secret), label, Buffer.from(context), length);
          // Twice: the second call takes the cached label.
          expect(hkdf.expandLabel(Buffer.from(secret), label, Buffer.from(context), length)).toEqual(want);
          expect(hkdf.expandLabel(Buffer.from(secret), label, Buffer.from(context), length)).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the PSK-less early secret and salt are the RFC 8448 values, and a PSK is not mistaken for none', () => {
    const hkdf = new Hkdf(nodeCrypto, 'sha256');
    // RFC 8448 §3: early secret without PSK, and the "derived" secret from it.
    expect(new EarlyStage(hkdf).secret.toString('hex')).toBe('33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a');
    expect(hkdf.noPskSecrets().derived.toString('hex')).toBe('6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba');
    const psk = Buffer.alloc(32, 7);
    const withPsk = new EarlyStage(hkdf, psk);
    expect(withPsk.secret).toEqual(createHmac('sha256', Buffer.alloc(32)).update(psk).digest());
    const shared = Buffer.alloc(32, 9);
    const want = createHmac('sha256', refExpandLabel('sha256', withPsk.secret, 'derived', hkdf.emptyHash(), 32)).update(shared).digest();
    expect(withPsk.toHandshake(shared).secret).toEqual(want);
  });
});

describe('record layer nonces', () => {
  it.each([0n, 1n, 0xffff_ffffn, 0x1_0000_0005n, 0x12_3456_789a_bcden])('seals record %s with IV xor the 64-bit sequence number', (seq) => {
    const suite = SUITES.TLS_AES_128_GCM_SHA256;
    const key = Buffer.alloc(16, 0x11);
    const iv = Buffer.from('a1b2c3d4e5f60718293a4b5c', 'hex');
    const layer = new RecordLayer(nodeCrypto, 1 << 16, false);
    layer.setWriteKeys(suite, { key, iv }, seq);
    const body = Buffer.from('handshake bytes');
    const raw = Buffer.concat([Buffer.from([20, 0, 0, body.length]), body]);
    layer.sendHandshake([{ type: 20, body, raw } as HandshakeMessage]);
    const rec = layer.takeOutput();
    expect(layer.writeSeq).toBe(seq + 1n);
    const nonce = Buffer.from(iv);
    const s = Buffer.alloc(8);
    s.writeBigUInt64BE(seq);
    for (let i = 0; i < 8; i++) nonce[4 + i] ^= s[i];
    const d = createDecipheriv('aes-128-gcm', key, nonce);
    d.setAAD(rec.subarray(0, 5));
    d.setAuthTag(rec.subarray(rec.length - 16));
    const plain = Buffer.concat([d.update(rec.subarray(5, rec.length - 16)), d.final()]);
    expect(plain).toEqual(Buffer.concat([raw, Buffer.from([22])]));
  });
});
