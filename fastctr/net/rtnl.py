"""The few rtnetlink requests of a container's start and exit, spoken
directly over a netlink socket.

pyroute2 costs 130-330 ms to import and about half a millisecond of Python
per request, and a start on a bridge makes seven of them; this is on the
path of every `fastctr run`.  Here a request is a few attributes in bytes
and the requests to one namespace go in one write, so a container's veth,
address and route cost about a millisecond, made in the calling process
(pyroute2 stays in fastctr.net.netd for the rare bridge and route
operations).  The socket is a bare fd from fastctr.runtime._core and the
messages are built with int.to_bytes: the socket and struct modules cost
~0.6 ms to import, on every start on a bridge.  A failure is a one-line
NetworkError with the kernel's reason."""
import os
import sys

from fastctr.errors import NetworkError
from fastctr.runtime import _core

RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
AF_UNSPEC, AF_INET = 0, 2
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 4, 0, 1
IFF_UP = 0x1
LOOPBACK_INDEX = 1  # lo is the first link of every network namespace
CLONE_NEWNET = 0x40000000
HEADER_SIZE = 16  # nlmsghdr: length, type, flags, sequence, port
_CREATE = NLM_F_CREATE | NLM_F_EXCL
_ORDER = sys.byteorder  # netlink speaks the host's byte order


def _u8(n):
    return n.to_bytes(1, _ORDER)


def _u16(n):
    return n.to_bytes(2, _ORDER)


def _u32(n):
    return n.to_bytes(4, _ORDER)


def _field(data, at, size):
    return int.from_bytes(data[at:at + size], _ORDER)


def ipv4(address):
    """a.b.c.d -> its four bytes (socket.inet_aton, without the module)."""
    parts = address.split(".")
    try:
        raw = bytes(int(p) for p in parts)
    except ValueError:
        raw = b""
    if len(raw) != 4 or len(parts) != 4:
        raise NetworkError(f"invalid IPv4 address {address!r}")
    return raw


def _attr(kind, payload):
    length = 4 + len(payload)
    return _u16(length) + _u16(kind) + payload + b"\0" * (-length & 3)


def _ifinfo(index=0, up=False):
    """ifinfomsg: family, pad, type, index, flags, change."""
    flags = IFF_UP if up else 0
    return _u8(AF_UNSPEC) + b"\0" + _u16(0) + index.to_bytes(4, _ORDER, signed=True) + _u32(flags) + _u32(flags)


def _ifname(name):
    return _attr(IFLA_IFNAME, name.encode() + b"\0")


def new_veth(name, master, peer, peer_netns_fd, peer_mac):
    """One RTM_NEWLINK: the pair, `name` enslaved to `master` (an ifindex)
    and up here, `peer` inside the namespace of peer_netns_fd with its MAC:
    made in place, never moved (a move unregisters and registers the link
    again under the rtnl lock).  The peer cannot be brought up in the same
    request (veth_open: ENOTCONN while the pair is half made)."""
    peer_info = (_ifinfo() + _ifname(peer) + _attr(IFLA_NET_NS_FD, _u32(peer_netns_fd))
                 + _attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", ""))))
    info = _attr(IFLA_INFO_KIND, b"veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_info))
    body = _ifinfo(up=True) + _ifname(name) + _attr(IFLA_MASTER, _u32(master)) + _attr(IFLA_LINKINFO, info)
    return RTM_NEWLINK, _CREATE, body


def set_up(index):
    return RTM_NEWLINK, 0, _ifinfo(index, up=True)


def delete_link(name):
    return RTM_DELLINK, 0, _ifinfo() + _ifname(name)


def new_address(index, address, prefixlen):
    """ifaddrmsg: family, prefix length, flags, scope, index; then the address twice."""
    ip = ipv4(address)
    return RTM_NEWADDR, _CREATE, (bytes((AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE)) + _u32(index)
                                  + _attr(IFA_LOCAL, ip) + _attr(IFA_ADDRESS, ip))


def new_default_route(gateway):
    """rtmsg: family, dst/src length, tos, table, protocol, scope, type, flags."""
    rtm = bytes((AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST)) + _u32(0)
    return RTM_NEWROUTE, _CREATE, rtm + _attr(RTA_GATEWAY, ipv4(gateway))


class Socket:
    """A NETLINK_ROUTE socket of the namespace it was made in."""

    def __init__(self):
        self.fd = _core.rtnetlink_socket()
        self.seq = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def index(self, name):
        """The ifindex of link `name` in the socket's namespace; None: none."""
        return _core.ifindex(self.fd, name)

    def transact(self, *requests):
        """Send the requests at once, the kernel runs them in order; the
        errno of each (0: done)."""
        data, first = [], self.seq + 1
        for kind, flags, body in requests:
            self.seq += 1
            data.append(_u32(HEADER_SIZE + len(body)) + _u16(kind) + _u16(NLM_F_REQUEST | NLM_F_ACK | flags)
                        + _u32(self.seq) + _u32(0))
            data.append(body)
        os.write(self.fd, b"".join(data))  # unbound and unconnected: to the kernel
        errors = {}
        while len(errors) < len(requests):
            reply = os.read(self.fd, 65536)
            at = 0
            while at + HEADER_SIZE <= len(reply):
                length, kind, seq = _field(reply, at, 4), _field(reply, at + 4, 2), _field(reply, at + 8, 4)
                if kind == NLMSG_ERROR and first <= seq <= self.seq:
                    errors[seq] = -int.from_bytes(reply[at + HEADER_SIZE:at + HEADER_SIZE + 4], _ORDER, signed=True)
                at += max(HEADER_SIZE, (length + 3) & ~3)
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
    `path`), and a netlink socket in it (`socket()`)."""

    def __init__(self, pid):
        self.path = f"/proc/{pid}/ns/net"
        self._socket = None
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise NetworkError(f"network namespace of process {pid}: {e.strerror}") from None

    @classmethod
    def new(cls):
        """A network namespace of its own, made by this thread, which comes
        back to its own at once; it lives while the fd (or a process in it)
        does.  Its netlink socket is made while we are in it: no second
        entry to configure it."""
        ns = cls.__new__(cls)
        ns.fd, ns._socket = -1, None
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _core.unshare(CLONE_NEWNET)
            try:
                ns.fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                ns._socket = Socket()
            finally:
                _core.setns(home, CLONE_NEWNET, "/proc/thread-self/ns/net")
        except BaseException:
            ns.close()
            raise
        finally:
            os.close(home)
        ns.path = f"/proc/{os.getpid()}/fd/{ns.fd}"
        return ns

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def socket(self):
        """A netlink socket of this namespace (kept until close)."""
        if self._socket is None:
            with self.entered():
                self._socket = Socket()
        return self._socket

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
