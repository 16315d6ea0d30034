/**
 * handshaked as the TLS server against real clients: Node's tls (OpenSSL), `openssl s_client`
 * and `gnutls-cli`, each verifying our chain and host name. Each handshake is followed by the key
 * proof: one application-data record each way under the exported keys, through the tests' own
 * record layer.
 */
import type { ServerConfig } from '../../src/tls/api';
import { expectDone } from '../helpers/driver';
import { ourServerAgainst, PEER_KINDS } from '../helpers/interop';
import { certifiedKey, trust } from '../helpers/pki';
import { stopAllPeers } from '../helpers/process-peer';
import { groupsWithFirst, MATRIX, otherGroup, rowName, SCHEMES_FOR_KEY } from './matrix';

jest.setTimeout(60000);
afterEach(stopAllPeers);

describe.each(PEER_KINDS)('our server vs %s client', (kind) => {
  it.each(MATRIX.map((r) => [rowName(r), r] as const))('%s', async (_name, row) => {
    // HRR rows: the client's first share is for another group and our server accepts only the
    // row's group, so it must send a HelloRetryRequest.
    const cfg: ServerConfig = {
      certificate: certifiedKey(row.serverKey),
      clientAuth: row.clientKey ? 'required' : 'none',
      trust: row.clientKey ? trust() : undefined,
      groups: row.hrr ? [row.group] : groupsWithFirst(row.group),
    };
    const peerGroups = row.hrr ? [otherGroup(row.group), row.group] : [row.group];
    const out = await ourServerAgainst(kind, { suites: [row.suite], groups: peerGroups, cert: row.clientKey }, cfg);
    const done = expectDone(out.result);
    expect(done.secrets.suite).toBe(row.suite);
    expect(done.info.group).toBe(row.group);
    expect(done.info.helloRetry).toBe(row.hrr === true);
    expect(SCHEMES_FOR_KEY[row.serverKey]).toContain(done.info.signatureScheme);
    expect(done.info.serverName).toBe('localhost');
    if (row.clientKey) {
      expect(done.info.peerVerified).toBe(true);
      expect(done.info.peerCertificates.length).toBeGreaterThanOrEqual(1);
    } else {
      expect(done.info.peerCertificates).toHaveLength(0);
    }
    // Key proof: the client printed (or read) our record, and we decrypted the line it sent.
    expect(out.proof).toBeDefined();
    expect(out.proof?.received).toContain(out.proof?.expected);
  });
});
