import fc from 'fast-check';
import { verifyChain } from '../../src/tls/x509';
import { chainOf, NOW, rootBundle } from './pki';

describe('verifyChain on hostile input', () => {
  const good = chainOf('server-p256');
  const verify = (chain: Buffer[]) =>
    verifyChain({ chain, trust: rootBundle(), now: NOW, purpose: 'serverAuth', name: 'localhost', maxChainLength: 10 });

  test('property: changing any byte of the leaf or the intermediate never yields success or a throw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (which, at, xor) => {
        const chain = good.map((c) => Buffer.from(c));
        const target = chain[which];
        target[at % target.length] ^= xor;
        const r = verify(chain);
        expect(r.ok).toBe(false);
        if (!r.ok) {
          expect(r.alert).not.toBe('internal_error');
          expect(['bad_certificate', 'unknown_ca', 'certificate_expired', 'unsupported_certificate']).toContain(r.alert);
        }
      }),
      { numRuns: 1500 },
    );
  });

  test('a Buffer reused for different bytes is judged on its new content (no identity caching)', () => {
    const leaf = Buffer.from(good[0]);
    expect(verify([leaf, good[1]]).ok).toBe(true);
    leaf[leaf.length - 10] ^= 0x01;
    expect(verify([leaf, good[1]]).ok).toBe(false);
    leaf[leaf.length - 10] ^= 0x01;
    expect(verify([leaf, good[1]]).ok).toBe(true);
  });

  test('a reloaded trust store (new array) is used, not the cached index of the old one', () => {
    const chain = chainOf('server-p256');
    expect(verifyChain({ chain, trust: rootBundle(), now: NOW, purpose: 'serverAuth', maxChainLength: 10 }).ok).toBe(true);
    expect(verifyChain({ chain, trust: { anchors: chainOf('unknown-ca').slice(1) }, now: NOW, purpose: 'serverAuth', maxChainLength: 10 }).ok).toBe(false);
  });
});
