/**
 * The agent end to end on the fake kernel: kernel consumer submits a socket, the agent ACCEPTs,
 * handshakes with a real Node TLS peer on loopback, and DONEs with status and remote-auth.
 */
import tls from 'node:tls';
import { Status } from '../../src/agent/request';
import * as libc from '../../src/sys/libc';
import { configText, consumerListener, pki, startAgent, tlsPeerServer, type Agent } from './harness';

jest.setTimeout(60000);

describe('handshaked serve on the fake kernel, Node TLS peers', () => {
  let agent: Agent;
  afterEach(async () => agent?.stop());

  it('client, unauth: verifies the server by peername and leaves the first application record unread', async () => {
    agent = await startAgent();
    const peer = await tlsPeerServer({
      key: pki('server-p256.key.pem'),
      cert: pki('server-p256.chain.pem'),
      // The server speaks first after the handshake: those bytes belong to the kernel consumer.
      onSecure: (s) => s.write('hello consumer'),
    });
    try {
      const c = await peer.consumer();
      const r = await agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername: 'localhost' });
      expect(r).toEqual({ status: Status.OK, remoteAuth: [], cancelled: false });
      await peer.secure();
      await new Promise((res) => setTimeout(res, 100));
      expect(libc.bytesReadable(c.fd)).toBeGreaterThan(0);
      expect(agent.lines.join('\n')).toMatch(/info handshake succeeded transport=kernel netns=self role=client auth=unauth peer=127\.0\.0\.1:\d+ peername=localhost suite=TLS_\w+ group=\w+ signature_scheme=\w+ duration_ms=[\d.]+ status=OK/);
    } finally {
      await peer.close();
    }
  });

  it('client, x509 without peername: verifies the peer IP literal against the IP SAN', async () => {
    agent = await startAgent();
    const peer = await tlsPeerServer({
      key: pki('server-p256.key.pem'),
      cert: pki('server-p256.chain.pem'),
      requestCert: true,
      ca: pki('ca-bundle.pem'),
    });
    try {
      const c = await peer.consumer();
      const r = await agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'x509' });
      expect(r.status).toBe(Status.OK);
      expect((await peer.secure()).getPeerCertificate().subject.CN).toBe('client-p256');
    } finally {
      await peer.close();
    }
  });

  it('client: a server chain from an unknown CA is EACCES, the wrong name too', async () => {
    agent = await startAgent();
    for (const [cert, key, peername] of [
      ['unknown-ca.chain.pem', 'unknown-ca.key.pem', 'localhost'],
      ['server-p256.chain.pem', 'server-p256.key.pem', 'elsewhere.test'],
    ]) {
      const peer = await tlsPeerServer({ key: pki(key), cert: pki(cert) });
      try {
        const c = await peer.consumer();
        const r = await agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'unauth', peername });
        expect(r).toEqual({ status: Status.EACCES, remoteAuth: [], cancelled: false });
      } finally {
        await peer.close();
      }
    }
  });

  it('server, x509: a verified client certificate gives 0xFFFFFFFF remote-auth; no certificate gives none', async () => {
    agent = await startAgent();
    const l = await consumerListener();
    try {
      const withCert = await l.accept((port) =>
        tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost', key: pki('client-p256.key.pem'), cert: pki('client-p256.chain.pem') }),
      );
      const r1 = await agent.kernel.submit({ sock: withCert.fd, messageType: 'serverhello', authMode: 'x509' });
      expect(r1.status).toBe(Status.OK);
      expect(r1.remoteAuth.length).toBeGreaterThan(0);
      expect(r1.remoteAuth.every((id) => id === 0xffffffff)).toBe(true);

      const anon = await l.accept((port) => tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost' }));
      const r2 = await agent.kernel.submit({ sock: anon.fd, messageType: 'serverhello', authMode: 'x509' });
      expect(r2).toEqual({ status: Status.OK, remoteAuth: [], cancelled: false });
    } finally {
      await l.close();
    }
  });

  it('server, x509.client_certificate = require: no client certificate is certificate_required and EACCES', async () => {
    agent = await startAgent({ config: configText('x509.client_certificate=require') });
    const l = await consumerListener();
    try {
      const anon = await l.accept((port) => tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost' }));
      const alert = new Promise<Error>((res) => anon.peer.once('error', res));
      const r = await agent.kernel.submit({ sock: anon.fd, messageType: 'serverhello', authMode: 'x509' });
      expect(r.status).toBe(Status.EACCES);
      expect(String(await alert)).toMatch(/certificate required/i);
      expect(agent.lines.join('\n')).toMatch(/certificate_required/);

      const withCert = await l.accept((port) =>
        tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost', key: pki('client-p256.key.pem'), cert: pki('client-p256.chain.pem') }),
      );
      const ok = await agent.kernel.submit({ sock: withCert.fd, messageType: 'serverhello', authMode: 'x509' });
      expect(ok.status).toBe(Status.OK);
      expect(ok.remoteAuth.length).toBeGreaterThan(0);
    } finally {
      await l.close();
    }
  });

  it('server, x509.client_certificate = none: no CertificateRequest, so a client with a certificate sends none', async () => {
    agent = await startAgent({ config: configText('x509.client_certificate=none') });
    const l = await consumerListener();
    try {
      // With a CertificateRequest this client would send its certificate and remote-auth would be set.
      const withCert = await l.accept((port) =>
        tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost', key: pki('client-p256.key.pem'), cert: pki('client-p256.chain.pem') }),
      );
      const r = await agent.kernel.submit({ sock: withCert.fd, messageType: 'serverhello', authMode: 'x509' });
      expect(r).toEqual({ status: Status.OK, remoteAuth: [], cancelled: false });
    } finally {
      await l.close();
    }
  });

  it('server, x509: an untrusted client certificate is EACCES', async () => {
    agent = await startAgent();
    const l = await consumerListener();
    try {
      const p = await l.accept((port) =>
        tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost', key: pki('unknown-ca.key.pem'), cert: pki('unknown-ca.chain.pem') }),
      );
      const r = await agent.kernel.submit({ sock: p.fd, messageType: 'serverhello', authMode: 'x509' });
      expect(r.status).toBe(Status.EACCES);
    } finally {
      await l.close();
    }
  });

  it('server without a configured certificate: access_denied to the client, EACCES to the kernel', async () => {
    agent = await startAgent({ config: configText().replace(/\[authenticate\.server\][\s\S]*$/, '') });
    const l = await consumerListener();
    try {
      const p = await l.accept((port) => tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost' }));
      const alert = new Promise<Error>((res) => p.peer.once('error', res));
      const r = await agent.kernel.submit({ sock: p.fd, messageType: 'serverhello', authMode: 'x509' });
      expect(r.status).toBe(Status.EACCES);
      expect(String(await alert)).toMatch(/access denied/i);
    } finally {
      await l.close();
    }
  });

  it('a non-TCP socket is EOPNOTSUPP', async () => {
    agent = await startAgent();
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
