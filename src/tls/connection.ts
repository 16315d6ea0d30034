/**
 * The Connection both roles hand out: feeds records through the record layer into the
 * current state, collects what to send, and turns every failure into an alert and a
 * 'failed' step. After 'done' or 'failed' it accepts nothing more.
 */
import { TlsError, type AlertName, type Connection, type ExtractedSecrets, type SessionInfo, type Step } from './api';
import { asTlsError } from './errors';
import type { Session } from './session';
import type { State } from './state';

export class Engine implements Connection {
  private failure?: TlsError;
  private started = false;
  /** RFC 8446 §5 allows dropping CCS records; more than a handful is abuse. */
  private ccsSeen = 0;

  constructor(
    private readonly s: Session,
    private state: State,
    private readonly begin: () => State,
  ) {}

  start(): Step {
    if (this.started) return this.failWith(new TlsError('internal_error', 'start() called twice'));
    this.started = true;
    return this.run(() => {
      this.state = this.begin();
    });
  }

  receiveRecord(record: Buffer): Step {
    if (this.failure) return { send: Buffer.alloc(0), status: 'failed', error: this.failure };
    if (this.state.done) {
      return this.failWith(new TlsError('unexpected_message', 'record received after the handshake completed'), false);
    }
    if (!this.started) return this.failWith(new TlsError('internal_error', 'receiveRecord() before start()'), false);
    return this.run(() => {
      const got = this.s.records.receive(record);
      if (got.kind === 'change_cipher_spec') {
        // Server: only after a ClientHello; both: only before the peer's Finished.
        if (!this.state.acceptsCcs) throw new TlsError('unexpected_message', `change_cipher_spec in state ${this.state.name}`);
        if (++this.ccsSeen > 1) throw new TlsError('unexpected_message', 'more than one change_cipher_spec');
        return;
      }
      if (got.kind === 'skipped') return;
      if (got.kind === 'application_data') {
        throw new TlsError('unexpected_message', `application data during the handshake (state ${this.state.name})`);
      }
      for (let msg = this.s.records.nextMessage(); msg; msg = this.s.records.nextMessage()) {
        this.state = this.state.handle(msg);
        if (this.state.done && this.s.records.buffered > 0) {
          throw new TlsError('unexpected_message', 'handshake data after the final Finished');
        }
      }
    });
  }

  private run(body: () => void): Step {
    try {
      body();
    } catch (err) {
      return this.failWith(asTlsError(err));
    }
    return { send: this.s.records.takeOutput(), status: this.state.done ? 'done' : 'continue' };
  }

  private failWith(err: TlsError, sendAlert = true): Step {
    this.failure = err;
    // Keep anything queued before the failure (e.g. nothing) and append our alert, if owed.
    let send = this.s.records.takeOutput();
    if (sendAlert && !err.peerAlert) {
      try {
        this.s.records.sendAlert(err.alert);
        send = Buffer.concat([send, this.s.records.takeOutput()]);
      } catch {
        // An alert we cannot protect is not sent.
      }
    }
    return { send, status: 'failed', error: err };
  }

  secrets(): ExtractedSecrets {
    if (!this.state.done || !this.s.secrets) throw new Error('secrets() before the handshake completed');
    return this.s.secrets;
  }

  info(): SessionInfo {
    const s = this.s;
    if (!s.suite) throw new Error('info() before a cipher suite was negotiated');
    return {
      suite: s.suite.name,
      group: s.group,
      signatureScheme: s.signatureScheme,
      peerCertificates: s.peerCertificates,
      peerVerified: s.peerVerified,
      psk: s.psk,
      alpn: s.alpn,
      serverName: s.serverName,
      helloRetry: s.helloRetry,
    };
  }

  abort(alert: AlertName): Buffer {
    const done = this.state.done && !this.failure && this.s.secrets && this.s.suite;
    if (!this.failure) this.failure = new TlsError(alert, `handshake aborted locally (${alert})`);
    this.s.records.takeOutput();
    if (done && this.s.secrets && this.s.suite) {
      // After 'done' the peer reads with the application keys (e.g. kTLS setup failed).
      const tx = this.s.secrets.tx;
      this.s.records.setWriteKeys(this.s.suite, { key: tx.key, iv: tx.iv }, tx.seq);
    }
    this.s.records.sendAlert(alert);
    return this.s.records.takeOutput();
  }

  /** For diagnostics and tests. */
  get stateName(): string {
    return this.failure ? 'Failed' : this.state.name;
  }

}
