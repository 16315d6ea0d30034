/**
 * The NVMe/TCP PSK interop matrix: SHA-256 and SHA-384 external PSKs, psk_dhe_ke and psk_ke,
 * several identities in one ClientHello with the right one not first, both roles, against
 * OpenSSL (s_server/s_client) and GnuTLS (gnutls-serv/gnutls-cli) — each success proven by one
 * application-data record each way under the exported keys.
 *
 * GnuTLS 3.7 (Debian 12) binds every external PSK to SHA-256 (a SHA-384 binder needs
 * gnutls_psk_allocate_*_credentials2, GnuTLS 3.8.1+); the SHA-384 rows for GnuTLS pin down what
 * it does instead, so a change there shows up here.
 */
import crypto from 'node:crypto';
import type { PskEntry, ServerConfig } from '../../src/tls/api';
import { expectDone, expectTlsFailure } from '../helpers/driver';
import { stopAllPeers } from '../helpers/process-peer';
import { removePskFiles, type CliKind, type PeerModes, type PskSpec } from '../psk/peers';
import { clientAgainst, serverAgainst, type PskOutcome } from '../psk/scenario';

jest.setTimeout(60000);
afterEach(async () => {
  await stopAllPeers();
  removePskFiles();
});

const HOST = 'nqn.2014-08.org.nvmexpress:uuid:0f7c3f4e-55c1-4b8e-a7c3-1c2d3e4f5a6b';
const SUB = 'nqn.2024-01.io.handshaked:matrix';
type Hash = 'sha256' | 'sha384';

function make(identity: string, hash: Hash, tag: number): { spec: PskSpec; entry: PskEntry } {
  const key = crypto.randomBytes(hash === 'sha256' ? 32 : 48);
  return { spec: { identity, key }, entry: { identity: Buffer.from(identity), key, hash, tag } };
}

const nvmeId = (hash: Hash, n: number) => `NVMe0R0${hash === 'sha256' ? 1 : 2} ${HOST} ${SUB}-${n}`;
const OURS: Record<'dhe' | 'ke', Array<'psk_dhe_ke' | 'psk_ke'>> = { dhe: ['psk_dhe_ke'], ke: ['psk_ke'] };
/** What the peer must allow for our mode: OpenSSL cannot refuse psk_dhe_ke, so psk_ke rows run it with both. */
const peerModes = (kind: CliKind, mode: 'dhe' | 'ke'): PeerModes => (mode === 'dhe' ? 'dhe' : kind === 'openssl' ? 'both' : 'ke');

function expectProof(out: PskOutcome): void {
  expect(out.proof?.received).toContain(out.proof?.expected);
}

const ROWS: Array<[CliKind, Hash, 'dhe' | 'ke']> = [];
for (const kind of ['openssl', 'gnutls'] as const) for (const hash of ['sha256', 'sha384'] as const) for (const mode of ['dhe', 'ke'] as const) ROWS.push([kind, hash, mode]);
const works = (kind: CliKind, hash: Hash) => !(kind === 'gnutls' && hash === 'sha384');

describe.each(ROWS.filter(([k, h]) => works(k, h)))('%s, %s PSK, psk_%s', (kind, hash, mode) => {
  /** A handshake that used the PSK tagged `tag`, a suite of the row's hash, a group only with psk_dhe_ke, and keys that work. */
  function expectPskDone(out: PskOutcome, tag: number): void {
    const done = expectDone(out.result);
    expect(done.info.psk?.tag).toBe(tag);
    expect(done.info.suite).toMatch(hash === 'sha256' ? /_SHA256$/ : /^TLS_AES_256_GCM_SHA384$/);
    if (mode === 'dhe') expect(done.info.group).toBeDefined();
    else expect(done.info.group).toBeUndefined();
    expectProof(out);
  }

  it(`our client offers three identities (the right one ${kind === 'openssl' ? 'last' : 'first'}); the server uses it`, async () => {
    const other: Hash = hash === 'sha256' ? 'sha384' : 'sha256';
    const decoyA = make(nvmeId(hash, 1), hash, 1);
    const decoyB = make(nvmeId(other, 2), other, 2);
    const right = make(nvmeId(hash, 3), hash, 3);
    // OpenSSL walks the identities until one is its own; GnuTLS looks at the first one only (see below).
    const psks = kind === 'openssl' ? [decoyA.entry, decoyB.entry, right.entry] : [right.entry, decoyA.entry, decoyB.entry];
    const out = await clientAgainst(kind, { psks: [right.spec], modes: peerModes(kind, mode) }, { psks, pskModes: OURS[mode] });
    expectPskDone(out, 3);
  });

  it('our server knows several identities and finds the one the client sends', async () => {
    const other = make(nvmeId(hash, 7), hash, 7);
    const right = make(nvmeId(hash, 8), hash, 8);
    const cfg: ServerConfig = {
      clientAuth: 'none',
      pskModes: OURS[mode],
      pskLookup: (id) => [other.entry, right.entry].find((e) => e.identity.equals(id)),
    };
    const out = await serverAgainst(kind, { psks: [right.spec], modes: peerModes(kind, mode) }, cfg);
    expectPskDone(out, 8);
  });
});

describe('GnuTLS 3.7 limits, pinned', () => {
  it('gnutls-serv judges only the first identity: the right one second fails its binder check', async () => {
    // For an identity it does not know GnuTLS makes up a random key (so clients cannot probe for
    // user names), "finds" the first identity that way and rejects our binder for it.
    const decoy = make(nvmeId('sha256', 1), 'sha256', 1);
    const right = make(nvmeId('sha256', 2), 'sha256', 2);
    const out = await clientAgainst('gnutls', { psks: [right.spec] }, { psks: [decoy.entry, right.entry] });
    expect(expectTlsFailure(out.result)).toMatchObject({ alert: 'illegal_parameter', peerAlert: true });
  });

  it('our client with a SHA-384 PSK: gnutls-serv checks the binder with SHA-256 and rejects it', async () => {
    const right = make(nvmeId('sha384', 1), 'sha384', 1);
    const out = await clientAgainst('gnutls', { psks: [right.spec] }, { psks: [right.entry] });
    expect(expectTlsFailure(out.result)).toMatchObject({ alert: 'illegal_parameter', peerAlert: true });
  });

  it('gnutls-cli with a 48-byte key sends a SHA-256 binder; our server, using SHA-384, refuses it', async () => {
    const right = make(nvmeId('sha384', 2), 'sha384', 2);
    const out = await serverAgainst('gnutls', { psks: [right.spec] }, { clientAuth: 'none', pskLookup: (id) => (right.entry.identity.equals(id) ? right.entry : undefined) });
    const err = expectTlsFailure(out.result);
    expect(err).toMatchObject({ alert: 'decrypt_error', peerAlert: false });
    expect(err.message).toMatch(/binder does not verify/);
  });
});

describe.each(['openssl', 'gnutls'] as const)('our server and unknown identities, %s client', (kind) => {
  it('an identity we do not know: we send unknown_psk_identity and the client reports it', async () => {
    const stranger = make(nvmeId('sha256', 9), 'sha256', 9);
    const out = await serverAgainst(kind, { psks: [stranger.spec] }, { clientAuth: 'none', pskLookup: () => undefined });
    expect(expectTlsFailure(out.result)).toMatchObject({ alert: 'unknown_psk_identity', peerAlert: false });
    expect(out.peerReport).toMatch(kind === 'gnutls' ? /alert \[115\]|unknown psk identity/i : /alert unknown psk identity/i);
  });
});
