#!/usr/bin/env python3
"""A minimal handshaked unix-transport client: standard library only.

Connects a TCP socket to HOST:PORT, asks a running `handshaked serve --transport unix` to do the
TLS 1.3 handshake on it, and prints the agent's answer. The wire format is docs/unix-transport.md;
this file is a second, independent implementation of it (the first is the Node client library).

    python3 handshake_client.py --agent /run/handshaked/upcall.sock --connect example.org:443 \
        --peername example.org

Exit status: 0 handshake done (status 0), 1 the handshake failed (a positive errno from DONE),
2 the agent refused the request (NLMSG_ERROR), 3 the agent could not be reached or answered
something unexpected.

On status 0 the socket carries kernel TLS (unless the agent runs with --ktls off, a test mode):
what the program writes is encrypted. Reading it needs recvmsg with room for a
TLS_GET_RECORD_TYPE control message (docs/unix-transport.md, "After the handshake").
"""
import argparse
import errno
import os
import socket
import struct
import sys

FAMILY = 0x0100  # nlmsg_type of every unix-transport request and DONE reply
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x01
NLM_F_ACK_TLVS = 0x200
CMD_READY, CMD_DONE = 1, 3
GENL_VERSION = 1
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF  # the top two bits of nla_type are flags

# accept-set attributes (request)
A_HANDLER_CLASS, A_MESSAGE_TYPE, A_TIMEOUT, A_AUTH_MODE = 2, 3, 4, 5
A_PEER_IDENTITY, A_CERTIFICATE, A_PEERNAME, A_KEYRING = 6, 7, 8, 9
X509_CERT, X509_PRIVKEY = 1, 2
# done-set attributes (reply)
D_STATUS, D_REMOTE_AUTH = 1, 3
# extended-ack attributes after an NLMSG_ERROR
EXTACK_MSG, EXTACK_OFFS = 1, 2

HANDLER_TLSHD = 1
MESSAGE_TYPE = {"client": 1, "server": 2}  # clienthello, serverhello
AUTH_MODE = {"unauth": 1, "psk": 2, "x509": 3}


def align4(n):
    return (n + 3) & ~3


def nla(attr_type, payload):
    """One attribute: u16 length (header + payload, unpadded), u16 type, payload, pad to 4."""
    length = 4 + len(payload)
    return struct.pack("=HH", length, attr_type) + payload + b"\0" * (align4(length) - length)


def nla_u32(attr_type, value):
    return nla(attr_type, struct.pack("=I", value))


def ready_packet(seq, args):
    attrs = [
        nla_u32(A_HANDLER_CLASS, HANDLER_TLSHD),
        nla_u32(A_MESSAGE_TYPE, MESSAGE_TYPE[args.role]),
        nla_u32(A_AUTH_MODE, AUTH_MODE[args.auth]),
    ]
    if args.timeout_ms:
        attrs.append(nla_u32(A_TIMEOUT, args.timeout_ms))
    if args.peername:
        attrs.append(nla(A_PEERNAME, args.peername.encode() + b"\0"))
    for serial in args.peer_identity:
        attrs.append(nla_u32(A_PEER_IDENTITY, serial))
    if args.certificate:
        cert, key = (int(x, 0) for x in args.certificate.split(","))
        attrs.append(nla(A_CERTIFICATE | NLA_F_NESTED, nla_u32(X509_CERT, cert) + nla_u32(X509_PRIVKEY, key)))
    if args.keyring:
        attrs.append(nla_u32(A_KEYRING, args.keyring))
    body = struct.pack("=BBH", CMD_READY, GENL_VERSION, 0) + b"".join(attrs)
    # nlmsghdr: u32 length (whole message), u16 type, u16 flags, u32 seq, u32 pid (0)
    return struct.pack("=IHHII", 16 + len(body), FAMILY, NLM_F_REQUEST, seq, 0) + body


def parse_attrs(data):
    """{type: [payload, ...]} for the attributes in data (flag bits masked off the type)."""
    out = {}
    off = 0
    while off + 4 <= len(data):
        length, attr_type = struct.unpack_from("=HH", data, off)
        if length < 4 or off + length > len(data):
            raise ValueError(f"attribute at byte {off} has length {length}, {len(data) - off} bytes left")
        out.setdefault(attr_type & NLA_TYPE_MASK, []).append(data[off + 4 : off + length])
        off += align4(length)
    return out


def parse_reply(packet, seq):
    """('done', status, [remote-auth...]) or ('error', errno, extack message or None)."""
    if len(packet) < 16:
        raise ValueError(f"reply of {len(packet)} bytes is shorter than a netlink header")
    length, msg_type, flags, rseq, _pid = struct.unpack_from("=IHHII", packet)
    if length > len(packet) or length < 16:
        raise ValueError(f"reply says it is {length} bytes, {len(packet)} arrived")
    if rseq != seq:
        raise ValueError(f"reply for request {rseq}, expected {seq}")
    if msg_type == FAMILY:
        cmd, _version, _reserved = struct.unpack_from("=BBH", packet, 16)
        if cmd != CMD_DONE:
            raise ValueError(f"unexpected command {cmd} in a reply")
        attrs = parse_attrs(packet[20:length])  # unknown attributes are ignored on purpose
        status = struct.unpack("=I", attrs[D_STATUS][0])[0] if D_STATUS in attrs else errno.EIO
        remote = [struct.unpack("=I", v)[0] for v in attrs.get(D_REMOTE_AUTH, [])]
        return ("done", status, remote)
    if msg_type == NLMSG_ERROR:
        (err,) = struct.unpack_from("=i", packet, 16)
        # The request's 16-byte header follows the error code; then extack attributes.
        extack = parse_attrs(packet[36:length]) if flags & NLM_F_ACK_TLVS else {}
        msg = extack[EXTACK_MSG][0].split(b"\0", 1)[0].decode(errors="replace") if EXTACK_MSG in extack else None
        return ("error", -err, msg)
    raise ValueError(f"unexpected reply type 0x{msg_type:04x}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agent", default="/run/handshaked/upcall.sock", help="agent socket; @name for the abstract namespace")
    p.add_argument("--connect", required=True, metavar="HOST:PORT", help="the TLS peer")
    p.add_argument("--role", choices=MESSAGE_TYPE, default="client")
    p.add_argument("--auth", choices=AUTH_MODE, default="unauth")
    p.add_argument("--peername", help="server name for SNI and certificate checking")
    p.add_argument("--timeout-ms", type=int, default=0)
    p.add_argument("--peer-identity", type=lambda s: int(s, 0), action="append", default=[], help="PSK key serial (repeatable)")
    p.add_argument("--certificate", metavar="CERT,KEY", help="certificate and private key serials")
    p.add_argument("--keyring", type=lambda s: int(s, 0), default=0)
    args = p.parse_args()

    host, _, port = args.connect.rpartition(":")
    try:
        tcp = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
        address = "\0" + args.agent[1:] if args.agent.startswith("@") else args.agent
        agent = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        agent.settimeout((args.timeout_ms or 60000) / 1000 + 30)
        agent.connect(address)
    except OSError as e:
        print(f"cannot connect: {e}", file=sys.stderr)
        return 3

    seq = int.from_bytes(os.urandom(4), "little") or 1
    with tcp, agent:
        # One packet, the TCP socket's fd attached with SCM_RIGHTS; the agent works on its copy.
        socket.send_fds(agent, [ready_packet(seq, args)], [tcp.fileno()])
        try:
            packet = agent.recv(65536)
        except OSError as e:
            print(f"no reply from the agent: {e}", file=sys.stderr)
            return 3
        if not packet:
            print("the agent closed the connection without a reply", file=sys.stderr)
            return 3
        try:
            kind, code, extra = parse_reply(packet, seq)
        except ValueError as e:
            print(f"bad reply from the agent: {e}", file=sys.stderr)
            return 3
        if kind == "error":
            name = errno.errorcode.get(code, str(code))
            print(f"the agent refused the request: {name} ({code}): {extra or '(no message)'}", file=sys.stderr)
            return 2
        name = "OK" if code == 0 else errno.errorcode.get(code, str(code))
        print(f"status {code} ({name}) remote-auth {' '.join(f'0x{v:08x}' for v in extra) or '-'}")
        return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
