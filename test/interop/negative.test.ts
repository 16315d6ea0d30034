/**
 * Negative interop: handshakes that must fail do fail, with the right alert on our side, and the
 * alert we send is one the real peer decrypts and names (it travels under the handshake or
 * application keys, so the peer naming it is itself a check of our record protection).
 */
import type { AlertName, ClientConfig, ServerConfig } from '../../src/tls/api';
import { PeerAlertError } from '../helpers/app-data';
import { expectDone, expectTlsFailure } from '../helpers/driver';
import { ourClientAgainst, ourServerAgainst, PEER_KINDS, type PeerKind } from '../helpers/interop';
import { certifiedKey, trust } from '../helpers/pki';
import { stopAllPeers } from '../helpers/process-peer';
import { PeerClosedError } from '../helpers/record-io';

jest.setTimeout(60000);
afterEach(stopAllPeers);

const clientCfg = (over: Partial<ClientConfig> = {}): ClientConfig => ({ serverName: 'localhost', trust: trust(), ...over });
const serverCfg = (over: Partial<ServerConfig> = {}): ServerConfig => ({ certificate: certifiedKey('server-p256'), clientAuth: 'none', ...over });

/** How OpenSSL (Node's tls, s_server, s_client) and GnuTLS report an alert they received from us. */
function peerSaysReceived(kind: PeerKind, alert: AlertName): RegExp {
  const openssl: Partial<Record<AlertName, RegExp>> = {
    bad_certificate: /alert bad certificate/i,
    unknown_ca: /alert unknown ca/i,
    certificate_expired: /alert certificate expired/i,
    protocol_version: /alert protocol version/i,
  };
  // gnutls-cli prints "Received alert [48]: ..."; gnutls-serv only that an alert arrived (a record
  // it could not decrypt would be "Decryption has failed" instead).
  const gnutls: Partial<Record<AlertName, number>> = { bad_certificate: 42, unknown_ca: 48, certificate_expired: 45, protocol_version: 70 };
  const re = kind === 'gnutls' ? new RegExp(`alert \\[${gnutls[alert]}\\]|A TLS fatal alert has been received`) : openssl[alert];
  if (!re) throw new Error(`no pattern for ${alert}`);
  return re;
}

describe.each(PEER_KINDS)('our client vs %s server: failures', (kind) => {
  it.each([
    ['wrong host name', 'server-p256', 'elsewhere.test', 'bad_certificate'],
    ['a certificate only for wrong.test', 'wrong-name', 'localhost', 'bad_certificate'],
    ['a chain to an unknown CA', 'unknown-ca', 'localhost', 'unknown_ca'],
    ['an expired certificate', 'expired', 'localhost', 'certificate_expired'],
  ] as const)('%s (server cert %s, name %s) → we send %s', async (_what, cert, name, alert) => {
    const out = await ourClientAgainst(kind, { cert }, clientCfg({ serverName: name }));
    const err = expectTlsFailure(out.result);
    expect(err.peerAlert).toBe(false);
    expect(err.alert).toBe(alert);
    // The server decrypted our alert (sent under the client handshake keys) and names it.
    expect(out.peerReport).toMatch(peerSaysReceived(kind, alert));
  });

  it('a TLS 1.2-only server → the handshake fails on its alert', async () => {
    const out = await ourClientAgainst(kind, { tls12Only: true }, clientCfg());
    const err = expectTlsFailure(out.result);
    expect(err.peerAlert).toBe(true);
    // OpenSSL refuses a ClientHello that offers only TLS 1.3 with protocol_version; GnuTLS finds
    // no TLS 1.2 suite among the TLS 1.3-only suites we offer and says handshake_failure.
    expect(err.alert).toBe(kind === 'gnutls' ? 'handshake_failure' : 'protocol_version');
  });

  it('a server demanding a client certificate we lack → its certificate_required arrives after the hand-off', async () => {
    // TLS 1.3 clients finish before the server judges their (empty) Certificate, so our side is
    // 'done'; the refusal is the first record under the application keys our rx keys decrypt.
    let alert: PeerAlertError | undefined;
    const out = await ourClientAgainst(kind, { requireClientCert: true }, clientCfg(), {
      afterHandshake: async (ch) => {
        alert = await ch.receive(() => false, 15000).then(
          () => undefined,
          (e: unknown) => (e instanceof PeerAlertError ? e : Promise.reject(e)),
        );
      },
    });
    expectDone(out.result);
    expect(alert?.description).toBe(116); // certificate_required
  });
});

describe.each(PEER_KINDS)('our server vs %s client: failures', (kind) => {
  it.each([
    ['the client expects another host name', 'server-p256', 'elsewhere.test', 'bad_certificate', 'ERR_TLS_CERT_ALTNAME_INVALID'],
    ['our chain leads to an unknown CA', 'unknown-ca', 'localhost', 'unknown_ca', 'SELF_SIGNED_CERT_IN_CHAIN'],
    ['our certificate has expired', 'expired', 'localhost', 'certificate_expired', 'CERT_HAS_EXPIRED'],
  ] as const)('%s (cert %s, client expects %s) → the client refuses', async (_what, cert, name, alert, nodeCode) => {
    const out = await ourServerAgainst(kind, { serverName: name }, serverCfg({ certificate: certifiedKey(cert) }));
    if (kind === 'node') {
      // Node's tls checks the chain and name after OpenSSL's handshake and closes without an alert.
      expect(out.result.status).toBe('failed');
      if (out.result.status === 'failed') expect(out.result.error).toBeInstanceOf(PeerClosedError);
      expect(out.peerReport).toContain(nodeCode);
    } else {
      const err = expectTlsFailure(out.result);
      expect(err.peerAlert).toBe(true);
      // GnuTLS says bad_certificate for every verification failure; OpenSSL is specific.
      expect(err.alert).toBe(kind === 'gnutls' ? 'bad_certificate' : alert);
    }
  });

  it('a TLS 1.2-only client → we send protocol_version', async () => {
    const out = await ourServerAgainst(kind, { tls12Only: true }, serverCfg());
    const err = expectTlsFailure(out.result);
    expect(err.peerAlert).toBe(false);
    expect(err.alert).toBe('protocol_version');
    expect(out.peerReport).toMatch(peerSaysReceived(kind, 'protocol_version'));
  });

  it('a client certificate from an unknown CA → we send unknown_ca', async () => {
    const out = await ourServerAgainst(kind, { cert: 'unknown-ca' }, serverCfg({ clientAuth: 'required', trust: trust() }));
    const err = expectTlsFailure(out.result);
    expect(err.peerAlert).toBe(false);
    expect(err.alert).toBe('unknown_ca');
    // Sent after our Finished, so under the server application keys, which the client reads with.
    if (kind !== 'node') expect(out.peerReport).toMatch(peerSaysReceived(kind, 'unknown_ca'));
  });
});
