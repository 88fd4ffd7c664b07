"""Container networking after libnetwork's model, over netlink.

Network = a Linux bridge with the gateway address; Endpoint = a veth pair
whose container end is created directly inside the container's network
namespace (moving a link between namespaces costs an extra unregister/
register under rtnl); Sandbox = the container's namespace with eth0, lo,
a default route (its /etc files: fastctr.engine.netflags).
Endpoints, made and removed on every start, speak rtnetlink directly
(fastctr.net.rtnl) in the calling process; networks, rare, use pyroute2 in
the network helper (fastctr.net.netd).  NAT lives in one nftables table
(fastctr.nat).  Netlink errors become a NetworkError at this module's edge."""
import _socket
import errno
import os

from fastctr.net.ipam import NetworkError

_MAX_FD = 1 << 20  # closerange's end: every descriptor (close_range(2))


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
    prefix = int(net["subnet"].partition("/")[2])
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
    import ipaddress
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


def bridge_index(net):
    """The ifindex of the network's bridge (None: missing, ensure_bridge
    makes it), forwarding on, as ensure_bridge leaves it."""
    try:
        index = _socket.if_nametoindex(net["bridge"])
    except OSError:
        return None
    _write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    return index


def docker_mac(address):
    """Docker's MAC for an address: 02:42 and the four bytes of the IPv4
    address, locally administered and unique on the bridge."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in address.split("."))


def connect(net, bridge, cid, ns, address, ifname="eth0", mac=None):
    """A veth from the bridge (its ifindex) into the container's namespace
    (an rtnl.Netns), without pyroute2 (fastctr.net.rtnl): the bridge up and
    the pair in one send, then the container's address, its end and lo up
    and, on the first network, the default route in one more."""
    from fastctr.net import rtnl
    host = host_ifname(cid, net["id"])
    prefixlen = int(net["subnet"].partition("/")[2])
    try:
        with rtnl.Socket() as here:
            if _link_exists(host):  # left by an interrupted attempt
                here.run(f"delete {host}", rtnl.delete_link(host), ok=(errno.ENODEV,))
            here.run(f"connect {cid[:12]} to {net['name']}", rtnl.set_up(bridge),
                     rtnl.new_veth(host, bridge, ifname, ns.fd, mac or docker_mac(address)))
            with ns.entered():
                inside = rtnl.Socket()
                index = _socket.if_nametoindex(ifname)
            with inside:
                requests = [rtnl.new_address(index, address, prefixlen), rtnl.set_up(index),
                            rtnl.set_up(rtnl.LOOPBACK_INDEX)]
                if ifname == "eth0":  # the first network carries the default route
                    requests.append(rtnl.new_default_route(net["gateway"]))
                inside.run(f"configure {ifname} of {cid[:12]}", *requests)
    except OSError as e:  # the container gone, or its namespace not ours to enter
        raise NetworkError(f"connect {cid[:12]} to {net['name']}: {e.strerror}") from None


def _link_exists(name):
    try:
        _socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def disconnect(net, cid):
    """Delete the host end; the container end goes with it.  When the
    container's namespace died first the kernel has removed the pair
    already, possibly between our lookup and our delete: ENODEV is success.
    Deleting a link waits for RCU grace periods (10-30 ms)."""
    from fastctr.net import rtnl
    host = host_ifname(cid, net["id"])
    if not _link_exists(host):
        return False
    with rtnl.Socket() as here:
        here.run(f"disconnect {cid[:12]} from {net['name']}", rtnl.delete_link(host), ok=(errno.ENODEV,))
    return True


def disconnect_later(net, cid):
    """disconnect in a detached grandchild, for a container that has exited:
    nobody waits for its link, and its namespace, when nothing else holds
    it, is taking the pair away anyway.  A fork costs ~0.3 ms; the child
    closes every inherited descriptor first (our stdout may be a pipe that a
    caller reads to its end, our locks are shared with it)."""
    if not _link_exists(host_ifname(cid, net["id"])):
        return
    child = os.fork()
    if child == 0:
        try:
            os.closerange(0, _MAX_FD)
            if os.fork() == 0:
                try:
                    disconnect(net, cid)
                except BaseException:
                    pass  # gone already, or nothing left to tell it to
        finally:
            os._exit(0)
    os.waitpid(child, 0)


def apply_nat(ipam):
    """The whole fastctr table: masquerade for every network, DNAT for
    every published port.  Reading the store and loading the table happen
    under one lock: two removals at once would otherwise each read a state
    that still has the other's ports, and the later load would bring back
    rules of a container already gone."""
    import fcntl
    import shutil
    import sys
    from fastctr.net import nat
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
