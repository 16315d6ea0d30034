/**
 * External TLS 1.3 PSKs (what NVMe/TCP uses) against OpenSSL's and GnuTLS's command-line tools
 * and Node's tls: psk_dhe_ke with SHA-256 PSKs in both roles, then the key proof.
 */
import crypto from 'node:crypto';
import type { PskEntry } from '../../src/tls/api';
import { expectDone, expectTlsFailure } from '../helpers/driver';
import { ourClientAgainst, ourServerAgainst, PEER_KINDS } from '../helpers/interop';
import { stopAllPeers } from '../helpers/process-peer';

jest.setTimeout(60000);
afterEach(stopAllPeers);
const identity = 'nvme-host-1';
const key = crypto.randomBytes(32);
const entry: PskEntry = { identity: Buffer.from(identity), key, hash: 'sha256', tag: 42 };

describe.each(PEER_KINDS)('external PSK with %s', (kind) => {
  it('our client offers a PSK; the server accepts it (no certificate involved)', async () => {
    const out = await ourClientAgainst(kind, { psk: { identity, key }, suites: ['TLS_AES_128_GCM_SHA256'] }, { psks: [entry] });
    const done = expectDone(out.result);
    expect(done.info.psk?.identity.toString()).toBe(identity);
    expect(done.info.psk?.tag).toBe(42);
    expect(done.info.peerCertificates).toHaveLength(0);
    expect(done.info.group).toBeDefined(); // psk_dhe_ke: still an ephemeral key exchange
    expect(out.proof?.received).toContain(out.proof?.expected);
  });

  it('our server looks the identity up and accepts the client', async () => {
    const out = await ourServerAgainst(
      kind,
      { psk: { identity, key }, suites: ['TLS_AES_128_GCM_SHA256'] },
      { clientAuth: 'none', pskLookup: (id) => (id.toString() === identity ? entry : undefined) },
    );
    const done = expectDone(out.result);
    expect(done.info.psk?.identity.toString()).toBe(identity);
    expect(done.info.psk?.tag).toBe(42);
    expect(out.proof?.received).toContain(out.proof?.expected);
  });
});

describe.each(PEER_KINDS)('external PSK failures with %s', (kind) => {
  it('a client identity our server does not know → we send unknown_psk_identity, the client names it', async () => {
    const out = await ourServerAgainst(kind, { psk: { identity: 'stranger', key } }, { clientAuth: 'none', pskLookup: () => undefined });
    const err = expectTlsFailure(out.result);
    expect(err).toMatchObject({ alert: 'unknown_psk_identity', peerAlert: false });
    expect(out.peerReport).toMatch(kind === 'gnutls' ? /alert \[115\]/ : /alert unknown psk identity/i);
  });

  it('a PSK with the right identity but the wrong key is refused', async () => {
    const wrong: PskEntry = { ...entry, key: crypto.randomBytes(32) };
    const out = await ourClientAgainst(kind, { psk: { identity, key } }, { psks: [wrong] });
    const err = expectTlsFailure(out.result);
    // All three check the binder and reject the ClientHello. (Node's server used to pick its
    // preferred SHA-384 suite, skip the SHA-256 PSK and send a certificate; a PSK-only client now
    // offers only suites of its PSKs' hash, so the PSK is always considered and its binder checked.)
    expect(err).toMatchObject({ alert: 'illegal_parameter', peerAlert: true });
  });

  it('a server that does not know our identity never answers unknown_psk_identity', async () => {
    // Worth knowing for the EKEYREJECTED status: OpenSSL and Node fall back to certificates,
    // GnuTLS rejects the binder it cannot check as illegal_parameter.
    const out = await ourClientAgainst(kind, { psk: { identity: 'server-knows-this', key } }, { psks: [entry] });
    const err = expectTlsFailure(out.result);
    expect(err.alert).not.toBe('unknown_psk_identity');
    expect(err).toMatchObject(kind === 'gnutls' ? { alert: 'illegal_parameter', peerAlert: true } : { alert: 'handshake_failure', peerAlert: false });
  });
});
