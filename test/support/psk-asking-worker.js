/* eslint-disable -- a plain CommonJS worker entry, loaded before any TypeScript exists */
// A handshake pool worker (src/agent/pool/worker.ts, run as it is) that also asks the main
// thread for PSK lookups it has no right to, for the pool's tests (test/agent/pool-psk.test.ts).
// A request's test-only field `testPskAsks` says how, for that handshake:
//   twice  each 'findPsk' the real worker sends for it is sent again, right behind it;
//   other  as it is handed the handshake (id N), it first asks for the keys of client identity
//          `host-a` for the handshake before it (id N - 1), which it does not hold.
// Every 'psks' answer it receives is reported back as an info log record
// ('test worker: psks answer', with the job id and the identities that came with keys).
const { parentPort } = require('node:worker_threads');
require('./ts-worker-hook.js');

const post = parentPort.postMessage.bind(parentPort);
const twice = new Set();

parentPort.postMessage = (batch) => {
  post(batch.flatMap((m) => (m.t === 'findPsk' && twice.has(m.id) ? [m, m] : [m])));
};

parentPort.on('message', (batch) => {
  const out = [];
  for (const m of batch) {
    if (m.t === 'psks') {
      const keys = m.entries.map((e) => (e ? Buffer.from(e.identity).toString() : null));
      out.push({ t: 'log', level: 'info', message: 'test worker: psks answer', meta: { id: m.id, keys } });
    }
    if (m.t === 'run' && m.req.testPskAsks === 'twice') twice.add(m.id);
    if (m.t === 'run' && m.req.testPskAsks === 'other') out.push({ t: 'findPsk', id: m.id - 1, identities: [Buffer.from('host-a')] });
  }
  if (out.length > 0) post(out);
});

require('../../src/agent/pool/worker.ts');
