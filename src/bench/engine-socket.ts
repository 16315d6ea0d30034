/**
 * The smallest loop that runs an engine Connection over a net.Socket, for the benchmark: whole
 * records in, step bytes out, until 'done' or 'failed'. A user-space buffer splits records (the
 * agent's exact reader makes one read(2) per header and body; that syscall cost is not what
 * this benchmark compares).
 */
import type net from 'node:net';
import { MAX_RECORD_BODY, RECORD_HEADER_LEN, type Connection, type Step } from '../tls/api';

export function runEngine(conn: Connection, socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let finished = false;
    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const apply = (step: Step): boolean => {
      if (step.send.length > 0) socket.write(step.send);
      if (step.status === 'done') {
        finish();
        return false;
      }
      if (step.status === 'failed') {
        finish(new Error(`handshake failed: ${step.error?.alert ?? 'unknown'}: ${step.error?.message ?? ''}`));
        return false;
      }
      return true;
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= RECORD_HEADER_LEN) {
        const len = buf.readUInt16BE(3);
        if (len > MAX_RECORD_BODY) return finish(new Error(`record of ${len} bytes announced`));
        if (buf.length < RECORD_HEADER_LEN + len) return;
        const rec = buf.subarray(0, RECORD_HEADER_LEN + len);
        buf = buf.subarray(RECORD_HEADER_LEN + len);
        if (!apply(conn.receiveRecord(rec))) return;
      }
    };
    const onClose = () => finish(new Error('peer closed before the handshake completed'));
    const onError = (e: Error) => finish(e);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
    apply(conn.start());
  });
}
