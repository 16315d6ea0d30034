/**
 * Cipher suites by PSK hash: a PSK-only client offers only suites some offered PSK can
 * authenticate (never ChaCha20 for a SHA-384-only offer, tlshd's PSK-SHA384 mistake), and the
 * server picks a suite of the selected PSK's hash whatever its own preference order says.
 */
import { randomBytes } from 'node:crypto';
import { createClient, createServer, type CipherSuiteName, type ClientConfig, type PskEntry, type ServerConfig } from '../../src/tls';
import { suitesForPsks } from '../../src/tls/psk';
import { SUITE_BY_CODE } from '../../src/tls/wire/codes';
import { decodeClientHello } from '../../src/tls/wire/handshake';
import { trust } from '../helpers/pki';
import { pump } from '../tls/helpers';

const psk = (id: string, hash: 'sha256' | 'sha384'): PskEntry => ({ identity: Buffer.from(id), key: randomBytes(hash === 'sha256' ? 32 : 48), hash });
const lookupFrom = (entries: PskEntry[]) => (id: Buffer) => entries.find((e) => e.identity.equals(id));

/** The cipher suites the client's first ClientHello offers, by name. */
function offeredSuites(cfg: ClientConfig): CipherSuiteName[] {
  const step = createClient(cfg).start();
  expect(step.status).toBe('continue');
  const record = step.send;
  expect(record[0]).toBe(22);
  const msg = record.subarray(5);
  expect(msg[0]).toBe(1); // client_hello
  return decodeClientHello(msg.subarray(4)).cipherSuites.map((c) => SUITE_BY_CODE.get(c) as CipherSuiteName);
}

function run(c: Partial<ClientConfig>, s: Partial<ServerConfig>) {
  const client = createClient({ serverName: 'storage.test', ...c });
  const server = createServer({ clientAuth: 'none', ...s });
  return { ...pump(client, server), cc: client, sc: server };
}

describe('client: suites offered follow the hashes of the offered PSKs', () => {
  it('SHA-256 PSKs only: AES-128-GCM, ChaCha20-Poly1305, AES-128-CCM — no SHA-384 suite', () => {
    expect(offeredSuites({ psks: [psk('a', 'sha256'), psk('b', 'sha256')] })).toEqual([
      'TLS_AES_128_GCM_SHA256',
      'TLS_CHACHA20_POLY1305_SHA256',
      'TLS_AES_128_CCM_SHA256',
    ]);
  });

  it('SHA-384 PSKs only: AES-256-GCM alone — never ChaCha20', () => {
    const offered = offeredSuites({ psks: [psk('big', 'sha384')] });
    expect(offered).toEqual(['TLS_AES_256_GCM_SHA384']);
    expect(offered).not.toContain('TLS_CHACHA20_POLY1305_SHA256');
  });

  it('both hashes: every suite, in the configured preference order', () => {
    const cipherSuites: CipherSuiteName[] = ['TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256'];
    expect(offeredSuites({ psks: [psk('a', 'sha384'), psk('b', 'sha256')], cipherSuites })).toEqual(cipherSuites);
  });

  it('a configured suite list without the PSK hash is refused at once, naming the hash', () => {
    expect(() => createClient({ psks: [psk('big', 'sha384')], cipherSuites: ['TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256'] })).toThrow(
      /no configured cipher suite uses the hash of any offered PSK \(sha384\)/,
    );
  });

  it('with trust anchors too (certificate fallback) every configured suite stays on offer', () => {
    expect(offeredSuites({ psks: [psk('big', 'sha384')], trust: trust() })).toHaveLength(4);
  });

  it('suitesForPsks keeps order and filters by hash', () => {
    const suites = [{ n: 1, hash: 'sha384' as const }, { n: 2, hash: 'sha256' as const }, { n: 3, hash: 'sha384' as const }];
    expect(suitesForPsks(suites, [{ hash: 'sha384' }]).map((s) => s.n)).toEqual([1, 3]);
    expect(suitesForPsks(suites, [{ hash: 'sha256' }, { hash: 'sha384' }]).map((s) => s.n)).toEqual([1, 2, 3]);
  });
});

describe('handshakes: the suite matches the PSK actually used', () => {
  it('SHA-384 PSK: TLS_AES_256_GCM_SHA384 even when the server prefers ChaCha20', () => {
    const big = psk('big', 'sha384');
    const r = run({ psks: [big] }, { pskLookup: lookupFrom([big]), cipherSuites: ['TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_256_GCM_SHA384'] });
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.cc.info()).toMatchObject({ suite: 'TLS_AES_256_GCM_SHA384', psk: big });
    expect(r.sc.info().suite).toBe('TLS_AES_256_GCM_SHA384');
  });

  it('a client that offers every suite (tlshd-like) with a SHA-384 PSK still gets AES-256-GCM from our server', () => {
    const big = psk('big', 'sha384');
    // trust makes our client keep all four suites on offer, like a client that does not filter.
    const r = run(
      { psks: [big], trust: trust(), cipherSuites: ['TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384'] },
      { pskLookup: lookupFrom([big]), cipherSuites: ['TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384'] },
    );
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.sc.info().suite).toBe('TLS_AES_256_GCM_SHA384');
  });

  it('mixed offer, server knows only the SHA-256 one: a SHA-256 suite, even though the server prefers AES-256', () => {
    const big = psk('unknown-big', 'sha384');
    const small = psk('known-small', 'sha256');
    const r = run({ psks: [big, small] }, { pskLookup: lookupFrom([small]), cipherSuites: ['TLS_AES_256_GCM_SHA384', 'TLS_AES_128_CCM_SHA256', 'TLS_AES_128_GCM_SHA256'] });
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.cc.info()).toMatchObject({ suite: 'TLS_AES_128_CCM_SHA256', psk: small });
  });

  it('mixed offer, server knows both: the first identity it knows decides the hash', () => {
    const big = psk('big', 'sha384');
    const small = psk('small', 'sha256');
    const r = run({ psks: [big, small] }, { pskLookup: lookupFrom([small, big]) });
    expect(r.cc.info()).toMatchObject({ suite: 'TLS_AES_256_GCM_SHA384', psk: big });
  });

  it('server with no suite of the PSK hash: handshake_failure naming the hash problem', () => {
    const big = psk('big', 'sha384');
    const r = run({ psks: [big] }, { pskLookup: lookupFrom([big]), cipherSuites: ['TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256'] });
    expect(r.server.error).toMatchObject({ alert: 'handshake_failure' });
    expect(r.server.error?.message).toMatch(/no cipher suite fits the hash of the client PSK/);
    expect(r.client.error).toMatchObject({ alert: 'handshake_failure', peerAlert: true });
  });
});
