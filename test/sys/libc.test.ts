import * as fs from 'node:fs';
import koffi from 'koffi';
import {
  AF_UNIX,
  SOCK_CLOEXEC,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  SOL_SOCKET,
  SO_SNDBUF,
  FD_CLOEXEC,
  O_NONBLOCK,
  IPPROTO_TCP,
  SysError,
  close,
  dup,
  getFdFlags,
  getPeerCred,
  getSocketProtocol,
  getSocketType,
  getStatusFlags,
  getTcpNoDelay,
  getpeername,
  getsockname,
  getsockoptInt,
  isFdOpen,
  bytesReadable,
  parseSockaddr,
  recv,
  send,
  setNonBlocking,
  setTcpNoDelay,
  setsockoptInt,
  socketpair,
  MSG_DONTWAIT,
  inet4Address,
  tcpLoopbackPair,
  sysCall,
  sysCallUnless,
} from '../../src/sys/libc';
import { Errno, errnoName } from '../../src/sys/errno';
import { socketFd } from '../../src/sys/socket-fd';
import { tcpPair } from '../helpers/loopback';
import { thrownBy } from '../helpers/thrown';

describe('libc bindings', () => {
  test('errno names', () => {
    expect(errnoName(9)).toBe('EBADF');
    expect(errnoName(126)).toBe('ENOKEY');
    expect(errnoName(4000)).toBe('E4000');
  });

  test('socketpair, dup, flags, isFdOpen, close', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
    try {
      expect(getSocketType(a)).toBe(SOCK_SEQPACKET);
      expect(getFdFlags(a) & FD_CLOEXEC).toBe(FD_CLOEXEC);
      const d = dup(a);
      expect(d).toBeGreaterThanOrEqual(3);
      expect(d).not.toBe(a);
      expect(getFdFlags(d) & FD_CLOEXEC).toBe(FD_CLOEXEC);
      // status flags are shared by the open file: set on the dup, visible on the original
      setNonBlocking(d, true);
      expect(getStatusFlags(a) & O_NONBLOCK).toBe(O_NONBLOCK);
      setNonBlocking(d, false);
      expect(getStatusFlags(a) & O_NONBLOCK).toBe(0);
      expect(isFdOpen(d)).toBe(true);
      close(d);
      expect(isFdOpen(d)).toBe(false);
      const cred = getPeerCred(a);
      expect(cred).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
      expect(send(a, Buffer.from('hi'))).toBe(2);
      expect(bytesReadable(b)).toBe(2);
      const buf = Buffer.alloc(10);
      expect(recv(b, buf, MSG_DONTWAIT)).toBe(2);
      expect(buf.subarray(0, 2).toString()).toBe('hi');
      expect(() => recv(b, buf, MSG_DONTWAIT)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    } finally {
      close(a);
      close(b);
    }
  });

  test('errors carry errno, code and syscall', () => {
    const err = thrownBy(SysError, () => close(987654));
    expect(err).toMatchObject({ errno: 9, code: 'EBADF', syscall: 'close' });
    expect(err.message).toMatch(/close.*EBADF/);
    expect(() => dup(987654)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(isFdOpen(-1)).toBe(false);
    const fd = fs.openSync('/dev/null', 'r');
    try {
      expect(() => getSocketType(fd)).toThrow(expect.objectContaining({ code: 'ENOTSOCK', syscall: 'getsockopt' }));
    } finally {
      fs.closeSync(fd);
    }
  });

  test('TCP: protocol, names, TCP_NODELAY, int options', async () => {
    const { client: a, server: b, close } = await tcpPair();
    try {
      const fd = socketFd(a);
      expect(getSocketProtocol(fd)).toBe(IPPROTO_TCP);
      expect(getSocketType(fd)).toBe(SOCK_STREAM);
      const peer = getpeername(fd);
      const local = getsockname(fd);
      expect(peer).toEqual({ family: 'IPv4', address: '127.0.0.1', port: b.localPort });
      expect(local).toEqual({ family: 'IPv4', address: '127.0.0.1', port: a.localPort });
      setTcpNoDelay(fd, false);
      expect(getTcpNoDelay(fd)).toBe(false);
      setTcpNoDelay(fd, true);
      expect(getTcpNoDelay(fd)).toBe(true);
      setsockoptInt(fd, SOL_SOCKET, SO_SNDBUF, 65536);
      expect(getsockoptInt(fd, SOL_SOCKET, SO_SNDBUF)).toBe(131072);
    } finally {
      await close();
    }
  });

  test('IPv6 names', async () => {
    const { client, server, close } = await tcpPair({ host: '::1' });
    try {
      expect(getpeername(socketFd(client))).toEqual({ family: 'IPv6', address: '::1', port: server.localPort });
    } finally {
      await close();
    }
  });

  test('sockaddr decoding', () => {
    const v6 = Buffer.alloc(28);
    v6.writeUInt16LE(10, 0);
    v6.writeUInt16BE(443, 2);
    Buffer.from('20010db8000000000001000000000001', 'hex').copy(v6, 8);
    expect(parseSockaddr(v6, 28)).toEqual({ family: 'IPv6', address: '2001:db8::1:0:0:1', port: 443 });
    Buffer.from('00000000000000000000ffff7f000001', 'hex').copy(v6, 8);
    expect(parseSockaddr(v6, 28).address).toBe('::ffff:127.0.0.1');
    const un = Buffer.alloc(20);
    un.writeUInt16LE(AF_UNIX, 0);
    un.write('\0abc', 2, 'latin1');
    expect(parseSockaddr(un, 6)).toEqual({ family: 'unix', address: '@abc', port: 0 });
    un.write('/tmp/x\0', 2);
    expect(parseSockaddr(un, 9)).toEqual({ family: 'unix', address: '/tmp/x', port: 0 });
  });
});

describe('inet helpers', () => {
  test('tcpLoopbackPair gives a connected TCP pair', () => {
    const [c, s] = tcpLoopbackPair();
    try {
      expect(getSocketProtocol(c)).toBe(IPPROTO_TCP);
      expect(getpeername(c)).toEqual(getsockname(s));
      expect(getpeername(s)).toEqual(getsockname(c));
      expect(send(c, Buffer.from('ping'))).toBe(4);
      const buf = Buffer.alloc(8);
      expect(recv(s, buf)).toBe(4);
      expect(buf.subarray(0, 4).toString()).toBe('ping');
    } finally {
      close(c);
      close(s);
    }
    expect(isFdOpen(c)).toBe(false);
  });

  test('inet4Address encodes sockaddr_in and rejects non-addresses', () => {
    expect(inet4Address('10.1.2.3', 443).toString('hex')).toBe('0200' + '01bb' + '0a010203' + '0000000000000000');
    expect(() => inet4Address('10.1.2', 1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => inet4Address('::1', 1)).toThrow(SysError);
  });
});

describe('sysCall', () => {
  it('a failure that left errno 0 is still a SysError, never a result', () => {
    const call = () =>
      sysCall('test_call', () => {
        koffi.errno(0);
        return -1;
      });
    expect(call).toThrow(SysError);
  });

  it('sysCallUnless answers undefined only for the errno it expects', () => {
    const failWith = (errno: number) => () => {
      koffi.errno(errno);
      return -1;
    };
    expect(sysCallUnless(Errno.ENOKEY, 'test_call', failWith(Errno.ENOKEY))).toBeUndefined();
    expect(() => sysCallUnless(Errno.ENOKEY, 'test_call', failWith(Errno.EACCES))).toThrow(SysError);
  });
});
