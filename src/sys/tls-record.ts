/**
 * Reading and writing a kernel-TLS socket record type by record type.
 *
 * The kernel decrypts every record, but it hands a reader only records of one content type per
 * call and says which in a TLS_GET_RECORD_TYPE control message (level SOL_TLS, one byte of
 * data). A read without room for that message gets application data only; at the first other
 * record (a NewSessionTicket, an alert) it fails with EIO, and that is all Node's own socket
 * reads can ever see. So a reader that must survive post-handshake messages calls recvmsg with a
 * control buffer, as the kernel's in-tree consumers do.
 *
 * Sending works the other way round: a sendmsg with a TLS_SET_RECORD_TYPE control message sends
 * its data as one record of that type (how a close_notify alert goes out); without it, data is
 * application data.
 *
 * Both calls never block (MSG_DONTWAIT): the caller waits for readiness on the event loop.
 */
import koffi from 'koffi';
import { Errno } from './errno';
import { C, MSG_DONTWAIT, MSG_NOSIGNAL, SOL_TCP, SOL_TLS, SysError, TCP_ULP, getsockoptBytes } from './libc';
import { buildMsghdr, cmsgSpace, encodeCmsg, parseCmsgs, receivedControlLength } from './msghdr';

export const TLS_SET_RECORD_TYPE = 1;
export const TLS_GET_RECORD_TYPE = 2;

/** TLS content types (RFC 8446 §5.1). */
export const RecordType = {
  ALERT: 21,
  HANDSHAKE: 22,
  APPLICATION_DATA: 23,
} as const;

const SHUT_WR = 1;

export interface ReceivedRecord {
  /** TLS content type of every byte in this read: 23 application data, 22 handshake, 21 alert. */
  type: number;
  /** Bytes written at the start of the caller's buffer. */
  length: number;
}

/**
 * One recvmsg into `buf`: bytes of a single record type. Undefined when nothing is ready (EAGAIN),
 * null at the end of the TCP stream. A socket without kTLS (no control message comes back) reads
 * as application data. Throws SysError for anything else: EBADMSG for a record that failed
 * authentication, EKEYEXPIRED on kernels that pause reading after a peer's KeyUpdate, …
 */
export function recvRecord(fd: number, buf: Buffer): ReceivedRecord | null | undefined {
  const m = buildMsghdr(buf, Buffer.alloc(cmsgSpace(1)));
  let n: number;
  for (;;) {
    n = Number(C.recvmsg(fd, m.msg, MSG_DONTWAIT));
    if (n >= 0) break;
    const errno = koffi.errno();
    if (errno === Errno.EINTR) continue;
    if (errno === Errno.EAGAIN) return undefined;
    throw new SysError('recvmsg', errno, `kTLS socket fd ${fd}`);
  }
  m.touch();
  let type: number = RecordType.APPLICATION_DATA;
  for (const c of parseCmsgs(m.control!, receivedControlLength(m))) {
    if (c.level === SOL_TLS && c.type === TLS_GET_RECORD_TYPE && c.data.length >= 1) type = c.data[0];
  }
  if (n === 0 && type === RecordType.APPLICATION_DATA) return null;
  return { type, length: n };
}

/**
 * Send `data` as one record of content `type` (TLS_SET_RECORD_TYPE). Returns the bytes the
 * kernel took, or undefined when the socket buffer is full (EAGAIN).
 */
export function sendRecord(fd: number, type: number, data: Buffer): number | undefined {
  const m = buildMsghdr(data, encodeCmsg(SOL_TLS, TLS_SET_RECORD_TYPE, Buffer.from([type])));
  return sendOrAgain(fd, m.msg, () => m.touch());
}

/** send(2) of application data; bytes taken, or undefined when the socket buffer is full. */
export function sendData(fd: number, data: Buffer): number | undefined {
  const m = buildMsghdr(data);
  return sendOrAgain(fd, m.msg, () => m.touch());
}

function sendOrAgain(fd: number, msg: Buffer, touch: () => void): number | undefined {
  for (;;) {
    const n = Number(C.sendmsg(fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL));
    if (n >= 0) {
      touch();
      return n;
    }
    const errno = koffi.errno();
    if (errno === Errno.EINTR) continue;
    touch();
    if (errno === Errno.EAGAIN) return undefined;
    throw new SysError('sendmsg', errno, `kTLS socket fd ${fd}`);
  }
}

/** shutdown(SHUT_WR): the TCP FIN after our close_notify. ENOTCONN (peer already gone) is ignored. */
export function shutdownWrite(fd: number): void {
  if (C.shutdown(fd, SHUT_WR) === 0) return;
  const errno = koffi.errno();
  if (errno !== Errno.ENOTCONN) throw new SysError('shutdown', errno, `fd ${fd}`);
}

/** True when the socket carries the kernel's "tls" upper-layer protocol (kTLS was installed). */
export function hasKtls(fd: number): boolean {
  try {
    const name = getsockoptBytes(fd, SOL_TCP, TCP_ULP, 16);
    const end = name.indexOf(0);
    return name.subarray(0, end < 0 ? name.length : end).toString('latin1') === 'tls';
  } catch {
    // not a TCP socket, or a kernel without ULPs: no kTLS either way
    return false;
  }
}
