/* global process, console, Buffer, setTimeout, clearTimeout */
// The client library's kTLS stream against real peers on a kernel with kTLS (run by the unix-ktls-stream
// scenario; needs a handshaked unix-transport agent that trusts /etc/tlshd/ca.pem and can act as
// a server with /etc/tlshd/server.pem).
//
//   node ktls-stream-check.mjs AGENT_SOCKET        KTAP-style lines, exit 1 if any check failed
//   node ktls-stream-check.mjs https-server        one HTTPS request on a printed port (tickets on)
//
// Every client socket is a plain net.Socket handed to requestHandshake, as a user would.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { requestHandshake, kTlsState } from 'handshaked';
import { RecordType, sendRecord } from 'handshaked/dist/sys/tls-record.js';

const CERT = '/etc/tlshd/server.pem';
const KEY = '/etc/tlshd/server.key';
const cert = fs.readFileSync(CERT);
const key = fs.readFileSync(KEY);

if (process.argv[2] === 'https-server') {
  const srv = https.createServer({ cert, key, minVersion: 'TLSv1.3' }, (req, res) => {
    res.setHeader('Connection', 'close');
    res.end(`node https says hello to ${req.method} ${req.url}\n`);
    srv.close();
  });
  srv.listen(0, '127.0.0.1', () => console.log(`LISTEN ${srv.address().port}`));
} else {
  await main(process.argv[2]);
}

async function main(agentSocket) {
  let n = 0;
  let failed = 0;
  const check = async (name, fn) => {
    n++;
    const t0 = Date.now();
    try {
      const note = await withTimeout(fn(), 120_000, name);
      console.log(`ok ${n} ${name} # ${note ?? ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`not ok ${n} ${name} # ${e.code ?? ''} ${String(e.message).replace(/\n/g, ' ')} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  };

  async function connect(port) {
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    const r = await requestHandshake(sock, { role: 'client', auth: 'unauth', peername: 'localhost', timeoutMs: 30000 }, { agentSocket });
    if (r.status !== 0) throw new Error(`handshake status ${r.code}`);
    if (!kTlsState(sock)) throw new Error('status 0 but the socket did not switch to kTLS records');
    return sock;
  }

  console.log('TAP version 13');
  console.log('1..8');

  await check('openssl s_server -rev (default tickets): round trip', async () => {
    const srv = await opensslServer(['-rev']);
    const sock = await connect(srv.port);
    sock.write('hello kTLS\n');
    await readUntil(sock, (t) => t.includes('SLTk olleh'), 'the reversed line');
    const dropped = kTlsState(sock).stats.handshakeMessagesDropped;
    sock.destroy();
    srv.kill();
    if (dropped < 1) throw new Error(`expected s_server's tickets to be dropped, counted ${dropped}`);
    return `${dropped} NewSessionTicket(s) dropped`;
  });

  await check('gnutls-serv --echo: round trip', async () => {
    const port = await freePort();
    const child = spawn('gnutls-serv', ['--echo', '-p', String(port), '--x509certfile', CERT, '--x509keyfile', KEY], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await waitListening(port, child);
      const sock = await connect(port);
      sock.write('ping through gnutls\n');
      await readUntil(sock, (t) => t.includes('ping through gnutls'), 'the echo');
      const dropped = kTlsState(sock).stats.handshakeMessagesDropped;
      sock.end();
      await settled(sock);
      return `${dropped} post-handshake message(s) dropped`;
    } finally {
      child.kill();
    }
  });

  await check('Node tls server with tickets: round trip', async () => {
    const srv = tls.createServer({ cert, key, minVersion: 'TLSv1.3' }, (s) => s.pipe(s));
    const port = await listen(srv);
    try {
      const sock = await connect(port);
      sock.write('echo me');
      await readUntil(sock, (t) => t === 'echo me', 'the echo');
      const dropped = kTlsState(sock).stats.handshakeMessagesDropped;
      if (dropped < 1) throw new Error(`expected Node's tickets to be dropped, counted ${dropped}`);
      sock.end();
      const r = await settled(sock);
      if (r.error) throw r.error;
      return `${dropped} NewSessionTicket(s) dropped; Node's close_notify ${kTlsState(sock).closeNotifyReceived ? 'seen' : 'not seen (FIN only)'}`;
    } finally {
      srv.close();
    }
  });

  // A kTLS server (the agent does its handshake, then this library's own socket): Node's tls
  // server was seen on the real kernel to end with a FIN and no close_notify, so it cannot show
  // that a close_notify becomes a clean end.
  async function ktlsServer(onSecure) {
    const srv = net.createServer({ pauseOnConnect: true }, async (s) => {
      s.on('error', () => undefined);
      const r = await requestHandshake(s, { role: 'server', auth: 'x509', timeoutMs: 30000 }, { agentSocket });
      if (r.status !== 0) return s.destroy();
      onSecure(s);
    });
    return { srv, port: await listen(srv) };
  }

  await check('a server that closes with close_notify: clean end, and our close_notify answers it', async () => {
    let serverSaw;
    const serverDone = new Promise((resolve) => {
      serverSaw = resolve;
    });
    const { srv, port } = await ktlsServer((s) => {
      let gotEnd = false;
      s.on('end', () => (gotEnd = true));
      s.on('close', () => serverSaw(gotEnd ? `end, close_notify received ${kTlsState(s)?.closeNotifyReceived}` : 'close without end'));
      s.resume();
      s.end('bye\n');
    });
    try {
      const sock = await connect(port);
      let text = '';
      sock.on('data', (d) => (text += d));
      const r = await settled(sock);
      if (r.error) throw r.error;
      if (!r.ended) throw new Error('no end event');
      if (text !== 'bye\n') throw new Error(`read ${JSON.stringify(text)}`);
      const st = kTlsState(sock);
      if (!st.closeNotifyReceived || !st.closeNotifySent) throw new Error(`close_notify received ${st.closeNotifyReceived}, sent ${st.closeNotifySent}`);
      const seen = await withTimeout(serverDone, 10000, 'the server side');
      if (seen !== 'end, close_notify received true') throw new Error(`the server saw ${seen}`);
      return 'both sides saw the other\'s close_notify as a clean end';
    } finally {
      srv.close();
    }
  });

  await check('a server that sends a fatal alert mid-stream: the error names it', async () => {
    // The server is a kTLS socket too: the agent does its handshake, then it sends data and an
    // internal_error alert record (TLS_SET_RECORD_TYPE).
    const srv = net.createServer({ pauseOnConnect: true }, async (s) => {
      s.on('error', () => undefined);
      const r = await requestHandshake(s, { role: 'server', auth: 'x509', timeoutMs: 30000 }, { agentSocket });
      if (r.status !== 0) return s.destroy();
      s.write('partial\n', () => {
        sendRecord(s._handle.fd, RecordType.ALERT, Buffer.from([2, 80]));
        setTimeout(() => s.destroy(), 2000);
      });
    });
    const port = await listen(srv);
    try {
      const sock = await connect(port);
      let text = '';
      sock.on('data', (d) => (text += d));
      const r = await settled(sock);
      if (!r.error) throw new Error(`no error (ended ${r.ended}, read ${JSON.stringify(text)})`);
      if (r.error.code !== 'ERR_TLS_ALERT_INTERNAL_ERROR' || !/internal_error/.test(r.error.message)) throw r.error;
      if (text !== 'partial\n') throw new Error(`read ${JSON.stringify(text)} before the alert`);
      return `${r.error.code}: ${r.error.message}`;
    } finally {
      srv.close();
    }
  });

  await check('openssl s_server sends a KeyUpdate: a named error, no garbage', async () => {
    const srv = await opensslServer([]);
    const sock = await connect(srv.port);
    let text = '';
    sock.on('data', (d) => (text += d));
    const r = settled(sock);
    srv.child.stdin.write('before\n');
    await waitFor(() => text.includes('before'), 'the first line', 20000);
    srv.child.stdin.write('k\n');
    await new Promise((res) => setTimeout(res, 500));
    srv.child.stdin.write('after\n');
    const { error } = await withTimeout(r, 30000, 'the stream to fail');
    srv.kill();
    if (!error || error.code !== 'ERR_KTLS_KEY_UPDATE') throw error ?? new Error('the stream did not fail');
    if (text.includes('after')) throw new Error('data after the KeyUpdate was delivered');
    return error.code;
  });

  for (const [name, size] of [['64 MiB each way through a Node tls echo server, sha256 checked', 64 << 20]]) {
    await check(name, async () => {
      let serverHash;
      const srvDone = new Promise((resolve) => {
        serverHash = resolve;
      });
      const srv = tls.createServer({ cert, key, minVersion: 'TLSv1.3' }, (s) => {
        const h = crypto.createHash('sha256');
        s.on('data', (d) => h.update(d));
        s.on('end', () => serverHash(h.digest('hex')));
        s.pipe(s);
      });
      const port = await listen(srv);
      try {
        const sock = await connect(port);
        const t0 = Date.now();
        const sent = crypto.createHash('sha256');
        const got = crypto.createHash('sha256');
        let received = 0;
        const readAll = new Promise((resolve, reject) => {
          sock.on('data', (d) => {
            got.update(d);
            received += d.length;
            if (received === size) resolve();
          });
          sock.on('error', reject);
          sock.on('end', () => (received === size ? resolve() : reject(new Error(`end after ${received} bytes`))));
        });
        const chunk = 1 << 20;
        for (let off = 0; off < size; off += chunk) {
          const b = crypto.randomBytes(chunk);
          sent.update(b);
          if (!sock.write(b)) await once(sock, 'drain');
        }
        sock.end();
        await readAll;
        const secs = (Date.now() - t0) / 1000;
        const [a, b, c] = [sent.digest('hex'), got.digest('hex'), await withTimeout(srvDone, 60000, "the server's checksum")];
        if (a !== c) throw new Error(`client→server: sent ${a}, the server hashed ${c}`);
        if (a !== b) throw new Error(`server→client: sent back ${c}, received ${b}`);
        return `sha256 ${a.slice(0, 16)}… both ways, ${((2 * size) / 1048576 / secs).toFixed(1)} MiB/s total in ${secs.toFixed(1)} s`;
      } finally {
        srv.close();
      }
    });
  }

  await check('kTlsStream over an fd: the same record handling without a net.Socket', async () => {
    const { kTlsStream } = await import('handshaked');
    const { srv, port } = await ktlsServer((s) => s.end('over the fd\n'));
    try {
      // A connected socket that Node never reads: its own fd, duplicated away from the handle.
      const sock = net.connect(port, '127.0.0.1', { pauseOnConnect: true });
      await once(sock, 'connect');
      const { takeSocketFd } = await import('handshaked/dist/client/socket-handoff.js');
      const taken = takeSocketFd(sock);
      const r = await requestHandshake(taken.fd, { role: 'client', auth: 'unauth', peername: 'localhost', timeoutMs: 30000 }, { agentSocket });
      if (r.status !== 0) throw new Error(`handshake status ${r.code}`);
      const stream = kTlsStream(taken.fd, { ownsFd: false });
      let text = '';
      stream.on('data', (d) => (text += d));
      const s = await settled(stream);
      sock.destroy();
      if (s.error) throw s.error;
      if (text !== 'over the fd\n' || !stream.closeNotifyReceived) throw new Error(`read ${JSON.stringify(text)}, close_notify ${stream.closeNotifyReceived}`);
      return `${stream.stats.handshakeMessagesDropped} ticket(s) dropped`;
    } finally {
      srv.close();
    }
  });

  console.log(`# stream checks: ${n - failed} ok, ${failed} not ok`);
  process.exit(failed ? 1 : 0);
}

// --- helpers ---------------------------------------------------------------------------------

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, reject) => (t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))]).finally(() => clearTimeout(t));
}

async function waitFor(cond, what, ms) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readUntil(sock, pred, what) {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d) => {
      text += d;
      if (pred(text)) {
        sock.off('data', onData);
        resolve(text);
      }
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.once('end', () => reject(new Error(`the stream ended before ${what}; read ${JSON.stringify(text.slice(0, 200))}`)));
  });
}

function settled(s) {
  return new Promise((resolve) => {
    let ended = false;
    s.on('end', () => (ended = true));
    s.on('error', (error) => resolve({ ended, error }));
    s.on('close', () => resolve({ ended }));
  });
}

async function listen(srv) {
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return srv.address().port;
}

async function freePort() {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

async function waitListening(port, child) {
  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => (c.destroy(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on port ${port} within 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** openssl s_server (TLS 1.3, its default two tickets) for one connection; resolves with its port. */
async function opensslServer(extra) {
  const child = spawn('openssl', ['s_server', '-accept', '127.0.0.1:0', '-naccept', '1', '-tls1_3', '-cert', CERT, '-key', KEY, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  await waitFor(() => /^ACCEPT 127\.0\.0\.1:\d+/m.test(out) || child.exitCode !== null, 'openssl s_server to listen', 30000);
  const m = /^ACCEPT 127\.0\.0\.1:(\d+)/m.exec(out);
  if (!m) throw new Error(`openssl s_server did not start: ${out.slice(0, 300)}`);
  return { port: Number(m[1]), child, kill: () => child.kill() };
}
