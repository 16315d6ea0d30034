import { createClient, createServer, type CipherSuiteName, type GroupName } from '../../src/tls';
import { GROUP_NAMES } from '../../src/tls/crypto/groups';
import { makePki, pump, testVerifier, type KeyKind } from './helpers';

const hooks = { verifyChain: testVerifier };

describe('in-process handshakes', () => {
  const suites: CipherSuiteName[] = [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'TLS_AES_128_CCM_SHA256',
  ];
  const groups: GroupName[] = ['x25519', 'secp256r1', 'secp384r1'];

  it.each(suites.flatMap((s) => groups.map((g) => [s, g] as const)))('%s with %s', (suite, group) => {
    const pki = makePki('p256');
    const client = createClient(
      { serverName: 'localhost', trust: { anchors: [pki.ca] }, cipherSuites: [suite], groups: [group] },
      hooks,
    );
    const server = createServer({ certificate: { chain: pki.chain, key: pki.key }, clientAuth: 'none' }, hooks);
    const r = pump(client, server);
    expect(r.client.error).toBeUndefined();
    expect(r.server.error).toBeUndefined();
    expect(r.client.status).toBe('done');
    expect(r.server.status).toBe('done');
    const cs = client.secrets();
    const ss = server.secrets();
    expect(cs.suite).toBe(suite);
    expect(cs.tx).toEqual(ss.rx);
    expect(cs.rx).toEqual(ss.tx);
    expect(cs.tx.key.equals(cs.rx.key)).toBe(false);
    expect(client.info()).toMatchObject({ suite, group, helloRetry: false, peerVerified: true, serverName: 'localhost' });
    expect(server.info()).toMatchObject({ suite, group, helloRetry: false, serverName: 'localhost' });
  });

  it.each(GROUP_NAMES.map((g) => [g]))('group %s, and both sides report it', (group) => {
    const pki = makePki('p256');
    const client = createClient({ serverName: 'localhost', trust: { anchors: [pki.ca] }, groups: [group] }, hooks);
    const server = createServer({ certificate: { chain: pki.chain, key: pki.key }, clientAuth: 'none', groups: [...GROUP_NAMES] }, hooks);
    const r = pump(client, server);
    expect(r.client.error).toBeUndefined();
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(client.secrets().tx).toEqual(server.secrets().rx);
    expect(client.info().group).toBe(group);
    expect(server.info()).toMatchObject({ group, helloRetry: false });
  });

  it.each<KeyKind>(['p256', 'p384', 'rsa', 'rsa-pss', 'ed25519'])('server and client key %s', (kind) => {
    const pki = makePki(kind);
    const clientPki = makePki(kind, 'client.example');
    const client = createClient(
      { serverName: 'localhost', trust: { anchors: [pki.ca] }, certificate: { chain: clientPki.chain, key: clientPki.key } },
      hooks,
    );
    const server = createServer(
      { certificate: { chain: pki.chain, key: pki.key }, clientAuth: 'required', trust: { anchors: [clientPki.ca] } },
      hooks,
    );
    const r = pump(client, server);
    expect(r.client.error).toBeUndefined();
    expect(r.server.error).toBeUndefined();
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(client.secrets().tx).toEqual(server.secrets().rx);
    expect(server.info().peerVerified).toBe(true);
    expect(server.info().peerCertificates[0].equals(clientPki.chain[0])).toBe(true);
  });
});
