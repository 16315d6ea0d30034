import { createPrivateKey } from 'node:crypto';
import { createClient, createServer } from '../../src/tls';
import { pump } from '../tls/helpers';
import { chainOf, NOW, pkiFile, rootBundle } from './pki';

// The engine hands TrustConfig to verifyChain unchanged: `strict` in the trust is what x509.strict sets.
describe('the strict profile in a handshake', () => {
  const server = () =>
    createServer({ certificate: { chain: chainOf('no-eku'), key: createPrivateKey(pkiFile('no-eku.key.pem')) }, clientAuth: 'none', now: () => NOW });

  test('a server leaf without EKU completes by default', () => {
    const client = createClient({ serverName: 'localhost', trust: rootBundle(), now: () => NOW });
    const r = pump(client, server());
    expect(r.client.error).toBeUndefined();
    expect(r.client.status).toBe('done');
  });

  test('and is refused with bad_certificate when the trust is strict', () => {
    const client = createClient({ serverName: 'localhost', trust: { ...rootBundle(), strict: true }, now: () => NOW });
    const r = pump(client, server());
    expect(r.client.status).toBe('failed');
    expect(r.client.error?.alert).toBe('bad_certificate');
    expect(r.client.error?.message).toMatch(/no extendedKeyUsage \(x509\.strict\)/);
  });
});
