/**
 * Reading a kTLS socket the way the kernel's own consumers do: recvmsg with room for the
 * TLS_GET_RECORD_TYPE control message, so records other than application data (a server's
 * NewSessionTickets after the handshake) can be told apart and skipped. Node's socket reads
 * pass no control buffer, and the kernel then fails them with EIO at the first such record:
 * that is what the real kernel showed for every case where a Node or OpenSSL server was the peer.
 */
import koffi from 'koffi';
import { Errno } from '../sys/errno';
import { libc } from '../sys/libc';

const SOL_TLS = 282;
const TLS_GET_RECORD_TYPE = 2;
const MSG_DONTWAIT = 0x40;
export const RECORD_HANDSHAKE = 22;
export const RECORD_APPLICATION_DATA = 23;

// LP64 Linux layouts: msghdr 56 bytes, iovec 16, cmsghdr 16 (+ 1 byte of data, padded to 8).
const recvmsgFn = libc.func('intptr_t recvmsg(int fd, void *msg, int flags)');

export interface KtlsRecord {
  /** TLS content type: 23 application data, 22 handshake, 21 alert. */
  type: number;
  data: Buffer;
}

/** One read: a record's bytes and type, undefined when nothing is queued, null at EOF. */
export function readKtls(fd: number, maxLen = 16384): KtlsRecord | null | undefined {
  const buf = Buffer.alloc(maxLen);
  const control = Buffer.alloc(24);
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(koffi.address(buf), 0);
  iov.writeBigUInt64LE(BigInt(maxLen), 8);
  const msg = Buffer.alloc(56);
  msg.writeBigUInt64LE(koffi.address(iov), 16);
  msg.writeBigUInt64LE(1n, 24);
  msg.writeBigUInt64LE(koffi.address(control), 32);
  msg.writeBigUInt64LE(BigInt(control.length), 40);
  let n: number;
  for (;;) {
    n = Number(recvmsgFn(fd, msg, MSG_DONTWAIT));
    if (n >= 0) break;
    const errno = koffi.errno();
    if (errno === Errno.EINTR) continue;
    if (errno === Errno.EAGAIN) return undefined;
    throw new Error(`recvmsg on the kTLS socket failed: errno ${errno}`);
  }
  void iov.length; // kept alive: reached only through its raw address
  let type = RECORD_APPLICATION_DATA;
  const clen = Number(msg.readBigUInt64LE(40));
  if (clen >= 17 && control.readInt32LE(8) === SOL_TLS && control.readInt32LE(12) === TLS_GET_RECORD_TYPE) type = control[16];
  if (n === 0 && type === RECORD_APPLICATION_DATA) return null;
  return { type, data: Buffer.from(buf.subarray(0, n)) };
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
