/** External PSKs (RFC 8446 §4.2.11): offering, selection, binders, modes, and the alerts. */
import { randomBytes } from 'node:crypto';
import { MAX_PSK_IDENTITIES_LOOKED_UP, createClient, createServer, type ClientConfig, type PskEntry, type ServerConfig } from '../../src/tls';
import { certifiedKey, trust } from '../helpers/pki';
import { pump, type Tamper } from './helpers';
import { ExtensionType, HandshakeType } from '../../src/tls/wire/codes';
import { decodeClientHello, encodeClientHello } from '../../src/tls/wire/handshake';
import { encodeOfferedPsks, offeredPsks } from '../../src/tls/wire/extensions';

const psk = (id: string, hash: 'sha256' | 'sha384' = 'sha256', tag?: number): PskEntry => ({
  identity: Buffer.from(id),
  key: randomBytes(hash === 'sha256' ? 32 : 48),
  hash,
  tag,
});

function lookupFrom(entries: PskEntry[]): (id: Buffer) => PskEntry | undefined {
  return (id) => entries.find((e) => e.identity.equals(id));
}

function run(c: Partial<ClientConfig>, s: Partial<ServerConfig>) {
  const client = createClient({ serverName: 'storage.test', ...c });
  const server = createServer({ clientAuth: 'none', ...s });
  const r = pump(client, server);
  return { ...r, cc: client, sc: server };
}

describe('external PSK', () => {
  it('psk_dhe_ke by default: no certificates, both sides agree on the PSK and the keys', () => {
    const a = psk('host-a', 'sha256', 7);
    const r = run({ psks: [a] }, { pskLookup: lookupFrom([a]) });
    expect(r.client.error).toBeUndefined();
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.cc.info()).toMatchObject({ psk: a, group: 'X25519MLKEM768', peerCertificates: [], peerVerified: false });
    expect(r.sc.info().psk?.tag).toBe(7);
    expect(r.cc.secrets().tx).toEqual(r.sc.secrets().rx);
    expect(r.cc.secrets().rx).toEqual(r.sc.secrets().tx);
  });

  it('offers every identity in one ClientHello; the server picks the one it knows', () => {
    const a = psk('unknown-to-server');
    const b = psk('known');
    const r = run({ psks: [a, b] }, { pskLookup: lookupFrom([b]) });
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.cc.info().psk).toBe(b);
    // One ClientHello carried both identities.
    expect(r.clientSent.filter((x) => x[0] === 22)).toHaveLength(1);
  });

  it('an unknown identity is unknown_psk_identity (reported to the client as the peer alert)', () => {
    const r = run({ psks: [psk('nobody')] }, { pskLookup: () => undefined });
    expect(r.server.error?.alert).toBe('unknown_psk_identity');
    expect(r.client.error).toMatchObject({ alert: 'unknown_psk_identity', peerAlert: true });
  });

  it('only the first 16 identities offered are looked up: a key known only as the 17th is unknown_psk_identity', () => {
    const offered = Array.from({ length: 20 }, (_, i) => psk(`host-${i}`));
    const asked: string[] = [];
    const lookup = (known: PskEntry[]) => (id: Buffer) => {
      asked.push(id.toString());
      return lookupFrom(known)(id);
    };
    const r = run({ psks: offered }, { pskLookup: lookup([offered[16]]) });
    expect(r.server.error?.alert).toBe('unknown_psk_identity');
    expect(asked).toEqual(offered.slice(0, MAX_PSK_IDENTITIES_LOOKED_UP).map((e) => e.identity.toString()));
    // The 16th is still found.
    asked.length = 0;
    const ok = run({ psks: offered }, { pskLookup: lookup([offered[15]]) });
    expect([ok.client.status, ok.server.status]).toEqual(['done', 'done']);
    expect(ok.sc.info().psk?.identity.toString()).toBe('host-15');
  });

  it('the same identity with a different key fails the binder check: decrypt_error', () => {
    const mine = psk('shared');
    const theirs = { ...mine, key: randomBytes(32) };
    const r = run({ psks: [mine] }, { pskLookup: lookupFrom([theirs]) });
    expect(r.server.error?.alert).toBe('decrypt_error');
    expect(r.server.error?.message).toMatch(/binder/);
  });

  it('psk_ke when both sides allow only it: no key exchange', () => {
    const a = psk('ke-only');
    const r = run({ psks: [a], pskModes: ['psk_ke'] }, { pskLookup: lookupFrom([a]), pskModes: ['psk_ke'] });
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.cc.info().group).toBeUndefined();
    expect(r.cc.secrets().tx).toEqual(r.sc.secrets().rx);
  });

  it('no PSK mode in common and no certificate: handshake_failure', () => {
    const a = psk('modes');
    const r = run({ psks: [a], pskModes: ['psk_dhe_ke'] }, { pskLookup: lookupFrom([a]), pskModes: ['psk_ke'] });
    expect(r.server.error?.alert).toBe('handshake_failure');
  });

  it('a SHA-384 PSK selects a SHA-384 cipher suite', () => {
    const a = psk('big', 'sha384');
    const r = run({ psks: [a] }, { pskLookup: lookupFrom([a]) });
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.cc.secrets().suite).toBe('TLS_AES_256_GCM_SHA384');
  });

  it('survives a HelloRetryRequest (binders recomputed over the rewritten transcript)', () => {
    const a = psk('retry');
    const r = run({ psks: [a], groups: ['x25519', 'secp384r1'] }, { pskLookup: lookupFrom([a]), groups: ['secp384r1'] });
    expect(r.client.error).toBeUndefined();
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.cc.info()).toMatchObject({ helloRetry: true, group: 'secp384r1', psk: a });
  });

  it('a second ClientHello that adds a PSK identity after a HelloRetryRequest is illegal_parameter (it may only drop them)', () => {
    const a = psk('retry');
    let hellos = 0;
    const tamper: Tamper = (from, record) => {
      if (from !== 'client' || record[0] !== 22 || record[5] !== HandshakeType.client_hello || ++hellos !== 2) return record;
      const ch = decodeClientHello(record.subarray(9));
      const offered = offeredPsks(ch.extensions.get(ExtensionType.pre_shared_key)!);
      const added = encodeOfferedPsks([offered.identities[0].identity, Buffer.from('added')], [offered.binders[0], offered.binders[0]]);
      const extensions = ch.extensions.list.map((e) => (e.type === ExtensionType.pre_shared_key ? { type: e.type, body: added } : e));
      const msg = encodeClientHello({ random: ch.random, sessionId: ch.sessionId, cipherSuites: ch.cipherSuites, extensions }).raw;
      return Buffer.concat([Buffer.from([22, 3, 3, msg.length >> 8, msg.length & 0xff]), msg]);
    };
    const client = createClient({ serverName: 'storage.test', psks: [a], groups: ['x25519', 'secp384r1'] });
    const server = createServer({ clientAuth: 'none', pskLookup: lookupFrom([a]), groups: ['secp384r1'] });
    const r = pump(client, server, tamper);
    expect(hellos).toBe(2);
    expect(r.server.error?.alert).toBe('illegal_parameter');
    expect(r.server.error?.message).toMatch(/PSK identity the first did not/);
  });

  it('a server with a certificate falls back to it when no PSK is known', () => {
    const r = run(
      { psks: [psk('stranger')], serverName: 'localhost', trust: trust() },
      { pskLookup: () => undefined, certificate: certifiedKey('server-p256') },
    );
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.cc.info()).toMatchObject({ psk: undefined, peerVerified: true, signatureScheme: 'ecdsa_secp256r1_sha256' });
  });

  it('a PSK-only client whose PSK the server ignores stops with handshake_failure', () => {
    const r = run({ psks: [psk('ignored')] }, { certificate: certifiedKey('server-p256') });
    expect(r.client.error?.alert).toBe('handshake_failure');
  });
});
