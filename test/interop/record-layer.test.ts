/**
 * Checks the tests' own record layer (test/helpers/record-layer.ts) against OpenSSL inside Node,
 * with no engine involved: a Node tls client and server talk through a capturing TCP relay, the
 * traffic secrets come from Node's 'keylog' events, and our layer must open every protected
 * record OpenSSL wrote and re-seal each application record to the identical bytes. Only then
 * does the key proof in the interop tests mean anything.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { CipherSuiteName } from '../../src/tls/api';
import { connect, LoopbackListener } from '../helpers/loopback';
import { CA_BUNDLE, files, pem } from '../helpers/pki';
import { CONTENT_APPLICATION_DATA, CONTENT_HANDSHAKE, hkdfExpandLabel, RecordProtector, trafficKeysFromSecret } from '../helpers/record-layer';

function splitRecords(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + 5 <= stream.length) {
    const len = stream.readUInt16BE(off + 3);
    if (off + 5 + len > stream.length) break;
    out.push(stream.subarray(off, off + 5 + len));
    off += 5 + len;
  }
  return out;
}

interface Captured {
  toClient: Buffer;
  toServer: Buffer;
  secrets: Map<string, Buffer>;
}

/** One Node↔Node TLS 1.3 exchange through a relay that records both directions. */
async function capture(suite: CipherSuiteName): Promise<Captured> {
  const secrets = new Map<string, Buffer>();
  const onKeylog = (line: Buffer) => {
    const [label, , secret] = line.toString('latin1').trim().split(' ');
    secrets.set(label, Buffer.from(secret, 'hex'));
  };
  const f = files('server-p256');
  const server = tls.createServer({ cert: pem(f.chain), key: pem(f.key), minVersion: 'TLSv1.3', ciphers: suite });
  server.on('keylog', onKeylog);
  server.on('secureConnection', (s) => {
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => s.end(Buffer.concat([Buffer.from('echo:'), d])));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const relay = await LoopbackListener.open();
  let toClient = Buffer.alloc(0);
  let toServer = Buffer.alloc(0);
  try {
    const clientDone = new Promise<void>((resolve, reject) => {
      const c = tls.connect({ port: relay.port, host: '127.0.0.1', servername: 'localhost', ca: pem(CA_BUNDLE), ciphers: suite, minVersion: 'TLSv1.3' });
      c.on('keylog', onKeylog);
      c.on('error', reject);
      c.on('secureConnect', () => c.write('hello from node client'));
      let got = '';
      c.on('data', (d: Buffer) => (got += d.toString()));
      c.on('end', () => {
        c.destroy();
        if (got === 'echo:hello from node client') resolve();
        else reject(new Error(`unexpected reply ${JSON.stringify(got)}`));
      });
    });
    const down = await relay.accept();
    const up = await connect((server.address() as net.AddressInfo).port);
    down.on('data', (d: Buffer) => {
      toServer = Buffer.concat([toServer, d]);
      up.write(d);
    });
    up.on('data', (d: Buffer) => {
      toClient = Buffer.concat([toClient, d]);
      down.write(d);
    });
    up.on('end', () => down.end());
    down.on('end', () => up.end());
    up.on('error', () => undefined);
    down.on('error', () => undefined);
    await clientDone;
    up.destroy();
  } finally {
    await relay.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
  return { toClient, toServer, secrets };
}

/**
 * Opens every protected record of one direction: first with the handshake keys, then, from the
 * first record they cannot open, with the application keys. Returns the application records.
 */
function openDirection(suite: CipherSuiteName, stream: Buffer, hsSecret: Buffer, apSecret: Buffer) {
  const hs = trafficKeysFromSecret(suite, hsSecret);
  const ap = trafficKeysFromSecret(suite, apSecret);
  let hsSeq = 0n;
  let apSeq = 0n;
  const app: Array<{ record: Buffer; seq: bigint; type: number; data: Buffer }> = [];
  for (const record of splitRecords(stream)) {
    if (record[0] !== CONTENT_APPLICATION_DATA) continue; // ClientHello/ServerHello, CCS
    if (apSeq === 0n) {
      try {
        new RecordProtector(suite, { ...hs, seq: hsSeq }).open(record);
        hsSeq++;
        continue;
      } catch {
        // not a handshake-key record: the application keys take over from here
      }
    }
    const opened = new RecordProtector(suite, { ...ap, seq: apSeq }).open(record);
    app.push({ record, seq: apSeq, ...opened });
    apSeq++;
  }
  return { hsRecords: hsSeq, app };
}

describe('test record layer vs OpenSSL (Node tls, secrets from keylog)', () => {
  it('HKDF-Expand-Label reproduces RFC 8448 §3 server handshake key and iv', () => {
    // RFC 8448 "Simple 1-RTT Handshake": server_handshake_traffic_secret → key, iv.
    const secret = Buffer.from('b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38', 'hex');
    expect(hkdfExpandLabel('sha256', secret, 'key', 16).toString('hex')).toBe('3fce516009c21727d0f2e4e86ee403bc');
    expect(hkdfExpandLabel('sha256', secret, 'iv', 12).toString('hex')).toBe('5d313eb2671276ee13000b30');
  });

  const suites: CipherSuiteName[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_CCM_SHA256'];
  it.each(suites)('%s: opens what OpenSSL sealed and re-seals it byte for byte', async (suite) => {
    const c = await capture(suite);
    for (const label of ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0']) {
      expect(c.secrets.has(label)).toBe(true);
    }
    const fromServer = openDirection(suite, c.toClient, c.secrets.get('SERVER_HANDSHAKE_TRAFFIC_SECRET')!, c.secrets.get('SERVER_TRAFFIC_SECRET_0')!);
    const fromClient = openDirection(suite, c.toServer, c.secrets.get('CLIENT_HANDSHAKE_TRAFFIC_SECRET')!, c.secrets.get('CLIENT_TRAFFIC_SECRET_0')!);
    expect(fromServer.hsRecords).toBeGreaterThanOrEqual(1);
    expect(fromClient.hsRecords).toBeGreaterThanOrEqual(1);

    const serverData = fromServer.app.filter((r) => r.type === CONTENT_APPLICATION_DATA);
    expect(Buffer.concat(serverData.map((r) => r.data)).toString()).toBe('echo:hello from node client');
    // OpenSSL sends session tickets before the echo: handshake-typed records under the app keys.
    expect(fromServer.app.some((r) => r.type === CONTENT_HANDSHAKE)).toBe(true);
    const clientData = fromClient.app.filter((r) => r.type === CONTENT_APPLICATION_DATA);
    expect(Buffer.concat(clientData.map((r) => r.data)).toString()).toBe('hello from node client');

    // Sealing is deterministic for a given key, nonce and plaintext: it must give OpenSSL's bytes.
    const ap = trafficKeysFromSecret(suite, c.secrets.get('CLIENT_TRAFFIC_SECRET_0')!);
    for (const r of clientData) {
      expect(new RecordProtector(suite, { ...ap, seq: r.seq }).seal(r.type, r.data).equals(r.record)).toBe(true);
    }
    // A flipped bit must not open.
    const bad = Buffer.from(serverData[0].record);
    bad[bad.length - 1] ^= 1;
    const sap = trafficKeysFromSecret(suite, c.secrets.get('SERVER_TRAFFIC_SECRET_0')!);
    expect(() => new RecordProtector(suite, { ...sap, seq: serverData[0].seq }).open(bad)).toThrow();
  });
});
