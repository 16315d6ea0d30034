/**
 * The companion must catch broken agents, not only pass good ones: in-process agents that lie
 * about success, report the wrong status, or refuse nothing.
 */
import { runAgentTest } from '../../src/companion/agent-test';
import { DEFAULT_PKI_DIR } from '../../src/companion/pki';
import { Agent } from '../unix/harness';
import { liveCompanionKeys } from './keys';

const PKI = DEFAULT_PKI_DIR;

async function companion(agent: Agent, filter: string): Promise<{ failures: number; out: string }> {
  const lines: string[] = [];
  const failures = await runAgentTest({ agentSocket: agent.name, pkiDir: PKI, filter, suite: 'TLS_AES_128_GCM_SHA256', write: (l) => lines.push(l) });
  return { failures, out: lines.join('\n') };
}

let agent: Agent;
afterEach(async () => {
  await agent?.stop();
});

test('an agent that reports success without a handshake fails the key check', async () => {
  agent = await Agent.start();
  agent.behaviour = async () => ({ status: 0, remoteAuth: [] });
  const r = await companion(agent, 'client_unauth');
  expect(r.out).toMatch(/^not ok 1 client_unauth_TLS_AES_128_GCM_SHA256$/m);
  expect(r.out).toMatch(/the agent reported success but the peer \(node-tls server\) failed: it never finished its handshake/);
  expect(r.failures).toBe(1);
}, 60000);

test('a wrong status or remote-auth is reported with both values', async () => {
  agent = await Agent.start();
  agent.behaviour = async (req) => (req.role === 'server' ? { status: 0, remoteAuth: [7] } : { status: 5, remoteAuth: [] });
  const r = await companion(agent, 'fail_client_unknown_ca');
  expect(r.out).toMatch(/status EIO \(5\), expected EACCES \(13\)/);
  expect(r.failures).toBe(1);
  const s = await companion(agent, 'server_x509_mtls_TLS');
  expect(s.out).toMatch(/remote-auth \[0x7\], expected 1 to 5 entries of 0xffffffff/);
  expect(s.failures).toBe(1);
}, 60000);

test('PSK: an agent that names the wrong key serial in remote-auth fails, and the request named the keyring and three serials', async () => {
  agent = await Agent.start();
  // A lying agent: "success" with the first serial offered (a decoy the server does not know).
  agent.behaviour = async (req) => ({ status: 0, remoteAuth: req.peerIdentities.slice(0, 1) });
  const r = await companion(agent, 'client_psk_sha256_node_tls');
  expect(r.out).toMatch(/^not ok 1 client_psk_sha256_node_tls$/m);
  expect(r.out).toMatch(/remote-auth \[0x[0-9a-f]+\], expected \[0x[0-9a-f]+\]/);
  expect(r.failures).toBe(1);
  const req = agent.seen[0].req;
  expect(req).toMatchObject({ role: 'client', auth: 'psk', keySerialsAllowed: true });
  expect(req.peerIdentities).toHaveLength(3);
  expect(req.keyring).toBeGreaterThan(0);
  // The keyring and its keys were removed after the run.
  const ring = /^# PSK keys: type "(?:psk|user)" in keyring (handshaked-companion-\d+-[0-9a-f]+) /m.exec(r.out);
  expect(ring).not.toBeNull();
  expect(liveCompanionKeys(ring![1])).toEqual([]);
}, 60000);

test('PSK: an agent that reports EACCES where the server sent unknown_psk_identity fails (EKEYREJECTED expected)', async () => {
  agent = await Agent.start();
  agent.behaviour = async () => ({ status: 13, remoteAuth: [] });
  const r = await companion(agent, 'fail_client_psk_unknown_identity_sha256');
  expect(r.out).toMatch(/status EACCES \(13\), expected EKEYREJECTED \(129\)/);
  expect(r.failures).toBe(1);
}, 60000);
