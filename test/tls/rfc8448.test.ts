/**
 * PROOF against RFC 8448: with the traces' randoms and key-share private keys injected, the
 * engine reproduces the published messages, records and traffic keys byte for byte, as
 * client and as server, for §3 (simple 1-RTT) and §5 (HelloRetryRequest).
 *
 * RSA-PSS signatures are randomized, so the server runs twice: once with a provider whose
 * sign() returns the published signature after checking it verifies over exactly the content
 * the engine asked to sign (then everything after it must match too), and once with real
 * signing, where the signature is checked with the certificate's key.
 */
import { constants, createDecipheriv, createHash, createPrivateKey, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, createServer, type CipherSuiteName, type Connection, type SignatureSchemeName } from '../../src/tls';
import { NodeCryptoProvider } from '../../src/tls/crypto/node';
import type { TestHooks } from '../../src/tls/hooks';
import type { Extension } from '../../src/tls/wire/extensions';
import { hex, S3, S5 } from './rfc8448-data';

const SUITES: CipherSuiteName[] = ['TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_256_GCM_SHA384'];
const serverKey = createPrivateKey(readFileSync(join(__dirname, 'fixtures', 'rfc8448-server-rsa.pem'), 'utf8'));

function record(type: number, version: number, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type;
  h.writeUInt16BE(version, 1);
  h.writeUInt16BE(body.length, 3);
  return Buffer.concat([h, body]);
}

/** Independent AES-128-GCM record opening (sequence 0) for checking what the engine sent. */
function openRecord(rec: Buffer, key: Buffer, iv: Buffer): Buffer {
  const d = createDecipheriv('aes-128-gcm', key, iv);
  d.setAAD(rec.subarray(0, 5));
  d.setAuthTag(rec.subarray(rec.length - 16));
  const plain = Buffer.concat([d.update(rec.subarray(5, rec.length - 16)), d.final()]);
  expect(plain[plain.length - 1]).toBe(22);
  return plain.subarray(0, plain.length - 1);
}

/** Splits handshake messages. */
function messages(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; ) {
    const len = buf.readUIntBE(off + 1, 3);
    out.push(buf.subarray(off, off + 4 + len));
    off += 4 + len;
  }
  return out;
}

/** An extension list in the trace's order: numbers come from the engine, pairs are raw bodies. */
function arrange(engine: Extension[], spec: Array<number | [number, string]>): Extension[] {
  return spec.map((x) => {
    if (typeof x !== 'number') return { type: x[0], body: hex(x[1]) };
    const e = engine.find((y) => y.type === x);
    if (!e) throw new Error(`engine did not produce extension ${x}`);
    return e;
  });
}

const RFC_SIGALGS = '001e040305030603020308040805080604010501060102010402050206020202';

/** A provider that "signs" with the published signature, after checking it is valid for the content. */
class PublishedSignature extends NodeCryptoProvider {
  calls = 0;
  constructor(private readonly signature: Buffer, private readonly pub: KeyObject) {
    super();
  }
  override sign(scheme: SignatureSchemeName, _key: KeyObject, data: Buffer): Buffer {
    this.calls++;
    expect(scheme).toBe('rsa_pss_rsae_sha256');
    const ok = verify('sha256', data, { key: this.pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, this.signature);
    if (!ok) throw new Error('the engine asked to sign different content than the trace signed');
    return this.signature;
  }
}

function certFrom(flight: Buffer): Buffer {
  const cert = messages(flight)[1];
  // 0b | len | ctx(00) | list len(3) | cert len(3) | cert
  const len = cert.readUIntBE(8, 3);
  return cert.subarray(11, 11 + len);
}

function acceptingVerifier(expectName: string | undefined, calls: string[]): TestHooks['verifyChain'] {
  return (o) => {
    calls.push(o.name ?? '');
    expect(o.name).toBe(expectName);
    return { ok: true, leafPublicKey: new X509Certificate(o.chain[0]).publicKey, path: o.chain };
  };
}

function expectKeys(conn: Connection, tx: [Buffer, Buffer], rx: [Buffer, Buffer]): void {
  const s = conn.secrets();
  expect(s.suite).toBe('TLS_AES_128_GCM_SHA256');
  expect(s.tx.key.toString('hex')).toBe(tx[0].toString('hex'));
  expect(s.tx.iv.toString('hex')).toBe(tx[1].toString('hex'));
  expect(s.rx.key.toString('hex')).toBe(rx[0].toString('hex'));
  expect(s.rx.iv.toString('hex')).toBe(rx[1].toString('hex'));
  expect([s.tx.seq, s.rx.seq]).toEqual([0n, 0n]);
}

describe('RFC 8448 §3 simple 1-RTT handshake', () => {
  const certDer = certFrom(S3.serverFlight);
  const chSpec: Array<number | [number, string]> = [
    0x0000,
    [0xff01, '00'],
    [0x000a, '0012001d00170018001901000101010201030104'],
    [0x0023, ''],
    0x0033,
    0x002b,
    [0x000d, RFC_SIGALGS],
    [0x002d, '0101'],
    [0x001c, '4001'],
  ];
  const eeSpec: Array<number | [number, string]> = [
    [0x000a, '0012001d00170018001901000101010201030104'],
    [0x001c, '4001'],
    0x0000,
  ];

  it('client: ClientHello, client Finished record, traffic secrets and key log', () => {
    const verified: string[] = [];
    const keyLog: string[] = [];
    const client = createClient(
      { serverName: 'server', trust: { anchors: [certDer] }, cipherSuites: SUITES, keyLog: (l) => keyLog.push(l) },
      {
        random: S3.clientRandom,
        sessionId: Buffer.alloc(0),
        keySharePrivate: { x25519: S3.clientX25519 },
        clientHelloExtensions: (exts) => arrange(exts, chSpec),
        verifyChain: acceptingVerifier('server', verified),
      },
    );
    const first = client.start();
    expect(first.send.toString('hex')).toBe(record(22, 0x0301, S3.clientHello).toString('hex'));
    const afterSh = client.receiveRecord(record(22, 0x0303, S3.serverHello));
    expect(afterSh).toMatchObject({ status: 'continue', send: Buffer.alloc(0) });
    const fin = client.receiveRecord(S3.serverFlightRecord);
    expect(fin.error).toBeUndefined();
    expect(fin.status).toBe('done');
    expect(fin.send.toString('hex')).toBe(S3.clientFinishedRecord.toString('hex'));
    expect(verified).toEqual(['server']);
    expectKeys(client, [S3.clientApKey, S3.clientApIv], [S3.serverApKey, S3.serverApIv]);
    expect(client.info()).toMatchObject({ group: 'x25519', signatureScheme: 'rsa_pss_rsae_sha256', helloRetry: false });
    const r = S3.clientRandom.toString('hex');
    expect(keyLog).toEqual([
      `CLIENT_HANDSHAKE_TRAFFIC_SECRET ${r} ${S3.clientHsTraffic.toString('hex')}`,
      `SERVER_HANDSHAKE_TRAFFIC_SECRET ${r} ${S3.serverHsTraffic.toString('hex')}`,
      `CLIENT_TRAFFIC_SECRET_0 ${r} ${S3.clientApTraffic.toString('hex')}`,
      `SERVER_TRAFFIC_SECRET_0 ${r} ${S3.serverApTraffic.toString('hex')}`,
    ]);
  });

  function server(crypto?: NodeCryptoProvider): Connection {
    return createServer(
      { certificate: { chain: [certDer], key: serverKey }, clientAuth: 'none', cipherSuites: SUITES },
      {
        random: S3.serverRandom,
        keySharePrivate: { x25519: S3.serverX25519 },
        encryptedExtensions: (exts) => arrange(exts, eeSpec),
        crypto,
      },
    );
  }

  it('server: ServerHello and the whole encrypted flight byte for byte (published signature)', () => {
    const cv = messages(S3.serverFlight)[2];
    const signer = new PublishedSignature(cv.subarray(8), new X509Certificate(certDer).publicKey);
    const srv = server(signer);
    expect(srv.start().send.length).toBe(0);
    const step = srv.receiveRecord(record(22, 0x0301, S3.clientHello));
    expect(step.error).toBeUndefined();
    expect(step.send.toString('hex')).toBe(
      Buffer.concat([record(22, 0x0303, S3.serverHello), S3.serverFlightRecord]).toString('hex'),
    );
    expect(signer.calls).toBe(1);
    const done = srv.receiveRecord(S3.clientFinishedRecord);
    expect(done).toMatchObject({ status: 'done', send: Buffer.alloc(0) });
    expectKeys(srv, [S3.serverApKey, S3.serverApIv], [S3.clientApKey, S3.clientApIv]);
    expect(srv.info()).toMatchObject({ serverName: 'server', group: 'x25519', signatureScheme: 'rsa_pss_rsae_sha256' });
  });

  it('server: with real (randomized) signing, everything but the signature matches and the signature verifies', () => {
    const srv = server();
    srv.start();
    const step = srv.receiveRecord(record(22, 0x0301, S3.clientHello));
    const shRec = record(22, 0x0303, S3.serverHello);
    expect(step.send.subarray(0, shRec.length).equals(shRec)).toBe(true);
    const flightRec = step.send.subarray(shRec.length);
    expect(flightRec.length).toBe(S3.serverFlightRecord.length);
    const plain = openRecord(flightRec, S3.serverHsKey, S3.serverHsIv);
    const [ee, cert, cv, fin] = messages(plain);
    const [rEe, rCert, rCv] = messages(S3.serverFlight);
    expect(ee.equals(rEe)).toBe(true);
    expect(cert.equals(rCert)).toBe(true);
    expect(cv.subarray(0, 8).equals(rCv.subarray(0, 8))).toBe(true);
    const th = createHash('sha256').update(Buffer.concat([S3.clientHello, S3.serverHello, ee, cert])).digest();
    const content = Buffer.concat([Buffer.alloc(64, 0x20), Buffer.from('TLS 1.3, server CertificateVerify\0', 'latin1'), th]);
    const pub = new X509Certificate(certDer).publicKey;
    expect(verify('sha256', content, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, cv.subarray(8))).toBe(true);
    expect(cv.subarray(8).equals(rCv.subarray(8))).toBe(false);
    expect(fin.length).toBe(36);
  });
});

describe('RFC 8448 §5 HelloRetryRequest', () => {
  const certDer = certFrom(S3.serverFlight);
  const plainFlight = openRecord(S5.serverFlightRecord, S5.serverHsKey, S5.serverHsIv);
  const cookieBody = (() => {
    // The HRR's cookie extension body, as published.
    const i = S5.helloRetryRequest.indexOf(hex('002c0074'));
    return S5.helloRetryRequest.subarray(i + 4, i + 4 + 0x74);
  })();

  it('client: both ClientHellos (cookie echoed, new P-256 share), client Finished record and traffic keys', () => {
    const common: Array<number | [number, string]> = [0x0000, [0xff01, '00'], 0x000a, 0x0033, 0x002b, [0x000d, RFC_SIGALGS]];
    const client = createClient(
      // The trace's client lists exactly these groups.
      { serverName: 'server', trust: { anchors: [certDer] }, cipherSuites: SUITES, groups: ['x25519', 'secp256r1', 'secp384r1'] },
      {
        random: S5.clientRandom,
        sessionId: Buffer.alloc(0),
        keySharePrivate: { x25519: S5.clientX25519, secp256r1: S5.clientP256 },
        clientHelloExtensions: (exts, retry) =>
          arrange(exts, retry
            ? [...common, 0x002c, [0x002d, '0101'], [0x001c, '4001'], [0x0015, '00'.repeat(0xaf)]]
            : [...common, [0x002d, '0101'], [0x001c, '4001']]),
        verifyChain: acceptingVerifier('server', []),
      },
    );
    expect(client.start().send.toString('hex')).toBe(record(22, 0x0301, S5.clientHello1).toString('hex'));
    const ch2 = client.receiveRecord(record(22, 0x0303, S5.helloRetryRequest));
    expect(ch2.error).toBeUndefined();
    expect(ch2.send.toString('hex')).toBe(record(22, 0x0303, S5.clientHello2).toString('hex'));
    expect(client.receiveRecord(record(22, 0x0303, S5.serverHello)).status).toBe('continue');
    const fin = client.receiveRecord(S5.serverFlightRecord);
    expect(fin.error).toBeUndefined();
    expect(fin.send.toString('hex')).toBe(S5.clientFinishedRecord.toString('hex'));
    expectKeys(client, [S5.clientApKey, S5.clientApIv], [S5.serverApKey, S5.serverApIv]);
    expect(client.info()).toMatchObject({ group: 'secp256r1', helloRetry: true });
  });

  it('server: HelloRetryRequest, ServerHello and encrypted flight byte for byte, traffic keys', () => {
    const msgs = messages(plainFlight);
    const ee = msgs[0];
    const cv = msgs[2];
    // EncryptedExtensions as published, with the engine's own server_name acknowledgement.
    const eeSpec: Array<number | [number, string]> = [];
    for (let off = 6; off < ee.length; ) {
      const type = ee.readUInt16BE(off);
      const len = ee.readUInt16BE(off + 2);
      eeSpec.push(type === 0 ? 0 : [type, ee.subarray(off + 4, off + 4 + len).toString('hex')]);
      off += 4 + len;
    }
    const signer = new PublishedSignature(cv.subarray(8), new X509Certificate(certDer).publicKey);
    const srv = createServer(
      { certificate: { chain: [certDer], key: serverKey }, clientAuth: 'none', cipherSuites: SUITES, groups: ['secp256r1'] },
      {
        random: S5.serverRandom,
        keySharePrivate: { secp256r1: S5.serverP256 },
        helloRetryExtensions: (exts) => arrange(exts, [0x0033, [0x002c, cookieBody.toString('hex')], 0x002b]),
        encryptedExtensions: (exts) => arrange(exts, eeSpec),
        crypto: signer,
      },
    );
    srv.start();
    const hrr = srv.receiveRecord(record(22, 0x0301, S5.clientHello1));
    expect(hrr.error).toBeUndefined();
    expect(hrr.send.toString('hex')).toBe(record(22, 0x0303, S5.helloRetryRequest).toString('hex'));
    const flight = srv.receiveRecord(record(22, 0x0303, S5.clientHello2));
    expect(flight.error).toBeUndefined();
    expect(flight.send.toString('hex')).toBe(
      Buffer.concat([record(22, 0x0303, S5.serverHello), S5.serverFlightRecord]).toString('hex'),
    );
    const done = srv.receiveRecord(S5.clientFinishedRecord);
    expect(done).toMatchObject({ status: 'done' });
    expectKeys(srv, [S5.serverApKey, S5.serverApIv], [S5.clientApKey, S5.clientApIv]);
    expect(srv.info()).toMatchObject({ group: 'secp256r1', helloRetry: true });
  });
});
