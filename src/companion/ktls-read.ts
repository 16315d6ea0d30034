/**
 * Reading a kTLS socket the way the kernel's own consumers do: recvmsg with room for the
 * TLS_GET_RECORD_TYPE control message, so records other than application data (a server's
 * NewSessionTickets after the handshake) can be told apart and skipped. Node's socket reads
 * pass no control buffer, and the kernel then fails them with EIO at the first such record:
 * that is what the real kernel showed for every case where a Node or OpenSSL server was the peer.
 * The recvmsg binding itself is src/sys/tls-record.ts, shared with the client library's stream.
 */
import { RecordType, recvRecord } from '../sys/tls-record';

const RECORD_HANDSHAKE = RecordType.HANDSHAKE;
const RECORD_APPLICATION_DATA = RecordType.APPLICATION_DATA;

export interface KtlsRecord {
  /** TLS content type: 23 application data, 22 handshake, 21 alert. */
  type: number;
  data: Buffer;
}

/** One read: a record's bytes and type, undefined when nothing is queued, null at EOF. */
function readKtls(fd: number, maxLen = 16384): KtlsRecord | null | undefined {
  const buf = Buffer.alloc(maxLen);
  const r = recvRecord(fd, buf);
  if (!r) return r;
  return { type: r.type, data: Buffer.from(buf.subarray(0, r.length)) };
}

/**
 * Application data from a kTLS socket until a newline, skipping handshake records (tickets);
 * polls, since Node's event loop must not read this fd. Resolves with the line and the number
 * of records skipped.
 */
export async function readKtlsLine(fd: number, timeoutMs: number): Promise<{ line: string; skipped: number }> {
  const deadline = Date.now() + timeoutMs;
  let got = '';
  let skipped = 0;
  while (Date.now() < deadline) {
    const r = readKtls(fd);
    if (r === null) throw new Error(`the peer closed the connection after ${JSON.stringify(got)}`);
    if (r === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      continue;
    }
    if (r.type === RECORD_HANDSHAKE) {
      skipped++;
      continue;
    }
    if (r.type !== RECORD_APPLICATION_DATA) throw new Error(`kTLS delivered a record of type ${r.type} (21 = alert) instead of data`);
    got += r.data.toString();
    if (got.includes('\n')) return { line: got.trim(), skipped };
  }
  throw new Error(`data through kTLS: only ${JSON.stringify(got)} within ${timeoutMs} ms (${skipped} handshake records skipped)`);
}
