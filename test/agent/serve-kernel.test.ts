/**
 * The agent end to end on the fake kernel: kernel consumer submits a socket, the agent ACCEPTs,
 * handshakes with a real Node TLS peer on loopback, and DONEs with status and remote-auth.
 */
import { Status } from '../../src/agent/request';
import * as libc from '../../src/sys/libc';
import { agentPerTest, closing, configText, consumerListener, identity, pki, serveOne, tlsClient, tlsPeerServer } from './harness';

jest.setTimeout(60000);

describe('handshaked serve on the fake kernel, Node TLS peers', () => {
  const start = agentPerTest();

  it('client, unauth: verifies the server by peername and leaves the first application record unread', async () => {
    const agent = await start();
    const peer = await tlsPeerServer({
      ...identity('server-p256'),
      // The server speaks first after the handshake: those bytes belong to the kernel consumer.
      onSecure: (s) => s.write('hello consumer'),
    });
    await closing(peer, async () => {
      const c = await peer.consumer();
      const r = await agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' });
      expect(r).toEqual({ status: Status.OK, remoteAuth: [], cancelled: false });
      await peer.secure();
      await new Promise((res) => setTimeout(res, 100));
      expect(libc.bytesReadable(c.fd)).toBeGreaterThan(0);
      expect(agent.lines.join('\n')).toMatch(/info handshake succeeded transport=kernel netns=self role=client auth=unauth peer=127\.0\.0\.1:\d+ peername=localhost suite=TLS_\w+ group=\w+ signature_scheme=\w+ duration_ms=[\d.]+ status=OK/);
    });
  });

  it('client, x509 without peername: verifies the peer IP literal against the IP SAN', async () => {
    const agent = await start();
    const peer = await tlsPeerServer({ ...identity('server-p256'), requestCert: true, ca: pki('ca-bundle.pem') });
    await closing(peer, async () => {
      const c = await peer.consumer();
      const r = await agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'x509' });
      expect(r.status).toBe(Status.OK);
      expect((await peer.secure()).getPeerCertificate().subject.CN).toBe('client-p256');
    });
  });

  it.each([
    ['a server chain from an unknown CA', 'unknown-ca', 'localhost'],
    ['the wrong name', 'server-p256', 'elsewhere.test'],
  ])('client: %s is EACCES', async (_what, server, peername) => {
    const agent = await start();
    const peer = await tlsPeerServer(identity(server));
    await closing(peer, async () => {
      const c = await peer.consumer();
      const r = await agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername });
      expect(r).toEqual({ status: Status.EACCES, remoteAuth: [], cancelled: false });
    });
  });

  it('server, x509: a verified client certificate gives 0xFFFFFFFF remote-auth; no certificate gives none', async () => {
    const agent = await start();
    await closing(await consumerListener(), async (l) => {
      const { result: r1 } = await serveOne(agent, l, tlsClient(identity('client-p256')));
      expect(r1.status).toBe(Status.OK);
      expect(r1.remoteAuth.length).toBeGreaterThan(0);
      expect(r1.remoteAuth.every((id) => id === 0xffffffff)).toBe(true);

      const { result: r2 } = await serveOne(agent, l);
      expect(r2).toEqual({ status: Status.OK, remoteAuth: [], cancelled: false });
    });
  });

  it('server, x509.client_certificate = require: no client certificate is certificate_required and EACCES', async () => {
    const agent = await start({ config: configText('x509.client_certificate=require') });
    await closing(await consumerListener(), async (l) => {
      const anon = await serveOne(agent, l);
      expect(anon.result.status).toBe(Status.EACCES);
      expect(String(await anon.peerError)).toMatch(/certificate required/i);
      expect(agent.lines.join('\n')).toMatch(/certificate_required/);

      const { result: ok } = await serveOne(agent, l, tlsClient(identity('client-p256')));
      expect(ok.status).toBe(Status.OK);
      expect(ok.remoteAuth.length).toBeGreaterThan(0);
    });
  });

  it('server, x509.client_certificate = none: no CertificateRequest, so a client with a certificate sends none', async () => {
    const agent = await start({ config: configText('x509.client_certificate=none') });
    await closing(await consumerListener(), async (l) => {
      // With a CertificateRequest this client would send its certificate and remote-auth would be set.
      const { result } = await serveOne(agent, l, tlsClient(identity('client-p256')));
      expect(result).toEqual({ status: Status.OK, remoteAuth: [], cancelled: false });
    });
  });

  it('server, x509: an untrusted client certificate is EACCES', async () => {
    const agent = await start();
    await closing(await consumerListener(), async (l) => {
      const { result } = await serveOne(agent, l, tlsClient(identity('unknown-ca')));
      expect(result.status).toBe(Status.EACCES);
    });
  });

  it('server without a configured certificate: access_denied to the client, EACCES to the kernel', async () => {
    const agent = await start({ config: configText().replace(/\[authenticate\.server\][\s\S]*$/, '') });
    await closing(await consumerListener(), async (l) => {
      const { result, peerError } = await serveOne(agent, l);
      expect(result.status).toBe(Status.EACCES);
      expect(String(await peerError)).toMatch(/access denied/i);
    });
  });

  it('a non-TCP socket is EOPNOTSUPP', async () => {
    const agent = await start();
    const [a, b] = libc.socketpair(libc.AF_UNIX, libc.SOCK_STREAM | libc.SOCK_CLOEXEC);
    try {
      const r = await agent.kernel.submit({ sock: a, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' });
      expect(r.status).toBe(Status.EOPNOTSUPP);
    } finally {
      libc.close(a);
      libc.close(b);
    }
  });
});
