/**
 * The companion must catch broken agents, not only pass good ones: in-process agents that lie
 * about success, report the wrong status, or refuse nothing.
 */
import path from 'node:path';
import { runAgentTest } from '../../src/companion/agent-test';
import { Agent } from '../unix/harness';

const PKI = path.resolve(__dirname, '..', '..', 'fixtures', 'pki');

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
