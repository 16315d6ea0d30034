/**
 * Runs an engine Connection over a socket: write what each step says, read exactly one record,
 * feed it, stop at 'done' or 'failed'. Nothing more: it is the smallest loop that lets a real
 * peer talk to the sans-I/O engine.
 */
import { TlsError, type Connection, type ExtractedSecrets, type SessionInfo, type Step } from '../../src/tls/api';
import type { RecordIO } from './record-io';

export type DriveResult =
  | { status: 'done'; secrets: ExtractedSecrets; info: SessionInfo; records: number }
  /** error is the engine's TlsError, or an I/O error (peer closed, timeout) when the engine never failed. */
  | { status: 'failed'; error: Error; records: number };

export async function driveHandshake(conn: Connection, io: RecordIO, timeoutMs = 20000): Promise<DriveResult> {
  let records = 0;
  let step: Step = conn.start();
  for (;;) {
    if (step.send.length > 0) {
      try {
        await io.write(step.send);
      } catch (err) {
        // The peer may hang up before our alert lands; the engine's verdict still stands.
        if (step.status !== 'failed') return { status: 'failed', error: err as Error, records };
      }
    }
    if (step.status === 'done') {
      return { status: 'done', secrets: conn.secrets(), info: conn.info(), records };
    }
    if (step.status === 'failed') {
      return { status: 'failed', error: step.error ?? new TlsError('internal_error', 'engine failed without an error'), records };
    }
    let record: Buffer;
    try {
      record = await io.readRecord(timeoutMs);
    } catch (err) {
      return { status: 'failed', error: err as Error, records };
    }
    records++;
    step = conn.receiveRecord(record);
  }
}

/** Narrows a DriveResult to success, with the failure's message in the thrown error. */
export function expectDone(r: DriveResult): Extract<DriveResult, { status: 'done' }> {
  if (r.status !== 'done') {
    const e = r.error;
    const detail = e instanceof TlsError ? `${e.alert}${e.peerAlert ? ' (from peer)' : ''}: ${e.message}` : e.message;
    throw new Error(`handshake failed: ${detail}`);
  }
  return r;
}

/** The TlsError a failed handshake ended with; throws when it succeeded or failed without one. */
export function expectTlsFailure(r: DriveResult): TlsError {
  if (r.status === 'done') throw new Error('handshake succeeded but was expected to fail');
  if (!(r.error instanceof TlsError)) throw new Error(`handshake failed without a TlsError: ${r.error.message}`);
  return r.error;
}
