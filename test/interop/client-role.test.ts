/**
 * handshaked as the TLS client against real servers: Node's tls (OpenSSL), `openssl s_server`
 * and `gnutls-serv`. Each handshake is followed by the key proof: one application-data record
 * each way under the exported keys, through the tests' own record layer.
 */
import type { ClientConfig } from '../../src/tls/api';
import { expectDone } from '../helpers/driver';
import { ourClientAgainst, PEER_KINDS } from '../helpers/interop';
import { certifiedKey, trust } from '../helpers/pki';
import { stopAllPeers } from '../helpers/process-peer';
import { groupsWithFirst, MATRIX, otherGroup, rowName, SCHEMES_FOR_KEY } from './matrix';

jest.setTimeout(60000);
afterEach(stopAllPeers);

describe.each(PEER_KINDS)('our client vs %s server', (kind) => {
  it.each(MATRIX.map((r) => [rowName(r), r] as const))('%s', async (_name, row) => {
    // The row's group first (no HRR), or another group first so the server must ask again.
    const first = row.hrr ? otherGroup(row.group) : row.group;
    const cfg: ClientConfig = {
      serverName: 'localhost',
      trust: trust(),
      groups: groupsWithFirst(first),
      certificate: row.clientKey ? certifiedKey(row.clientKey) : undefined,
    };
    const peer = { cert: row.serverKey, suites: [row.suite], groups: [row.group], requireClientCert: row.clientKey !== undefined };
    const out = await ourClientAgainst(kind, peer, cfg);
    const done = expectDone(out.result);
    expect(done.secrets.suite).toBe(row.suite);
    expect(done.info.suite).toBe(row.suite);
    expect(done.info.group).toBe(row.group);
    expect(done.info.helloRetry).toBe(row.hrr === true);
    expect(SCHEMES_FOR_KEY[row.serverKey]).toContain(done.info.signatureScheme);
    expect(done.info.peerVerified).toBe(true);
    expect(done.info.peerCertificates.length).toBeGreaterThanOrEqual(2);
    expect(done.info.serverName).toBe('localhost');
    // Key proof: the server read our record (it echoed it, or s_server printed it) and we read its reply.
    expect(out.proof).toBeDefined();
    expect(out.proof?.received).toContain(out.proof?.expected);
    if (kind === 'openssl') expect(out.peerReport).toContain(out.proof?.sent);
    else expect(out.proof?.expected).toBe(out.proof?.sent);
  });

  it('an IP-literal peername (as NFS mounts by address use): no SNI, verified against the IP SAN', async () => {
    const out = await ourClientAgainst(kind, { cert: 'server-p256' }, { serverName: '127.0.0.1', trust: trust() });
    const done = expectDone(out.result);
    expect(done.info.peerVerified).toBe(true);
    expect(done.info.serverName).toBeUndefined();
    expect(out.proof?.received).toContain(out.proof?.expected);
  });

  it('an IP literal the certificate does not list is bad_certificate', async () => {
    const out = await ourClientAgainst(kind, { cert: 'server-p256' }, { serverName: '192.0.2.1', trust: trust() });
    expect(out.result.status).toBe('failed');
    if (out.result.status === 'failed') expect(out.result.error).toMatchObject({ alert: 'bad_certificate', peerAlert: false });
  });
});
