/** Hostile and broken peers: every failure gets the right alert, sent the right way. */
import { randomBytes } from 'node:crypto';
import {
  createClient,
  createServer,
  type ClientConfig,
  type Connection,
  type ServerConfig,
  type Step,
} from '../../src/tls';
import type { TestHooks } from '../../src/tls/hooks';
import { encodeServerHello } from '../../src/tls/wire/handshake';
import { certifiedKey, trust } from '../helpers/pki';
import { record } from '../helpers/tls-bytes';
import { RecordProtector } from '../helpers/record-layer';
import { flipBitIn, type Mitm, runThroughMitm } from './mitm';
import { splitRecords, type Tamper } from './helpers';

const SUITE = 'TLS_AES_128_GCM_SHA256' as const;

function clientCfg(extra: Partial<ClientConfig> = {}): ClientConfig {
  return { serverName: 'localhost', trust: trust(), cipherSuites: [SUITE], ...extra };
}

function serverCfg(extra: Partial<ServerConfig> = {}): ServerConfig {
  return { certificate: certifiedKey('server-p256'), clientAuth: 'none', cipherSuites: [SUITE], ...extra };
}

function run(
  c: Partial<ClientConfig> = {},
  s: Partial<ServerConfig> = {},
  tamper?: (m: Mitm) => Tamper,
  hooks: { client?: TestHooks; server?: TestHooks } = {},
) {
  return runThroughMitm(clientCfg(c), serverCfg(s), tamper, hooks);
}


const plainAlert = (code: number) => Buffer.from([21, 3, 3, 0, 2, 2, code]);

function expectFailure(step: Step, alert: string, peerAlert = false): void {
  expect(step.status).toBe('failed');
  expect(step.error?.alert).toBe(alert);
  expect(step.error?.peerAlert).toBe(peerAlert);
}

/** A client that has sent its ClientHello, and that ClientHello. */
function startedClient(cfg: Partial<ClientConfig> = {}, hooks?: TestHooks): { client: Connection; ch: Buffer } {
  const client = createClient(clientCfg(cfg), hooks);
  const ch = client.start().send;
  return { client, ch };
}

/** A ServerHello body for a started client, with the given extensions. */
function serverHello(ch: Buffer, exts: Array<{ type: number; body: Buffer }>, random = randomBytes(32)): Buffer {
  const sessionId = ch.subarray(5 + 4 + 2 + 32 + 1, 5 + 4 + 2 + 32 + 1 + ch[5 + 4 + 2 + 32]);
  return record(22, encodeServerHello({ random, sessionId, cipherSuite: 0x1301, extensions: exts }).raw);
}

const SV13 = { type: 43, body: Buffer.from([3, 4]) };

describe('authentication failures', () => {
  it('a tampered server Finished is decrypt_error, and the alert goes out encrypted', () => {
    const r = run({}, {}, flipBitIn('server', 20, 10));
    expectFailure(r.client, 'decrypt_error');
    expect(r.client.send[0]).toBe(23);
    expect(r.m.peek('client', r.client.send)).toEqual({ type: 21, data: Buffer.from([2, 51]) });
  });

  it('a tampered client Finished is decrypt_error at the server', () => {
    const r = run({}, {}, (m) => (from, rec) => {
      if (from !== 'client' || rec[0] !== 23) return rec;
      return m.rewrite('client', rec, (c) => {
        const out = Buffer.from(c);
        out[out.length - 1] ^= 0x80;
        return { content: out };
      });
    });
    expect(r.client.status).toBe('done');
    expectFailure(r.server, 'decrypt_error');
  });

  it('a bad server CertificateVerify signature is decrypt_error', () => {
    const r = run({}, {}, flipBitIn('server', 15, 20));
    expectFailure(r.client, 'decrypt_error');
    expect(r.client.error?.message).toMatch(/CertificateVerify/);
  });

  it('a bad client CertificateVerify signature is decrypt_error at the server', () => {
    const r = run(
      { certificate: certifiedKey('client-p256') },
      { clientAuth: 'required', trust: trust() },
      flipBitIn('client', 15, 20),
    );
    expectFailure(r.server, 'decrypt_error');
  });

  it('a flipped ciphertext bit is bad_record_mac', () => {
    const r = run({}, {}, () => (from, rec) => {
      if (from !== 'server' || rec[0] !== 23) return rec;
      const out = Buffer.from(rec);
      out[20] ^= 1;
      return out;
    });
    expectFailure(r.client, 'bad_record_mac');
  });

  it('required client certificate, none sent: certificate_required', () => {
    const r = run({}, { clientAuth: 'required', trust: trust() });
    expect(r.client.status).toBe('done');
    expectFailure(r.server, 'certificate_required');
  });

  it('optional client certificate, none sent: done, not verified', () => {
    const r = run({}, { clientAuth: 'optional', trust: trust() });
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.sc.info()).toMatchObject({ peerVerified: false, peerCertificates: [] });
  });

  it.each([
    ['unknown-ca', 'unknown_ca'],
    ['expired', 'certificate_expired'],
    ['wrong-name', 'bad_certificate'],
  ])('server chain %s: %s (real path validation)', (name, alert) => {
    const r = run({}, { certificate: certifiedKey(name) });
    expectFailure(r.client, alert);
  });

  it('no signature scheme fits the server key: handshake_failure', () => {
    const r = run({ signatureSchemes: ['ed25519'] });
    expectFailure(r.server, 'handshake_failure');
    // The client hears about it as the peer's alert.
    expectFailure(r.client, 'handshake_failure', true);
  });
});

describe('version negotiation', () => {
  it('a ClientHello without TLS 1.3 (no supported_versions) is protocol_version', () => {
    const r = run({}, {}, undefined, {
      client: { clientHelloExtensions: (exts) => exts.filter((e) => e.type !== 43) },
    });
    expectFailure(r.server, 'protocol_version');
    expect(r.server.send).toEqual(plainAlert(70));
    expectFailure(r.client, 'protocol_version', true);
  });

  it('a TLS 1.2 ServerHello is protocol_version', () => {
    const { client, ch } = startedClient();
    expectFailure(client.receiveRecord(serverHello(ch, [])), 'protocol_version');
  });

  it('a ServerHello selecting TLS 1.2 through supported_versions is illegal_parameter', () => {
    const { client, ch } = startedClient();
    const step = client.receiveRecord(serverHello(ch, [{ type: 43, body: Buffer.from([3, 3]) }]));
    expectFailure(step, 'illegal_parameter');
  });

  it('the TLS 1.2 downgrade sentinel in a TLS 1.3 ServerHello random is irrelevant', () => {
    const random = Buffer.concat([randomBytes(24), Buffer.from('444f574e47524401', 'hex')]);
    const r = run({}, {}, undefined, { server: { random } });
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
  });
});

describe('extensions and key shares', () => {
  it('a duplicate extension in ClientHello is illegal_parameter', () => {
    const r = run({}, {}, undefined, {
      client: { clientHelloExtensions: (exts) => [...exts, exts[exts.length - 1]] },
    });
    expectFailure(r.server, 'illegal_parameter');
    expect(r.server.error?.message).toMatch(/duplicate/);
  });

  it('a duplicate extension in ServerHello is illegal_parameter', () => {
    const { client, ch } = startedClient();
    expectFailure(client.receiveRecord(serverHello(ch, [SV13, SV13])), 'illegal_parameter');
  });

  it('unknown extensions in ClientHello are ignored', () => {
    const r = run({}, {}, undefined, {
      client: { clientHelloExtensions: (exts) => [{ type: 0x7a7a, body: Buffer.from('hi') }, ...exts] },
    });
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
  });

  it('a ServerHello key share for a group we did not send is illegal_parameter', () => {
    const { client, ch } = startedClient();
    const p256 = { type: 51, body: Buffer.concat([Buffer.from([0, 0x17, 0, 65, 4]), randomBytes(64)]) };
    expectFailure(client.receiveRecord(serverHello(ch, [SV13, p256])), 'illegal_parameter');
  });

  it('an all-zero X25519 share from the server is illegal_parameter', () => {
    const { client, ch } = startedClient();
    const zero = { type: 51, body: Buffer.concat([Buffer.from([0, 0x1d, 0, 32]), Buffer.alloc(32)]) };
    expectFailure(client.receiveRecord(serverHello(ch, [SV13, zero])), 'illegal_parameter');
  });

  it('an all-zero X25519 share from the client is illegal_parameter', () => {
    const r = run({ groups: ['x25519'] }, {}, undefined, {
      client: {
        clientHelloExtensions: (exts) =>
          exts.map((e) => (e.type === 51 ? { type: 51, body: Buffer.from(`0024001d0020${'00'.repeat(32)}`, 'hex') } : e)),
      },
    });
    expectFailure(r.server, 'illegal_parameter');
  });

  it('a P-256 share that is not on the curve is illegal_parameter', () => {
    const bad = Buffer.concat([Buffer.from('00450017004104', 'hex'), Buffer.alloc(64, 1)]);
    const r = run({ groups: ['secp256r1'] }, {}, undefined, {
      client: { clientHelloExtensions: (exts) => exts.map((e) => (e.type === 51 ? { type: 51, body: bad } : e)) },
    });
    expectFailure(r.server, 'illegal_parameter');
  });

  it('a key share for a group not in supported_groups is illegal_parameter', () => {
    const r = run({ groups: ['x25519', 'secp256r1'] }, {}, undefined, {
      client: {
        clientHelloExtensions: (exts) =>
          exts.map((e) => (e.type === 10 ? { type: 10, body: Buffer.from('00020017', 'hex') } : e)),
      },
    });
    expectFailure(r.server, 'illegal_parameter');
  });

  it('no cipher suite in common is handshake_failure', () => {
    const r = run({ cipherSuites: ['TLS_AES_256_GCM_SHA384'] });
    expectFailure(r.server, 'handshake_failure');
  });

  it('SNI: host names are sent, IP literals are not', () => {
    const named = run();
    expect(named.server.status).toBe('done');
    expect(named.sc.info().serverName).toBe('localhost');
    const ip = run({ serverName: '127.0.0.1' });
    expect([ip.client.status, ip.server.status]).toEqual(['done', 'done']);
    expect(ip.sc.info().serverName).toBeUndefined();
    const ip6 = run({ serverName: '::1' });
    expect(ip6.server.status).toBe('done');
    expect(ip6.sc.info().serverName).toBeUndefined();
  });

  it('ALPN: agreed when both configure it, no_application_protocol when disjoint', () => {
    const ok = run({ alpn: ['h2', 'sunrpc'] }, { alpn: ['sunrpc'] });
    expect(ok.cc.info().alpn).toBe('sunrpc');
    expect(ok.sc.info().alpn).toBe('sunrpc');
    const bad = run({ alpn: ['h2'] }, { alpn: ['sunrpc'] });
    expectFailure(bad.server, 'no_application_protocol');
  });
});

describe('HelloRetryRequest', () => {
  it('the server asks for another group; both sides agree on it', () => {
    const r = run({ groups: ['x25519', 'secp384r1'] }, { groups: ['secp384r1'] });
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
    expect(r.cc.info()).toMatchObject({ helloRetry: true, group: 'secp384r1' });
    expect(r.sc.info()).toMatchObject({ helloRetry: true, group: 'secp384r1' });
    expect(r.cc.secrets().tx).toEqual(r.sc.secrets().rx);
    // Exactly one CCS each way (middlebox compatibility).
    expect(r.clientSent.filter((x) => x[0] === 20)).toHaveLength(1);
    expect(r.serverSent.filter((x) => x[0] === 20)).toHaveLength(1);
  });

  it('a second HelloRetryRequest is unexpected_message', () => {
    const client = createClient(clientCfg({ groups: ['x25519', 'secp384r1'] }));
    const server = createServer(serverCfg({ groups: ['secp384r1'] }));
    server.start();
    const hrr = server.receiveRecord(client.start().send).send;
    const hrrRecord = splitRecords(hrr)[0];
    expect(client.receiveRecord(hrrRecord).status).toBe('continue');
    expectFailure(client.receiveRecord(hrrRecord), 'unexpected_message');
  });

  const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

  it('a HelloRetryRequest naming a group we already sent a share for is illegal_parameter', () => {
    const { client, ch } = startedClient();
    const ks = { type: 51, body: Buffer.from([0, 0x1d]) };
    expectFailure(client.receiveRecord(serverHello(ch, [SV13, ks], HRR_RANDOM)), 'illegal_parameter');
  });

  it('a HelloRetryRequest that would change nothing is illegal_parameter', () => {
    const { client, ch } = startedClient();
    expectFailure(client.receiveRecord(serverHello(ch, [SV13], HRR_RANDOM)), 'illegal_parameter');
  });

  it('a second ClientHello without the requested share is illegal_parameter', () => {
    const client = createClient(clientCfg({ groups: ['x25519', 'secp384r1'] }));
    const server = createServer(serverCfg({ groups: ['secp384r1'] }));
    server.start();
    const ch1 = client.start().send;
    expect(server.receiveRecord(ch1).status).toBe('continue');
    // Replay ClientHello1 instead of answering the HRR (as a record with the 0x0303 version).
    const again = Buffer.from(ch1);
    again.writeUInt16BE(0x0303, 1);
    expectFailure(server.receiveRecord(again), 'illegal_parameter');
  });
});

describe('record layer', () => {
  it('truncated records are decode_error', () => {
    const server = createServer(serverCfg());
    server.start();
    expectFailure(server.receiveRecord(Buffer.from([22, 3, 1])), 'decode_error');
    const s2 = createServer(serverCfg());
    s2.start();
    const ch = createClient(clientCfg()).start().send;
    expectFailure(s2.receiveRecord(ch.subarray(0, ch.length - 1)), 'decode_error');
  });

  it('a ClientHello whose inner lengths do not add up is decode_error', () => {
    const ch = Buffer.from(createClient(clientCfg()).start().send);
    // Cut the last 3 bytes and fix the record and handshake lengths: the extensions vector now overruns.
    const cut = ch.subarray(0, ch.length - 3);
    cut.writeUInt16BE(cut.length - 5, 3);
    cut.writeUIntBE(cut.length - 9, 6, 3);
    const server = createServer(serverCfg());
    server.start();
    expectFailure(server.receiveRecord(cut), 'decode_error');
  });

  it('a plaintext record over 2^14 bytes is record_overflow', () => {
    const server = createServer(serverCfg());
    server.start();
    expectFailure(server.receiveRecord(record(22, Buffer.alloc(16385), 0x0301)), 'record_overflow');
  });

  it('a protected record over 2^14+256 bytes is record_overflow', () => {
    const r = run({}, {}, () => (from, rec) => (from === 'server' && rec[0] === 23 ? record(23, Buffer.alloc(16384 + 257)) : rec));
    expectFailure(r.client, 'record_overflow');
  });

  it('a protected record whose plaintext exceeds 2^14 bytes is record_overflow', () => {
    const r = run({}, {}, (m) => (from, rec) =>
      from === 'server' && rec[0] === 23 ? m.rewrite('server', rec, (c) => ({ content: c, padding: 16385 - c.length + 100 })) : rec);
    expectFailure(r.client, 'record_overflow');
  });

  it('a handshake message longer than maxHandshakeMessageSize is refused before it arrives', () => {
    const server = createServer(serverCfg({ maxHandshakeMessageSize: 1000 }));
    server.start();
    const big = Buffer.concat([Buffer.from([1, 0, 0x10, 0]), Buffer.alloc(100)]);
    expectFailure(server.receiveRecord(record(22, big, 0x0301)), 'illegal_parameter');
  });

  it('record padding, and handshake messages split across records, are accepted', () => {
    const r = run({}, {}, (m) => (from, rec) => {
      if (from === 'server' && rec[0] === 22) {
        // ServerHello in 7-byte fragments.
        const body = rec.subarray(5);
        const out: Buffer[] = [];
        for (let i = 0; i < body.length; i += 7) out.push(record(22, body.subarray(i, i + 7)));
        return out;
      }
      if (from === 'server' && rec[0] === 23) {
        // The encrypted flight one byte short of 100-byte pieces, each padded.
        return m.rewrite('server', rec, (c) => {
          const parts: Buffer[] = [];
          for (let i = 0; i < c.length; i += 99) parts.push(c.subarray(i, i + 99));
          return { content: parts, padding: 33 };
        });
      }
      return rec;
    });
    expect([r.client.status, r.server.status]).toEqual(['done', 'done']);
  });

  it('a handshake message must not straddle a key change', () => {
    const { client, ch } = startedClient();
    const server = createServer(serverCfg());
    server.start();
    const [sh] = splitRecords(server.receiveRecord(ch).send);
    // Append the first bytes of a following message to the ServerHello record.
    const body = Buffer.concat([sh.subarray(5), Buffer.from([8, 0, 0])]);
    expectFailure(client.receiveRecord(record(22, body)), 'unexpected_message');
  });

  it('application data during the handshake is unexpected_message', () => {
    const server = createServer(serverCfg());
    server.start();
    expectFailure(server.receiveRecord(record(23, Buffer.alloc(40))), 'unexpected_message');
  });
});

describe('change_cipher_spec', () => {
  const CCS = Buffer.from([20, 3, 3, 0, 1, 1]);

  it('before the ClientHello is unexpected_message', () => {
    const server = createServer(serverCfg());
    server.start();
    expectFailure(server.receiveRecord(CCS), 'unexpected_message');
  });

  it('with a body other than 0x01 is unexpected_message', () => {
    const { client } = startedClient();
    expectFailure(client.receiveRecord(Buffer.from([20, 3, 3, 0, 1, 2])), 'unexpected_message');
  });

  it('twice is unexpected_message', () => {
    const { client } = startedClient();
    expect(client.receiveRecord(CCS).status).toBe('continue');
    expectFailure(client.receiveRecord(CCS), 'unexpected_message');
  });

  it('inside a protected record is unexpected_message', () => {
    const r = run({}, {}, (m) => (from, rec) =>
      from === 'server' && rec[0] === 23 ? m.rewrite('server', rec, () => ({ type: 20, content: Buffer.from([1]) })) : rec);
    expectFailure(r.client, 'unexpected_message');
  });
});

describe('alerts and abort', () => {
  it('a peer alert is reported with peerAlert set and nothing is sent back', () => {
    const { client } = startedClient();
    const step = client.receiveRecord(plainAlert(115));
    expectFailure(step, 'unknown_psk_identity', true);
    expect(step.send.length).toBe(0);
  });

  it('abort() before keys is a plaintext alert, after keys an encrypted one', () => {
    const { client, ch } = startedClient();
    expect(client.abort('user_canceled')).toEqual(Buffer.from([21, 3, 3, 0, 2, 1, 90]));
    const c2 = createClient(clientCfg());
    const server = createServer(serverCfg());
    server.start();
    const flight = server.receiveRecord(c2.start().send).send;
    const [sh] = splitRecords(flight);
    c2.receiveRecord(sh);
    const alert = c2.abort('internal_error');
    expect(alert[0]).toBe(23);
    expect(alert.length).toBe(5 + 2 + 1 + 16);
    expect(ch.length).toBeGreaterThan(0);
  });

  it('abort() after done protects the alert with the exported application keys', () => {
    const r = run();
    expect(r.client.status).toBe('done');
    const tx = r.cc.secrets().tx;
    const alert = r.cc.abort('internal_error');
    const opened = new RecordProtector(SUITE, { key: tx.key, iv: tx.iv, seq: 0n }).open(alert);
    expect(opened).toEqual({ type: 21, data: Buffer.from([2, 80]) });
  });

  it('after failing, the connection accepts nothing more', () => {
    const { client } = startedClient();
    const first = client.receiveRecord(plainAlert(40));
    const again = client.receiveRecord(plainAlert(40));
    expect(again.error).toBe(first.error);
  });
});
