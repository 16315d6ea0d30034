/**
 * runHandshake's socket checks (SO_PROTOCOL is TCP, getpeername answers): made once per
 * handshake. A transport that made them on receipt (the unix transport) passes the peer's
 * address in the request and the handshake does not ask the kernel again; without it (the
 * kernel transport) the handshake asks, and a socket that is not TCP or not connected is still
 * refused with its status.
 */
import { defaultConfig } from '../../src/agent/config';
import { runHandshake, type HandshakeEnv, type HandshakeOptions, type RecordChannel } from '../../src/agent/handshake';
import { silentLogger } from '../../src/agent/logging';
import { buildProfiles, profileFor } from '../../src/agent/profiles';
import { Status, type HandshakeRequest } from '../../src/agent/request';
import type { RunContext } from '../../src/agent/run-context';
import { defaultHandshakeEnv } from '../../src/agent/runtime';

const profile = profileFor(buildProfiles(defaultConfig()), undefined);

function ctx(): RunContext {
  const slot = { acquire: async () => undefined, release: () => undefined } as unknown as RunContext['slot'];
  return { signal: new AbortController().signal, deadline: Date.now() + 10000, transport: 'test', peerWait: (read) => read(), slot };
}

/** An env whose socket calls are counted and whose peer hangs up at once (no real socket). */
function countingEnv(protocol: number, peer: { address: string; port: number; family: string } | undefined) {
  const calls = { protocol: 0, peerAddress: 0, channels: 0 };
  const base = defaultHandshakeEnv();
  const channel: RecordChannel = {
    readRecord: () => Promise.reject(Object.assign(new Error('EOF'), { code: 'EOF' })),
    write: () => Promise.resolve(),
    close: () => undefined,
  };
  const env: HandshakeEnv = {
    ...base,
    sys: {
      ...base.sys,
      protocol: () => {
        calls.protocol++;
        return protocol;
      },
      peerAddress: () => {
        calls.peerAddress++;
        return peer;
      },
      getNoDelay: () => true,
      setNoDelay: () => undefined,
      dup: () => 999,
      close: () => undefined,
      send: () => undefined,
    },
    openChannel: () => {
      calls.channels++;
      return channel;
    },
  };
  return { env, calls };
}

const request = (extra: Partial<HandshakeRequest> = {}): HandshakeRequest => ({
  fd: 999,
  role: 'client',
  auth: 'unauth',
  peername: 'server.test',
  peerIdentities: [],
  keySerialsAllowed: true,
  ...extra,
});

const opts: HandshakeOptions = { ktls: 'off', logger: silentLogger() };

describe('runHandshake: socket checks', () => {
  it('with the peer the transport found: no SO_PROTOCOL, no getpeername; the outcome names that peer', async () => {
    const { env, calls } = countingEnv(6, { address: '10.0.0.9', port: 1, family: 'IPv4' });
    const out = await runHandshake(request({ peer: { address: '192.0.2.7', port: 4420, family: 'IPv4' } }), ctx(), profile, env, opts);
    expect(calls).toEqual({ protocol: 0, peerAddress: 0, channels: 1 });
    expect(out.peer).toBe('192.0.2.7:4420');
    // The peer hung up before a record: the same status a disconnected socket gets.
    expect(out.status).toBe(Status.ETIMEDOUT);
  });

  it('an IPv6 peer from the transport is written in brackets', async () => {
    const { env } = countingEnv(6, undefined);
    const out = await runHandshake(request({ peer: { address: '2001:db8::7', port: 4420, family: 'IPv6' } }), ctx(), profile, env, opts);
    expect(out.peer).toBe('[2001:db8::7]:4420');
  });

  it('without it: each asked exactly once', async () => {
    const { env, calls } = countingEnv(6, { address: '10.0.0.9', port: 5, family: 'IPv4' });
    const out = await runHandshake(request(), ctx(), profile, env, opts);
    expect(calls).toEqual({ protocol: 1, peerAddress: 1, channels: 1 });
    expect(out.peer).toBe('10.0.0.9:5');
  });

  it('without it: a socket that is not TCP, or no longer connected, is refused before any channel', async () => {
    const udp = countingEnv(17, { address: '10.0.0.9', port: 5, family: 'IPv4' });
    const notTcp = await runHandshake(request(), ctx(), profile, udp.env, opts);
    expect(notTcp).toMatchObject({ status: Status.EOPNOTSUPP, reason: 'fd 999 is not a TCP socket (protocol 17)' });
    expect(udp.calls.channels).toBe(0);

    const gone = countingEnv(6, undefined);
    const disconnected = await runHandshake(request(), ctx(), profile, gone.env, opts);
    expect(disconnected).toMatchObject({ status: Status.ETIMEDOUT, reason: 'the socket is no longer connected' });
    expect(gone.calls.channels).toBe(0);
  });
});
