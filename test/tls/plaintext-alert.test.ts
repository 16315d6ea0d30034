/**
 * The alert the agent sends when it fails before an engine exists: a plaintext record a real
 * TLS client reads as that fatal alert.
 */
import tls from 'node:tls';
import { plaintextAlertRecord } from '../../src/tls';
import { ALERT_CODES } from '../../src/tls/errors';
import { tcpPair } from '../helpers/loopback';

describe('plaintextAlertRecord', () => {
  it.each(['access_denied', 'handshake_failure', 'internal_error'] as const)('%s is a fatal alert in one TLS 1.3 plaintext record', (alert) => {
    expect([...plaintextAlertRecord(alert)]).toEqual([21, 0x03, 0x03, 0, 2, 2, ALERT_CODES[alert]]);
  });

  it('close_notify and user_canceled are warnings', () => {
    expect(plaintextAlertRecord('close_notify')[5]).toBe(1);
    expect(plaintextAlertRecord('user_canceled')[5]).toBe(1);
  });

  it("OpenSSL's client reports it as the peer's alert", async () => {
    const { server, client, close } = await tcpPair();
    try {
      server.once('data', () => server.write(plaintextAlertRecord('access_denied')));
      const err = await new Promise<Error & { code?: string }>((resolve) => {
        const c = tls.connect({ socket: client, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
        c.once('error', resolve);
        c.once('secureConnect', () => resolve(new Error('handshake completed')));
      });
      expect(err.code).toBe('ERR_SSL_TLSV1_ALERT_ACCESS_DENIED');
    } finally {
      await close();
    }
  });
});
