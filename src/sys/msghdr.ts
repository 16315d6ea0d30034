/**
 * struct msghdr, struct iovec and control messages laid out by hand for sendmsg/recvmsg through
 * koffi: the SCM_RIGHTS passing of the unix transport (unix.ts) and the record-type control
 * messages of kernel TLS (tls-record.ts) share this one copy of the layout.
 *
 * Layouts are LP64 Linux (x86-64, arm64): msghdr 56 bytes (msg_iov at 16, msg_iovlen at 24,
 * msg_control at 32, msg_controllen at 40, msg_flags at 48), iovec 16, cmsghdr 16 (cmsg_len is a
 * size_t, then int level and int type); a control message's data starts 16 bytes in and the next
 * message starts at the data length rounded up to 8.
 */
import koffi from 'koffi';

export const MSGHDR_SIZE = 56;
export const IOVEC_SIZE = 16;
export const CMSG_HDR = 16;
const MSG_CONTROLLEN = 40;
const MSG_FLAGS = 48;

/** CMSG_SPACE(n): room one control message with n data bytes takes in the buffer. */
export const cmsgSpace = (n: number): number => CMSG_HDR + ((n + 7) & ~7);
/** CMSG_LEN(n): the cmsg_len field of a control message with n data bytes. */
export const cmsgLen = (n: number): number => CMSG_HDR + n;

/**
 * A msghdr with one iovec over the first `dataLen` bytes of `data` and an optional control
 * buffer. The kernel reaches `iov`, `data` and `control` through raw addresses only: the caller
 * keeps the returned object referenced until the syscall has returned (see `touch`).
 */
export interface RawMsghdr {
  msg: Buffer;
  iov: Buffer;
  control: Buffer | undefined;
  /** Call after the syscall: keeps the buffers alive while koffi converts the arguments. */
  touch(): void;
}

export function buildMsghdr(data: Buffer, control?: Buffer, dataLen = data.length): RawMsghdr {
  const msg = Buffer.alloc(MSGHDR_SIZE);
  const iov = Buffer.alloc(IOVEC_SIZE);
  // koffi.address() of a zero-length Buffer is 0; a NULL base with length 0 is valid.
  iov.writeBigUInt64LE(koffi.address(data), 0);
  iov.writeBigUInt64LE(BigInt(dataLen), 8);
  msg.writeBigUInt64LE(koffi.address(iov), 16);
  msg.writeBigUInt64LE(1n, 24);
  if (control && control.length > 0) {
    msg.writeBigUInt64LE(koffi.address(control), 32);
    msg.writeBigUInt64LE(BigInt(control.length), MSG_CONTROLLEN);
  }
  return {
    msg,
    iov,
    control,
    touch: () => {
      void iov.length;
      void data.length;
      void control?.length;
    },
  };
}

/** Before reusing `m` for another recvmsg: the kernel overwrote msg_controllen and msg_flags. */
export function resetForReceive(m: RawMsghdr): void {
  m.msg.writeBigUInt64LE(BigInt(m.control?.length ?? 0), MSG_CONTROLLEN);
  m.msg.writeInt32LE(0, MSG_FLAGS);
}

/** msg_controllen after recvmsg: how much of the control buffer the kernel filled. */
export function receivedControlLength(m: RawMsghdr): number {
  return Math.min(Number(m.msg.readBigUInt64LE(MSG_CONTROLLEN)), m.control?.length ?? 0);
}

/** msg_flags after recvmsg (MSG_TRUNC, MSG_CTRUNC, MSG_EOR …). */
export function receivedFlags(m: RawMsghdr): number {
  return m.msg.readInt32LE(MSG_FLAGS);
}

/** A control buffer holding one control message of `level`/`type` with `payload` as its data. */
export function encodeCmsg(level: number, type: number, payload: Buffer): Buffer {
  const control = Buffer.alloc(cmsgSpace(payload.length));
  control.writeBigUInt64LE(BigInt(cmsgLen(payload.length)), 0);
  control.writeInt32LE(level, 8);
  control.writeInt32LE(type, 12);
  payload.copy(control, CMSG_HDR);
  return control;
}

export interface Cmsg {
  level: number;
  type: number;
  data: Buffer;
}

/** The control messages in the first `len` bytes of a control buffer; stops at a malformed one. */
export function parseCmsgs(control: Buffer, len: number): Cmsg[] {
  const out: Cmsg[] = [];
  let off = 0;
  while (off + CMSG_HDR <= len) {
    const clen = Number(control.readBigUInt64LE(off));
    if (clen < CMSG_HDR || off + clen > len) break;
    out.push({ level: control.readInt32LE(off + 8), type: control.readInt32LE(off + 12), data: control.subarray(off + CMSG_HDR, off + clen) });
    off += cmsgSpace(clen - CMSG_HDR);
  }
  return out;
}
