"""The few rtnetlink requests of a container's start and exit, spoken
directly over a netlink socket.

pyroute2 costs 130-330 ms to import and about half a millisecond of Python
per request, and a start on a bridge makes seven of them; this is on the
path of every `fastctr run`.  Here a request is a struct.pack of a few
attributes and the requests to one namespace go in one send, so a
container's veth, address and route cost about a millisecond, made in the
calling process (pyroute2 stays in fastctr.net.netd for the rare bridge
and route operations).  A failure is a one-line NetworkError with the
kernel's reason."""
import _socket
import os
import struct

from fastctr.errors import NetworkError
from fastctr.runtime import _core

RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 4, 0, 1
IFF_UP = 0x1
LOOPBACK_INDEX = 1  # lo is the first link of every network namespace
CLONE_NEWNET = 0x40000000

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBi")  # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg
_ERRNO = struct.Struct("=i")
_CREATE = NLM_F_CREATE | NLM_F_EXCL


def _attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length & 3)


def _ifinfo(index=0, up=False):
    flags = IFF_UP if up else 0
    return _IFINFO.pack(_socket.AF_UNSPEC, 0, index, flags, flags)


def _ifname(name):
    return _attr(IFLA_IFNAME, name.encode() + b"\0")


def new_veth(name, master, peer, peer_netns_fd, peer_mac):
    """One RTM_NEWLINK: the pair, `name` enslaved to `master` (an ifindex)
    and up here, `peer` inside the namespace of peer_netns_fd with its MAC:
    made in place, never moved (a move unregisters and registers the link
    again under the rtnl lock).  The peer cannot be brought up in the same
    request (veth_open: ENOTCONN while the pair is half made)."""
    peer_info = (_ifinfo() + _ifname(peer) + _attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
                 + _attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", ""))))
    info = _attr(IFLA_INFO_KIND, b"veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_info))
    body = _ifinfo(up=True) + _ifname(name) + _attr(IFLA_MASTER, struct.pack("=I", master)) + _attr(IFLA_LINKINFO, info)
    return RTM_NEWLINK, _CREATE, body


def set_up(index):
    return RTM_NEWLINK, 0, _ifinfo(index, up=True)


def delete_link(name):
    return RTM_DELLINK, 0, _ifinfo() + _ifname(name)


def new_address(index, address, prefixlen):
    ip = _socket.inet_aton(address)
    return RTM_NEWADDR, _CREATE, (_IFADDR.pack(_socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
                                  + _attr(IFA_LOCAL, ip) + _attr(IFA_ADDRESS, ip))


def new_default_route(gateway):
    rtm = _RTMSG.pack(_socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
    return RTM_NEWROUTE, _CREATE, rtm + _attr(RTA_GATEWAY, _socket.inet_aton(gateway))


class Socket:
    """A NETLINK_ROUTE socket of the namespace it was made in."""

    def __init__(self):
        self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, 0)
        self.seq = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def transact(self, *requests):
        """Send the requests at once, the kernel runs them in order; the
        errno of each (0: done)."""
        data, first = [], self.seq + 1
        for kind, flags, body in requests:
            self.seq += 1
            data.append(_HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, self.seq, 0))
            data.append(body)
        self.sock.sendto(b"".join(data), (0, 0))
        errors = {}
        while len(errors) < len(requests):
            reply = self.sock.recv(65536)
            at = 0
            while at + _HEADER.size <= len(reply):
                length, kind, _, seq, _ = _HEADER.unpack_from(reply, at)
                if kind == NLMSG_ERROR and first <= seq <= self.seq:
                    errors[seq] = -_ERRNO.unpack_from(reply, at + _HEADER.size)[0]
                at += max(_HEADER.size, (length + 3) & ~3)
        return [errors[seq] for seq in range(first, self.seq + 1)]

    def run(self, what, *requests, ok=()):
        """transact; a NetworkError naming `what` for the first failure
        other than the errnos in ok."""
        for err in self.transact(*requests):
            if err and err not in ok:
                raise NetworkError(f"{what}: {os.strerror(err)}")


class Netns:
    """pid's network namespace, or with Netns.new() a new one that this
    process holds: its fd (for new_veth, or a process to join it through
    `path`), and entering it with this thread (`with ns.entered():`)."""

    def __init__(self, pid):
        self.path = f"/proc/{pid}/ns/net"
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise NetworkError(f"network namespace of process {pid}: {e.strerror}") from None

    @classmethod
    def new(cls):
        """A network namespace of its own, made by this thread, which comes
        back to its own at once; it lives while the fd (or a process in it) does."""
        ns = cls.__new__(cls)
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _core.unshare(CLONE_NEWNET)
            try:
                ns.fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            finally:
                _core.setns(home, CLONE_NEWNET, "/proc/thread-self/ns/net")
        finally:
            os.close(home)
        ns.path = f"/proc/{os.getpid()}/fd/{ns.fd}"
        return ns

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def entered(self):
        return _Entered(self)


class _Entered:
    def __init__(self, ns):
        self.ns = ns

    def __enter__(self):
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _core.setns(self.ns.fd, CLONE_NEWNET, self.ns.path)
        except BaseException:
            os.close(self.home)
            raise

    def __exit__(self, *exc):
        try:
            _core.setns(self.home, CLONE_NEWNET, "/proc/thread-self/ns/net")  # our own: cannot fail
        finally:
            os.close(self.home)
