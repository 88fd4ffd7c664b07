"""Container networking after libnetwork's model, through pyroute2 (netlink).

Network = a Linux bridge with the gateway address; Endpoint = a veth pair
whose container end is created directly inside the container's network
namespace (moving a link between namespaces costs an extra unregister/
register under rtnl); Sandbox = the container's namespace with eth0, lo,
a default route (its /etc files: fastctr.engine.netflags).
NAT lives in one nftables table (fastctr.nat).  NetlinkError becomes a
NetworkError at this module's edge."""
import ipaddress
import os

from fastctr.net import nat
from fastctr.net.ipam import NetworkError


def _iproute(**kw):
    from pyroute2 import IPRoute  # ~0.3 s to import: only when a network is used
    return IPRoute(**kw)


def _netlink(what):
    """Translate pyroute2's errors into a one-line NetworkError."""
    class _Guard:
        def __enter__(self):
            return self

        def __exit__(self, kind, exc, tb):
            from pyroute2 import NetlinkError
            if isinstance(exc, NetlinkError):
                raise NetworkError(f"{what}: {os.strerror(exc.code)}") from None
            return False
    return _Guard()


def _write_sysctl(path, value):
    with open(path, "w") as f:
        f.write(value)


def ensure_bridge(net):
    """The network's bridge with its gateway address, up; forwarding on."""
    prefix = ipaddress.ip_network(net["subnet"]).prefixlen
    with _netlink(f"create bridge {net['bridge']}"), _iproute() as ipr:
        found = ipr.link_lookup(ifname=net["bridge"])
        if not found:
            ipr.link("add", ifname=net["bridge"], kind="bridge")
            found = ipr.link_lookup(ifname=net["bridge"])
            ipr.addr("add", index=found[0], address=net["gateway"], prefixlen=prefix)
        ipr.link("set", index=found[0], state="up")
    _write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    # Published ports reached on 127.0.0.1 are routed to the bridge.
    _write_sysctl(f"/proc/sys/net/ipv4/conf/{net['bridge']}/route_localnet", "1")


def used_subnets():
    """The IPv4 subnets this namespace uses: of every address and of every
    route but the default one (Docker's checkRouteOverlaps), so a new
    network never shadows a network the host reaches (dockerd's docker0, a
    VPN, the LAN)."""
    import socket
    out = set()
    with _netlink("list addresses and routes"), _iproute() as ipr:
        for msg in ipr.get_addr(family=socket.AF_INET):
            out.add(str(ipaddress.ip_network(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}", strict=False)))
        for msg in ipr.get_routes(family=socket.AF_INET, table=254):
            if msg["dst_len"] and msg.get_attr("RTA_DST"):
                out.add(str(ipaddress.ip_network(f"{msg.get_attr('RTA_DST')}/{msg['dst_len']}", strict=False)))
    return sorted(out)


def delete_bridge(net):
    with _netlink(f"delete bridge {net['bridge']}"), _iproute() as ipr:
        for index in ipr.link_lookup(ifname=net["bridge"]):
            ipr.link("del", index=index)


def host_ifname(cid, network_id):
    return "fv" + cid[:7] + network_id[:6]  # IFNAMSIZ: at most 15 characters


class _InNetns:
    """Switch this thread into pid's network namespace and back.  pyroute2's
    own IPRoute(netns=) forks a process to make the socket (~30 ms)."""
    _libc = None

    def __init__(self, pid):
        self.target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    def _setns(self, fd):
        import ctypes
        if _InNetns._libc is None:
            _InNetns._libc = ctypes.CDLL(None, use_errno=True)
        if _InNetns._libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            err = ctypes.get_errno()
            raise OSError(err, f"setns(net): {os.strerror(err)}")

    def __enter__(self):
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._setns(self.target)
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self._setns(self.home)  # must not fail: we hold the fd of our own namespace
        finally:
            self._close()

    def _close(self):
        os.close(self.target)
        os.close(self.home)


def attach(net, cid, pid, address, ifname="eth0", mac=None):
    """The network's bridge (made if missing), then a veth from it into the
    container (pid's namespace)."""
    ensure_bridge(net)
    connect(net, cid, pid, address, ifname, mac)


def docker_mac(address):
    """Docker's MAC for an address: 02:42 and the four bytes of the IPv4
    address, locally administered and unique on the bridge."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in address.split("."))


def connect(net, cid, pid, address, ifname="eth0", mac=None):
    """A veth from the bridge into the container (pid's namespace)."""
    prefix = ipaddress.ip_network(net["subnet"]).prefixlen
    host = host_ifname(cid, net["id"])
    with _netlink(f"connect {cid[:12]} to {net['name']}"), _iproute() as ipr:
        bridge = ipr.link_lookup(ifname=net["bridge"])[0]
        for stale in ipr.link_lookup(ifname=host):  # left by an interrupted attempt
            ipr.link("del", index=stale)
        # One RTM_NEWLINK: the pair, the peer in the container, enslaved, up.
        ipr.link("add", ifname=host, kind="veth", master=bridge, state="up",
                 peer={"ifname": ifname, "net_ns_pid": pid, "address": mac or docker_mac(address)})
    with _netlink(f"configure {ifname} of {cid[:12]}"), _InNetns(pid), _iproute() as ns:
        index = ns.link_lookup(ifname=ifname)[0]
        ns.addr("add", index=index, address=address, prefixlen=prefix)
        ns.link("set", index=index, state="up")
        ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
        if ifname == "eth0":  # the first network carries the default route
            ns.route("add", dst="default", gateway=net["gateway"])


def disconnect(net, cid):
    """Delete the host end; the container end goes with it.  When the
    container's namespace died first the kernel has removed the pair
    already, possibly between our lookup and our delete: ENODEV is success."""
    import errno
    from pyroute2 import NetlinkError
    with _netlink(f"disconnect {cid[:12]} from {net['name']}"), _iproute() as ipr:
        for index in ipr.link_lookup(ifname=host_ifname(cid, net["id"])):
            try:
                ipr.link("del", index=index)
            except NetlinkError as e:
                if e.code != errno.ENODEV:
                    raise


def apply_nat(ipam):
    """The whole fastctr table: masquerade for every network, DNAT for
    every published port.  Reading the store and loading the table happen
    under one lock: two removals at once would otherwise each read a state
    that still has the other's ports, and the later load would bring back
    rules of a container already gone."""
    import fcntl
    import shutil
    import sys
    lock_dir = os.path.join(ipam.store.root, "locks")
    os.makedirs(lock_dir, exist_ok=True)
    fd = os.open(os.path.join(lock_dir, "nat"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        networks, published = ipam.networks(), ipam.published()
        if not shutil.which("nft"):
            # The default bridge is made on the first `run`: a machine without
            # nftables still runs containers, they only lack outbound NAT.
            if published:
                raise NetworkError("publishing ports needs nftables: nft not found")
            if networks:
                print("fastctr: warning: nft not found: containers on bridge networks "
                      "have no outbound NAT (install nftables)", file=sys.stderr)
            return
        nat.apply(nat.render(networks, published) if networks else nat.render_delete())
    finally:
        os.close(fd)
