import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { captureTransport, createLogger, journalPrefix, logHandshake, statusName, stderrIsJournal } from '../../src/agent/logging';
import { Status } from '../../src/agent/request';

describe('logging', () => {
  it('writes journald-friendly text: level, message, key=value, no timestamp or colour', () => {
    const cap = captureTransport();
    const log = createLogger({ format: 'text', level: 'info', transports: [cap.transport], journalPriority: false });
    logHandshake(log, {
      transport: 'kernel',
      role: 'client',
      auth: 'x509',
      peer: '127.0.0.1:2049',
      peername: 'nfs.example',
      suite: 'TLS_AES_128_GCM_SHA256',
      group: 'X25519MLKEM768',
      signatureScheme: 'mldsa65',
      clientSignatureScheme: 'ecdsa_secp256r1_sha256',
      durationMs: 12.345,
      status: Status.OK,
      remoteAuth: [0xffffffff],
    });
    expect(cap.lines).toEqual([
      'info handshake succeeded transport=kernel role=client auth=x509 peer=127.0.0.1:2049 peername=nfs.example ' +
        'suite=TLS_AES_128_GCM_SHA256 group=X25519MLKEM768 signature_scheme=mldsa65 client_signature_scheme=ecdsa_secp256r1_sha256 ' +
        'duration_ms=12.3 status=OK remote_auth=0xffffffff',
    ]);
  });

  it('quotes values with spaces and logs failures at warn', () => {
    const cap = captureTransport();
    const log = createLogger({ format: 'text', level: 'warn', transports: [cap.transport], journalPriority: false });
    logHandshake(log, { transport: 'kernel', role: 'server', auth: 'psk', durationMs: 1, status: Status.EACCES, remoteAuth: [], reason: 'bad certificate here' });
    expect(cap.lines).toHaveLength(1);
    expect(cap.lines[0]).toMatch(/^warn handshake failed .*status=EACCES remote_auth="" reason="bad certificate here"$/);
  });

  it('adds the sd-daemon priority prefix for the journal', () => {
    const cap = captureTransport();
    const log = createLogger({ format: 'text', level: 'debug', transports: [cap.transport], journalPriority: true });
    log.error('boom');
    log.debug('detail', { a: 1 });
    expect(cap.lines).toEqual(['<3>error boom', '<7>debug detail a=1']);
  });

  it('maps levels to syslog priorities so journalctl -p warning shows warn and error only', () => {
    expect(['error', 'warn', 'info', 'debug'].map(journalPrefix)).toEqual(['<3>', '<4>', '<6>', '<7>']);
    const cap = captureTransport();
    const log = createLogger({ format: 'text', level: 'info', transports: [cap.transport], journalPriority: true });
    logHandshake(log, { transport: 'kernel', role: 'server', auth: 'x509', durationMs: 1, status: Status.OK, remoteAuth: [] });
    logHandshake(log, { transport: 'kernel', role: 'server', auth: 'x509', durationMs: 1, status: Status.ETIMEDOUT, remoteAuth: [] });
    expect(cap.lines.map((l) => l.slice(0, 3))).toEqual(['<6>', '<4>']);
    // what journald keeps at priority <= 4 (warning): exactly the failed handshake
    expect(cap.lines.filter((l) => Number(/^<(\d)>/.exec(l)![1]) <= 4)).toEqual([expect.stringMatching(/^<4>warn handshake failed .*status=ETIMEDOUT/)]);
  });

  it('prefixes JSON lines too when the journal reads them (journald strips the prefix)', () => {
    const cap = captureTransport();
    const log = createLogger({ format: 'json', level: 'info', transports: [cap.transport], journalPriority: true });
    log.warn('handshake failed', { status: 'EACCES' });
    expect(cap.lines[0].slice(0, 3)).toBe('<4>');
    expect(JSON.parse(cap.lines[0].slice(3))).toEqual({ level: 'warn', message: 'handshake failed', status: 'EACCES' });
  });

  it('JOURNAL_STREAM counts only when it names the file on stderr (dev:ino), not when merely inherited', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsd-journal-'));
    const file = path.join(dir, 'stream');
    const fd = fs.openSync(file, 'w');
    const other = fs.openSync(path.join(dir, 'other'), 'w');
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      expect(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd)).toBe(true);
      expect(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, other)).toBe(false);
      expect(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` }, fd)).toBe(false);
      expect(stderrIsJournal({}, fd)).toBe(false);
      expect(stderrIsJournal({ JOURNAL_STREAM: 'garbage' }, fd)).toBe(false);
      expect(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, 999)).toBe(false);
    } finally {
      fs.closeSync(fd);
      fs.closeSync(other);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes one JSON object per line with --log-format json', () => {
    const cap = captureTransport();
    const log = createLogger({ format: 'json', level: 'info', transports: [cap.transport] });
    log.info('started', { transport: 'kernel' });
    expect(JSON.parse(cap.lines[0])).toEqual({ level: 'info', message: 'started', transport: 'kernel' });
  });

  it('never prints binary values or key objects, in either format', () => {
    const secret = randomBytes(32);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    for (const format of ['text', 'json'] as const) {
      const cap = captureTransport();
      const log = createLogger({ format, level: 'debug', transports: [cap.transport], journalPriority: false });
      log.debug('oops', { psk: secret, keys: [secret], key: createPrivateKey(pem) });
      const all = cap.lines.join('\n');
      expect(all).toContain('[redacted]');
      expect(all).not.toContain(secret.toString('hex'));
      expect(all).not.toContain(secret.toString('base64'));
      expect(all).not.toMatch(/PRIVATE KEY/);
    }
  });

  it('names status codes', () => {
    expect(statusName(0)).toBe('OK');
    expect(statusName(129)).toBe('EKEYREJECTED');
    expect(statusName(77)).toBe('77');
  });
});

describe('the per-handshake line written without winston', () => {
  const summaries = fc.record(
    {
      transport: fc.constantFrom('kernel', 'unix'),
      role: fc.constantFrom('client' as const, 'server' as const),
      auth: fc.constantFrom('unauth' as const, 'x509' as const, 'psk' as const),
      peer: fc.string({ unit: 'binary' }),
      peername: fc.string(),
      suite: fc.constantFrom('TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256'),
      group: fc.constantFrom('x25519', 'secp256r1'),
      durationMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
      status: fc.constantFrom(Status.OK, Status.EACCES, Status.ETIMEDOUT, 999),
      remoteAuth: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 5 }),
      reason: fc.string({ unit: 'binary' }),
      alert: fc.constantFrom('handshake_failure', 'bad_certificate'),
    },
    { requiredKeys: ['transport', 'role', 'auth', 'durationMs', 'status', 'remoteAuth'] },
  );

  /** What the logger's stderr stream receives while fn runs. */
  function stderrOf(fn: () => void): string {
    const chunks: string[] = [];
    // winston's Console transport writes to console._stderr (process.stderr outside jest).
    const stream = (console as unknown as { _stderr: NodeJS.WriteStream })._stderr;
    const spy = jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(String(chunk));
      return true;
    });
    try {
      fn();
    } finally {
      spy.mockRestore();
    }
    return chunks.join('');
  }

  it.each([
    ['text', false],
    ['text', true],
    ['json', false],
  ] as const)('is byte for byte what winston writes (%s, journal %s)', (format, journalPriority) => {
    const direct = createLogger({ format, level: 'info', journalPriority });
    const viaWinston = createLogger({ format, level: 'info', journalPriority, direct: false });
    const winstonLog = jest.spyOn(direct, 'log');
    fc.assert(
      fc.property(summaries, (s) => {
        const fast = stderrOf(() => logHandshake(direct, s));
        const slow = stderrOf(() => logHandshake(viaWinston, s));
        expect(fast).toBe(slow);
        expect(fast.endsWith('\n')).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect(winstonLog).not.toHaveBeenCalled();
  });

  it('follows the level and leaves added transports to winston', () => {
    const direct = createLogger({ format: 'text', level: 'warn', journalPriority: false });
    const ok = { transport: 'unix', role: 'client' as const, auth: 'psk' as const, durationMs: 1, status: Status.OK, remoteAuth: [] };
    expect(stderrOf(() => logHandshake(direct, ok))).toBe('');
    direct.level = 'info';
    expect(stderrOf(() => logHandshake(direct, ok))).toMatch(/^info handshake succeeded transport=unix /);
    const cap = captureTransport();
    direct.add(cap.transport);
    stderrOf(() => logHandshake(direct, ok));
    expect(cap.lines).toHaveLength(1);
  });
});

describe('records no transport takes', () => {
  it('never reach winston (no formatting, no stream write), while enabled ones still do', () => {
    const cap = captureTransport();
    const log = createLogger({ format: 'text', level: 'info', transports: [cap.transport], journalPriority: false });
    const write = jest.spyOn(log, 'write');
    log.debug('not wanted', { detail: 1 });
    log.log('debug', 'not wanted either', { detail: 2 });
    log.log({ level: 'debug', message: 'nor this' });
    expect(write).not.toHaveBeenCalled();
    log.info('wanted', { detail: 3 });
    expect(write).toHaveBeenCalledTimes(1);
    // A level raised at run time (a reload to debug) lets them through again.
    log.level = 'debug';
    log.debug('now wanted', { detail: 4 });
    expect(cap.lines).toEqual(['info wanted detail=3', 'debug now wanted detail=4']);
  });

  it('follow a transport whose own level is more verbose than the logger\'s', () => {
    const cap = captureTransport();
    cap.transport.level = 'debug';
    const log = createLogger({ format: 'text', level: 'warn', transports: [cap.transport], journalPriority: false });
    log.debug('the transport wants it');
    expect(cap.lines).toEqual(['debug the transport wants it']);
  });

  it('keep a child logger\'s own meta on the records it lets through', () => {
    const cap = captureTransport();
    const log = createLogger({ format: 'text', level: 'info', transports: [cap.transport], journalPriority: false });
    const child = log.child({ netns: 'blue' });
    child.debug('dropped');
    child.info('kept');
    child.log('warn', 'kept too');
    expect(cap.lines).toEqual(['info kept netns=blue', 'warn kept too netns=blue']);
  });
});
