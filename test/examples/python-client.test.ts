/**
 * examples/handshake_client.py (standard-library Python, written from docs/unix-transport.md)
 * against `handshaked serve --transport unix --ktls off`: the wire format is usable from outside
 * Node. A real TLS server on the other end proves the handshake happened; a wrong certificate and
 * a malformed request prove the client decodes a failed DONE and an NLMSG_ERROR with its extack.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { DEFAULT_PKI_DIR, Pki, agentConfigText } from '../../src/companion/pki';
import { runCommand, servingAgentForSuite, startServingAgent } from '../helpers/ts-child';

// Each case starts python3 and waits on a handshake: seconds normally, far more on a loaded host.
jest.setTimeout(150000);

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'handshake_client.py');

const run = runCommand;

async function tlsServer(stem: string): Promise<{ port: number; handshakes: () => number; close: () => void }> {
  let n = 0;
  const srv = tls.createServer({
    cert: fs.readFileSync(path.join(DEFAULT_PKI_DIR, `${stem}.chain.pem`)),
    key: fs.readFileSync(path.join(DEFAULT_PKI_DIR, `${stem}.key.pem`)),
    minVersion: 'TLSv1.3',
  });
  srv.on('secureConnection', (s) => {
    n++;
    s.on('error', () => undefined);
  });
  srv.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as { port: number }).port, handshakes: () => n, close: () => srv.close() };
}

describe('examples/handshake_client.py against handshaked serve --transport unix', () => {
  const { socket } = servingAgentForSuite(
    'pyclient',
    async (dir, socket) => {
      // The companion's agent configuration (fixtures/pki), plus this test's uid on the allow list
      // (the default admits only root).
      const conf = path.join(dir, 'agent.conf');
      fs.writeFileSync(conf, `${agentConfigText(new Pki(DEFAULT_PKI_DIR), socket)}allow_uids=${process.getuid!()}\n`);
      return startServingAgent(['-c', conf, '--transport', 'unix', '--ktls', 'off'], 170000);
    },
    180000,
  );

  it('the host python3 has socket.send_fds (3.9+)', async () => {
    const r = await run('python3', ['-c', 'import socket, sys; print(sys.version_info >= (3, 9) and hasattr(socket, "send_fds"))'], 10000);
    expect(r.out.trim()).toBe('True');
  });

  /** The example run against a fresh Node TLS server with `stem`'s certificate; `handshakes` that server completed. */
  async function exampleAgainst(stem: string, args: (port: number) => string[], timeoutMs: number) {
    const srv = await tlsServer(stem);
    try {
      const r = await run('python3', [EXAMPLE, ...args(srv.port)], timeoutMs);
      return { ...r, handshakes: srv.handshakes() };
    } finally {
      srv.close();
    }
  }
  const toLocalhost = (port: number) => ['--agent', socket, '--connect', `127.0.0.1:${port}`, '--peername', 'localhost', '--timeout-ms', '20000'];

  it('status 0 against a Node TLS 1.3 server, which completed its side of the handshake', async () => {
    const r = await exampleAgainst('server-p256', toLocalhost, 120000);
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe('status 0 (OK) remote-auth -');
    expect(r.code).toBe(0);
    expect(r.handshakes).toBe(1);
  });

  it('a failed handshake (certificate for another name) is DONE with status EACCES, exit 1', async () => {
    const r = await exampleAgainst('wrong-name', toLocalhost, 120000);
    expect(r.out.trim()).toBe('status 13 (EACCES) remote-auth -');
    expect(r.code).toBe(1);
  });

  it('a request the agent refuses is an NLMSG_ERROR whose extack message the client prints, exit 2', async () => {
    // psk as a client without a peer-identity: well-formed bytes, refused by the agent's checks
    const r = await exampleAgainst('server-p256', (port) => ['--agent', socket, '--connect', `127.0.0.1:${port}`, '--auth', 'psk'], 120000);
    expect(r.err).toMatch(/^the agent refused the request: EINVAL \(22\): auth-mode psk: .*peer-identity/);
    expect(r.code).toBe(2);
    expect(r.handshakes).toBe(0);
  });

  it('an agent that is not there: exit 3 with the reason', async () => {
    const r = await exampleAgainst('server-p256', (port) => ['--agent', `${socket}-absent`, '--connect', `127.0.0.1:${port}`], 30000);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/cannot connect: .*Connection refused/);
  });
});
