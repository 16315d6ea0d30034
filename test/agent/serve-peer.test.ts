/**
 * Certificates and access chosen per peer, end to end: the agent on the fake kernel against real
 * peers (OpenSSL s_client, gnutls-cli, Node's tls). SNI picks the server certificate; the peer
 * name picks the client certificate; x509.allowed_peers and psk.allowed_identities refuse a
 * verified peer outside them with access_denied and EACCES; a reload changes each of them.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Status } from '../../src/agent/request';
import { startOpensslClient } from '../helpers/cli-peers';
import { stopAllPeers, type ProcessPeer } from '../helpers/process-peer';
import { configText, consumerListener, fdOf, PKI, pki, startAgent, tlsPeerServer, type Agent } from './harness';

jest.setTimeout(60000);

const pair = (section: string, name: string, extra: string[] = []) => [
  `[${section}]`,
  ...extra,
  `x509.certificate=${PKI}/${name}.chain.pem`,
  `x509.private_key=${PKI}/${name}.key.pem`,
];

/** server-p256 (localhost, server.test) by default; names (*.wild.test, exact.test) and wrong-name (wrong.test) by SNI. */
const SNI_CONFIG = [
  configText(),
  ...pair('authenticate.server.certificate.names', 'names'),
  ...pair('authenticate.server.certificate.wrong', 'wrong-name'),
].join('\n');

/** The kernel consumer's side of one connection made by a command-line client, accepted paused. */
async function cliAccept(start: (port: number) => ProcessPeer) {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got = new Promise<net.Socket>((r) => server.once('connection', r));
  const peer = start((server.address() as net.AddressInfo).port);
  const socket = await got;
  return {
    peer,
    fd: fdOf(socket),
    close: async () => {
      socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const subjectCN = (s: tls.TLSSocket) => s.getPeerCertificate().subject.CN;

describe('per-peer certificates and access, agent on the fake kernel', () => {
  let agent: Agent;
  afterEach(async () => {
    await stopAllPeers();
    await agent?.stop();
  });

  it('server: openssl s_client gets the certificate its SNI names, verifying it by that name', async () => {
    agent = await startAgent({ config: SNI_CONFIG });
    for (const [sni, cn] of [
      ['wrong.test', 'wrong.test'],
      ['a.wild.test', 'names.test'],
      ['server.test', 'localhost'],
    ]) {
      const c = await cliAccept((port) => startOpensslClient(port, { serverName: sni }));
      try {
        const r = await agent.kernel.submit({ sock: c.fd, messageType: 'serverhello', authMode: 'x509' });
        expect(r.status).toBe(Status.OK);
        // The client verified the chain and the name it asked for; it shows the subject it got.
        await c.peer.waitFor(new RegExp(`CN ?= ?${cn.replace('.', '\\.')}`));
      } finally {
        await c.close();
      }
    }
    expect(agent.lines.join('\n')).toMatch(/server certificate chosen sni=a\.wild\.test section=\[authenticate\.server\.certificate\.names\]/);
  });

  it('server: Node clients get the SNI certificate; an unknown name and no SNI get the default', async () => {
    agent = await startAgent({ config: SNI_CONFIG });
    const l = await consumerListener();
    try {
      for (const [servername, cn] of [
        ['exact.test', 'names.test'],
        ['unknown.test', 'localhost'],
        [undefined, 'localhost'],
      ] as const) {
        // The default certificate does not name unknown.test: the name check is not what is tested here.
        const p = await l.accept((port) =>
          tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), ...(servername ? { servername } : {}), checkServerIdentity: () => undefined }),
        );
        const secured = new Promise<tls.TLSSocket>((res) => p.peer.once('secureConnect', () => res(p.peer)));
        const r = await agent.kernel.submit({ sock: p.fd, messageType: 'serverhello', authMode: 'x509' });
        expect(r.status).toBe(Status.OK);
        expect(subjectCN(await secured)).toBe(cn);
      }
    } finally {
      await l.close();
    }
  });

  it('client: presents the certificate configured for the server it connects to, the default elsewhere', async () => {
    agent = await startAgent({ config: [configText(), ...pair('authenticate.client.certificate.org', 'client-rsa2048', ['peers = server.test; *.org.test'])].join('\n') });
    const peer = await tlsPeerServer({ key: pki('server-p256.key.pem'), cert: pki('server-p256.chain.pem'), requestCert: true, ca: pki('ca-bundle.pem') });
    try {
      for (const [n, peername, cn] of [
        [1, 'server.test', 'client-rsa2048'],
        [2, 'localhost', 'client-p256'],
      ] as const) {
        const c = await peer.consumer();
        const r = await agent.kernel.submit({ sock: c.fd, messageType: 'clienthello', authMode: 'x509', peername });
        expect(r.status).toBe(Status.OK);
        expect(subjectCN(await peer.secure(n))).toBe(cn);
      }
    } finally {
      await peer.close();
    }
  });

  /** One client handshake through the agent as server: the kernel's result and what the client saw. */
  async function serveOne(l: Awaited<ReturnType<typeof consumerListener>>, client: string) {
    const p = await l.accept((port) =>
      tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername: 'localhost', key: pki(`${client}.key.pem`), cert: pki(`${client}.chain.pem`) }),
    );
    const failed = new Promise<string>((res) => {
      p.peer.once('error', (e) => res(String(e)));
      // TLS 1.3: the client finishes before the server has judged its certificate; the alert follows.
      p.peer.once('secureConnect', () => p.peer.once('close', () => res('closed')));
    });
    const r = await agent.kernel.submit({ sock: p.fd, messageType: 'serverhello', authMode: 'x509' });
    if (r.status !== Status.OK) return { r, seen: await failed };
    return { r, seen: 'ok' };
  }

  it.each([
    ['cn:client-p256', 'client-p256', 'client-rsa2048'],
    ['dns:client.test', 'client-p256', 'no-eku'],
    ['ip:127.0.0.1', 'no-eku', 'client-p256'],
    ['*.nowhere.test; localhost', 'no-eku', 'client-rsa2048'],
  ])('x509.allowed_peers = %s admits %s and refuses %s with access_denied and EACCES', async (rule, inside, outside) => {
    agent = await startAgent({ config: configText(`x509.allowed_peers = ${rule}`) });
    const l = await consumerListener();
    try {
      const ok = await serveOne(l, inside);
      expect(ok.r.status).toBe(Status.OK);
      expect(ok.r.remoteAuth.length).toBeGreaterThan(0);
      const no = await serveOne(l, outside);
      expect(no.r).toEqual({ status: Status.EACCES, remoteAuth: [], cancelled: false });
      expect(no.seen).toMatch(/access denied/i);
      // The handshake's info line carries the reason: the rule, where it is set, the certificate's names.
      const line = agent.lines.find((x) => x.includes('access denied by') && x.includes('status=EACCES'));
      expect(line).toMatch(/^warn handshake failed transport=kernel role=server auth=x509 .* alert=access_denied$/);
      expect(line).toContain(`[authenticate.server] x509.allowed_peers (${agent.configPath}:`);
    } finally {
      await l.close();
    }
  });

  it('psk.allowed_identities admits a listed identity and refuses another with access_denied and EACCES; a reload widens it', async () => {
    const keys = new Map<string, Buffer>([
      ['host-a', crypto.randomBytes(32)],
      ['host-b', crypto.randomBytes(32)],
    ]);
    const serial = (id: string) => (id === 'host-a' ? 101 : 102);
    agent = await startAgent({
      config: configText('psk.allowed_identities = host-a*'),
      env: {
        keys: {
          linkKeyrings: () => () => undefined,
          read: () => Buffer.alloc(0),
          psk: () => {
            throw new Error('not used by a server');
          },
          findPsk: (identity) => {
            const key = keys.get(identity.toString());
            return key ? { identity, key, hash: 'sha256', tag: serial(identity.toString()) } : undefined;
          },
        },
      },
    });
    const l = await consumerListener();
    const run = async (identity: string) => {
      const p = await l.accept((port) =>
        tls.connect({ port, host: '127.0.0.1', ciphers: 'TLS_AES_128_GCM_SHA256', pskCallback: () => ({ identity, psk: keys.get(identity) as Buffer }), checkServerIdentity: () => undefined }),
      );
      const seen = new Promise<string>((res) => {
        p.peer.once('error', (e) => res(String(e)));
        p.peer.once('secureConnect', () => p.peer.once('close', () => res('closed')));
      });
      const r = await agent.kernel.submit({ sock: p.fd, messageType: 'serverhello', authMode: 'psk' });
      return { r, seen: r.status === Status.OK ? 'ok' : await seen };
    };
    try {
      expect((await run('host-a')).r).toEqual({ status: Status.OK, remoteAuth: [101], cancelled: false });
      const no = await run('host-b');
      expect(no.r).toEqual({ status: Status.EACCES, remoteAuth: [], cancelled: false });
      expect(no.seen).toMatch(/access denied/i);
      const line = agent.lines.find((x) => x.includes('access denied by')) ?? '';
      expect(line).toMatch(/psk\.allowed_identities \(.*:\d+\): the client's PSK identity of key 102 matches none/);
      expect(line).not.toContain('host-b');

      fs.writeFileSync(agent.configPath, configText('psk.allowed_identities = host-a; host-b'));
      expect(agent.daemon.reload()).toBe(true);
      expect((await run('host-b')).r.status).toBe(Status.OK);
    } finally {
      await l.close();
    }
  });

  it('reload and rotation: allow lists and SNI pairs follow the file and the certificate files on disk', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-peer-'));
    const certFile = `${dir}/named.chain.pem`;
    const keyFile = `${dir}/named.key.pem`;
    fs.copyFileSync(`${PKI}/wrong-name.chain.pem`, certFile);
    fs.copyFileSync(`${PKI}/wrong-name.key.pem`, keyFile);
    fs.chmodSync(keyFile, 0o600);
    const named = ['[authenticate.server.certificate.named]', `x509.certificate=${certFile}`, `x509.private_key=${keyFile}`];
    agent = await startAgent({ config: [configText('x509.allowed_peers = cn:client-rsa2048'), ...named].join('\n') });
    const l = await consumerListener();
    const sniCN = async (servername: string) => {
      const p = await l.accept((port) => tls.connect({ port, host: '127.0.0.1', ca: pki('ca-bundle.pem'), servername, checkServerIdentity: () => undefined }));
      const secured = new Promise<tls.TLSSocket>((res) => p.peer.once('secureConnect', () => res(p.peer)));
      expect((await agent.kernel.submit({ sock: p.fd, messageType: 'serverhello', authMode: 'x509' })).status).toBe(Status.OK);
      return subjectCN(await secured);
    };
    try {
      expect((await serveOne(l, 'client-p256')).r.status).toBe(Status.EACCES);
      expect(await sniCN('wrong.test')).toBe('wrong.test');
      // Rotation: the named pair's files replaced in place (no SIGHUP) now hold the names certificate.
      fs.copyFileSync(`${PKI}/names.chain.pem`, `${certFile}.new`);
      fs.copyFileSync(`${PKI}/names.key.pem`, `${keyFile}.new`);
      fs.renameSync(`${keyFile}.new`, keyFile);
      fs.renameSync(`${certFile}.new`, certFile);
      expect(await sniCN('exact.test')).toBe('names.test');
      expect(await sniCN('wrong.test')).toBe('localhost');
      // Reload: the allow list goes, and so does the named section.
      fs.writeFileSync(agent.configPath, configText());
      expect(agent.daemon.reload()).toBe(true);
      expect((await serveOne(l, 'client-p256')).r.status).toBe(Status.OK);
      expect(await sniCN('exact.test')).toBe('localhost');
    } finally {
      await l.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
