/**
 * The peer launchers themselves, checked against Node's tls (no engine involved): each command-
 * line peer starts, reports its port, carries a line each way, honours its suite/group options,
 * and is gone after stop().
 */
import { uniqueLine } from '../helpers/app-data';
import { startGnutlsClient, startGnutlsServer, startOpensslClient, startOpensslServer } from '../helpers/cli-peers';
import { nodeConnect, NodeTlsServer, readSome } from '../helpers/node-peers';
import { livePeerCount, stopAllPeers } from '../helpers/process-peer';

afterEach(stopAllPeers);

describe('command-line peer launchers (against Node tls)', () => {
  it('openssl s_server: listens on a kernel-chosen port, prints what it receives, sends stdin lines', async () => {
    const { peer, port } = await startOpensslServer({ cert: 'server-p384', suites: ['TLS_AES_256_GCM_SHA384'], groups: ['secp384r1'] });
    expect(port).toBeGreaterThan(0);
    const s = await nodeConnect(port, { groups: ['secp384r1'] });
    try {
      expect(s.getCipher().standardName).toBe('TLS_AES_256_GCM_SHA384');
      const up = uniqueLine('up');
      s.write(`${up}\n`);
      await peer.waitFor(up, 15000, 'stdout');
      const down = uniqueLine('down');
      peer.writeLine(down);
      await readSome(s, (d) => d.toString().includes(down));
    } finally {
      s.destroy();
    }
    await peer.stop();
    expect(peer.hasExited).toBe(true);
  });

  it('gnutls-serv --echo: port found through /proc, echoes, honours the priority string', async () => {
    const { peer, port } = await startGnutlsServer({ cert: 'server-ed25519', suites: ['TLS_CHACHA20_POLY1305_SHA256'] });
    const s = await nodeConnect(port, {});
    try {
      expect(s.getCipher().standardName).toBe('TLS_CHACHA20_POLY1305_SHA256');
      const line = uniqueLine('echo');
      s.write(`${line}\n`);
      await readSome(s, (d) => d.toString().includes(line));
    } finally {
      s.destroy();
    }
    await peer.stop();
    expect(livePeerCount()).toBe(0);
  });

  it.each(['openssl', 'gnutls'] as const)('%s client: verifies the server, sends a client certificate, carries lines', async (kind) => {
    const suites = ['TLS_AES_128_CCM_SHA256' as const];
    const server = await NodeTlsServer.start({ cert: 'server-rsa2048', requireClientCert: true, suites });
    try {
      const opts = { cert: 'client-p256', suites };
      const peer = kind === 'openssl' ? startOpensslClient(server.port, opts) : startGnutlsClient(server.port, opts);
      const s = await server.nextSecure();
      expect(s.getCipher().standardName).toBe('TLS_AES_128_CCM_SHA256');
      expect(s.authorized).toBe(true);
      const line = uniqueLine('client');
      peer.writeLine(line);
      // the server echoes; the client prints the echo on stdout
      await readSome(s, (d) => d.toString().includes(line));
      await peer.waitFor(line, 15000, 'stdout');
      await peer.stop();
    } finally {
      await server.close();
    }
  });

  it('a peer that fails to start reports its output instead of hanging', async () => {
    await expect(startOpensslServer({ requireClientCert: true, caFile: '/nonexistent/ca.pem' })).rejects.toThrow(/s_server exited/);
  });
});
