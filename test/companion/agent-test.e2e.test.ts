/**
 * `handshaked companion agent-test` against `handshaked serve --transport unix --ktls off`, both
 * spawned from the TypeScript sources: the whole unix-transport path (client library, agent
 * transport, daemon, engine, key log) against real TLS peers, judged by the KTAP output.
 */
import path from 'node:path';
import { runHandshaked, servingAgentForSuite, startServingAgent } from '../helpers/ts-child';
import { liveCompanionKeys } from './keys';


const run = runHandshaked;

describe('companion agent-test against handshaked serve --transport unix', () => {
  const { dir, socket } = servingAgentForSuite(
    'e2e',
    async (dir, socket) => {
      const conf = path.join(dir, 'agent.conf');
      const printed = await run(['companion', 'print-agent-config', '--unix-socket', socket, '-o', conf], 60000);
      expect(printed.code).toBe(0);
      return startServingAgent(['-c', conf, '--transport', 'unix', '--ktls', 'off', '--keylog', path.join(dir, 'agent.keylog')], 60000);
    },
    90000,
  );
  const keylog = path.join(dir, 'agent.keylog');
  let runOut = '';

  test('every case passes: KTAP with a plan, no "not ok", exit status 0', async () => {
    const r = await run(['companion', 'agent-test', '--agent-socket', socket, '--agent-keylog', keylog], 240000);
    runOut = r.out;
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('KTAP version 1');
    const plan = /^1\.\.(\d+)$/.exec(lines[1]);
    expect(plan).not.toBeNull();
    const results = lines.filter((l) => /^(not )?ok \d+ /.test(l));
    expect(results).toHaveLength(Number(plan![1]));
    expect(results.length).toBeGreaterThan(40);
    expect(results.filter((l) => l.startsWith('not ok'))).toEqual([]);
    // the key check really ran against the agent's key log
    expect(r.out).toMatch(/# client_unauth_TLS_AES_128_GCM_SHA256: keys agree \(key logs\)/);
    expect(r.out).toMatch(/# server_x509_mtls_TLS_CHACHA20_POLY1305_SHA256: keys agree/);
    // PSK cases run for real (keys in the companion's keyring), both hashes, both roles
    expect(lines.filter((l) => /# SKIP/.test(l))).toEqual([]);
    for (const c of ['client_psk_sha256_node_tls', 'client_psk_sha384_openssl_s_server', 'server_psk_sha256_node_tls', 'server_psk_sha384_openssl_s_client']) {
      expect(r.out).toMatch(new RegExp(`^ok \\d+ ${c}$`, 'm'));
      expect(r.out).toMatch(new RegExp(`^# ${c}: keys agree \\(key logs\\)$`, 'm'));
    }
    expect(r.out).toMatch(/^ok \d+ fail_client_psk_unknown_identity_sha256$/m);
    expect(r.out).toMatch(/^ok \d+ fail_client_psk_unknown_identity_sha384$/m);
    expect(r.code).toBe(0);
  }, 250000);

  test('the PSK keys are gone after the run', () => {
    const ring = /^# PSK keys: type "(?:psk|user)" in keyring (handshaked-companion-\d+-[0-9a-f]+) /m.exec(runOut);
    expect(ring).not.toBeNull();
    expect(liveCompanionKeys(ring![1])).toEqual([]);
  });

  test('a broken agent fails the run: the same companion against an agent that is not there exits non-zero', async () => {
    const r = await run(['companion', 'agent-test', '--agent-socket', `${socket}-absent`, '--filter', 'client_unauth'], 60000);
    expect(r.out).toMatch(/cannot connect to the handshake agent/);
    expect(r.code).toBe(1);
  }, 70000);
});
