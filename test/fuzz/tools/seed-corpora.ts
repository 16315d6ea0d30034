/**
 * Writes the seed corpora under fixtures/fuzz/<target>/ from real inputs: the deterministic
 * engine exchange (both flights, an HRR round), ClientHellos recorded from openssl s_client and
 * gnutls-cli, a ServerHello recorded from openssl s_server answering our ClientHello, the
 * netlink fixtures, the PKI fixtures' DER, and sample configuration files.
 *
 *   npx tsc -p test/fuzz/tsconfig.json && node .cache/fuzz-build/test/fuzz/tools/seed-corpora.js
 *
 * Re-running rewrites only the generated seeds; regression inputs (regress-*) are left alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createClient, createServer } from '../../../src/tls';
import { parseHex } from '../../../src/netlink/inspect/input';
import { startGnutlsClient, startOpensslClient, startOpensslServer } from '../../helpers/cli-peers';
import { LoopbackListener, connect } from '../../helpers/loopback';
import { PKI_DIR } from '../../helpers/pki';
import { stopAllPeers } from '../../helpers/process-peer';
import { SocketRecordIO } from '../../helpers/record-io';
import { RecordProtector, trafficKeysFromSecret } from '../../helpers/record-layer';
import { unixRequestSeeds } from '../targets/unix-request';
import { clientConfig, clientHooks, scenario, serverConfig, serverHooks, splitRecords } from '../targets/tls-scenario';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..', '..');
const OUT = path.join(ROOT, 'fixtures', 'fuzz');

function put(target: string, name: string, data: Buffer | string): void {
  const dir = path.join(OUT, target);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), data);
}

/** Whole records (ctl 0xf8), and the same content in 61-byte fragments with padding (ctl 0x04). */
function flightSeeds(target: string, name: string, content: Buffer): void {
  put(target, `${name}.whole`, Buffer.concat([Buffer.from([0xf8]), content]));
  put(target, `${name}.fragmented`, Buffer.concat([Buffer.from([0x04]), content]));
}

function engineSeeds(): void {
  const sc = scenario();
  put('tls-server-records', 'engine-client-hello', sc.clientHello);
  put('tls-client-records', 'engine-server-hello', Buffer.concat(sc.serverHello));
  flightSeeds('tls-client-flight', 'engine-server-flight', sc.serverFlight);
  flightSeeds('tls-server-flight', 'engine-client-flight', sc.clientFlight);

  // A client without a certificate answers the CertificateRequest with an empty Certificate.
  const noCert = createClient({ ...clientConfig(), certificate: undefined }, clientHooks);
  const server = createServer(serverConfig(), serverHooks);
  const ch = noCert.start().send;
  if (!ch.equals(sc.clientHello)) throw new Error('the ClientHello depends on the client certificate; seeds would not replay');
  server.start();
  let step = server.receiveRecord(ch);
  for (const r of splitRecords(step.send)) step = noCert.receiveRecord(r);
  const p = new RecordProtector('TLS_AES_128_GCM_SHA256', trafficKeysFromSecret('TLS_AES_128_GCM_SHA256', sc.clientHandshakeSecret));
  const flight = Buffer.concat(splitRecords(step.send).filter((r) => r[0] === 23).map((r) => p.open(r).data));
  flightSeeds('tls-server-flight', 'engine-client-flight-no-cert', flight);

  // HelloRetryRequest, server side: a client whose first share is P-384 (the fuzzed server does
  // not take P-384) is asked for X25519 and retries.
  const hrrClient = createClient({ ...clientConfig(), groups: ['secp384r1', 'x25519'] }, clientHooks);
  const hrrServer = createServer(serverConfig(), serverHooks);
  const ch1 = hrrClient.start().send;
  hrrServer.start();
  const hrr = hrrServer.receiveRecord(ch1);
  let ch2 = Buffer.alloc(0);
  for (const r of splitRecords(hrr.send)) ch2 = Buffer.concat([ch2, hrrClient.receiveRecord(r).send]);
  put('tls-server-records', 'engine-client-hello-retry', Buffer.concat([ch1, ch2]));
  // HelloRetryRequest, client side: a server that only takes P-256 answers our X25519 share with an HRR.
  const p256Server = createServer({ ...serverConfig(), groups: ['secp256r1'] }, serverHooks);
  p256Server.start();
  put('tls-client-records', 'engine-hello-retry-request', splitRecords(p256Server.receiveRecord(sc.clientHello).send)[0]);
}

async function recordedSeeds(): Promise<void> {
  const sc = scenario();
  // openssl s_server answering our deterministic ClientHello: its ServerHello and CCS.
  const { port } = await startOpensslServer({ cert: 'server-p256' });
  const sock = await connect(port);
  const io = new SocketRecordIO(sock);
  await io.write(sc.clientHello);
  const sh = await io.readRecord();
  const ccs = await io.readRecord();
  put('tls-client-records', 'openssl-server-hello', Buffer.concat([sh, ccs]));
  sock.destroy();
  // ClientHellos of openssl s_client and gnutls-cli, as our server would read them.
  for (const [name, start] of [
    ['openssl', startOpensslClient],
    ['gnutls', startGnutlsClient],
  ] as const) {
    const l = await LoopbackListener.open();
    start(l.port, { cert: 'client-p256' });
    const s = await l.accept();
    put('tls-server-records', `${name}-client-hello`, await new SocketRecordIO(s).readRecord());
    await l.close();
  }
  await stopAllPeers();
}

function netlinkSeeds(): void {
  const dir = path.join(ROOT, 'fixtures', 'netlink');
  for (const f of fs.readdirSync(dir)) {
    const raw = fs.readFileSync(path.join(dir, f));
    if (f.endsWith('.hex')) put('netlink', f.replace(/\.hex$/, '.bin'), parseHex(raw.toString('utf8')));
    else put('netlink', f, raw);
  }
  put('netlink', 'ready.hex', fs.readFileSync(path.join(dir, 'ready.hex')));
}

function unixRequestSeedFiles(): void {
  for (const [name, data] of unixRequestSeeds(path.join(ROOT, 'fixtures', 'netlink'))) put('unix-request', name, data);
}

function x509Seeds(): void {
  for (const f of fs.readdirSync(PKI_DIR)) {
    if (f.endsWith('.crt.der') || f.endsWith('.crl.der')) put('x509', f, fs.readFileSync(path.join(PKI_DIR, f)));
  }
  put('x509', 'crls.pem', fs.readFileSync(path.join(PKI_DIR, 'crls.pem')));
}

function configSeeds(): void {
  put('config', 'tlshd-full.conf', [
    '# tlshd configuration with every tlshd section',
    '[debug]', 'loglevel=1', 'tls=1', 'nl=1', '',
    '[authenticate]', 'keyrings=mykeys;other', '',
    '[authenticate.client]', 'x509.truststore=/etc/tlshd/ca.pem', 'x509.crl=/etc/tlshd/crl.pem',
    'x509.certificate=/etc/tlshd/client.pem', 'x509.private_key=/etc/tlshd/client.key', '',
    '[authenticate.server]', 'x509.truststore=/etc/tlshd/ca.pem', 'x509.certificate=/etc/tlshd/server.pem',
    'x509.private_key=/etc/tlshd/server.key', '',
  ].join('\n'));
  put('config', 'handshaked.conf', [
    '[handshaked]', 'max_inflight=64', 'default_timeout_ms=5000', 'shutdown_grace_ms=100', 'unix_socket=@handshaked-fuzz', 'log_level=debug', 'log_format=json', 'metrics=127.0.0.1:9464', 'allow_uids=0;1000', 'allow_gids=10',
    'cipher_suites=TLS_AES_256_GCM_SHA384;TLS_AES_128_GCM_SHA256', 'groups=secp256r1', '',
  ].join('\n'));
  put('config', 'legacy-escapes.conf', '# legacy /etc/tlshd.conf\n[authenticate]\nkeyrings=a\\sb;c\\;d\n[debug]\nloglevel=0\n');
}

async function main(): Promise<void> {
  engineSeeds();
  netlinkSeeds();
  unixRequestSeedFiles();
  x509Seeds();
  configSeeds();
  await recordedSeeds();
  process.stdout.write(`seeds written under ${OUT}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
