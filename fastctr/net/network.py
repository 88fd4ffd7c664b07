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


def docker_mac(address):
    """Docker's MAC for an address: 02:42 and the four bytes of the IPv4
    address, locally administered and unique on the bridge."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in address.split("."))


def connect(net, cid, ns, address, ifname="eth0", mac=None, make_bridge=None):
    """A veth from the network's bridge into the container's namespace (an
    rtnl.Netns), without pyroute2 (fastctr.net.rtnl): the bridge up and the
    pair in one write, then the container's address, its end and lo up
    and, on the first network, the default route in one more, on the
    namespace's own socket.  make_bridge(net): called when the bridge has
    gone (a reboot, `ip link del`), to make it again."""
    from fastctr.net import rtnl
    host = host_ifname(cid, net["id"])
    prefixlen = int(net["subnet"].partition("/")[2])
    what = f"connect {cid[:12]} to {net['name']}"
    try:
        with rtnl.Socket() as here:
            bridge = here.index(net["bridge"])
            if bridge is None and make_bridge:
                make_bridge(net)
                bridge = here.index(net["bridge"])
            if bridge is None:
                raise NetworkError(f"{what}: bridge {net['bridge']} not found")
            _forwarding_on()
            veth = rtnl.new_veth(host, bridge, ifname, ns.fd, mac or docker_mac(address))
            if not _made(here, what, rtnl.set_up(bridge), veth):  # left by an interrupted attempt
                here.run(f"delete {host}", rtnl.delete_link(host), ok=(errno.ENODEV,))
                here.run(what, veth)
            inside = ns.socket()
            index = inside.index(ifname)
            if index is None:
                raise NetworkError(f"{what}: {ifname} not found in the container")
            requests = [rtnl.new_address(index, address, prefixlen), rtnl.set_up(index),
                        rtnl.set_up(rtnl.LOOPBACK_INDEX)]
            if ifname == "eth0":  # the first network carries the default route
                requests.append(rtnl.new_default_route(net["gateway"]))
            inside.run(f"configure {ifname} of {cid[:12]}", *requests)
    except OSError as e:  # the container gone, or its namespace not ours to enter
        raise NetworkError(f"{what}: {e.strerror}") from None


def _made(sock, what, *requests):
    """Run the requests; False when the last (a new link) exists already."""
    errors = sock.transact(*requests)
    for i, err in enumerate(errors):
        if err == errno.EEXIST and i == len(errors) - 1:
            return False
        if err:
            raise NetworkError(f"{what}: {os.strerror(err)}")
    return True


def _forwarding_on():
    """ip_forward as ensure_bridge leaves it (a write of the same value
    changes nothing in the kernel)."""
    fd = os.open("/proc/sys/net/ipv4/ip_forward", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b"1")
    finally:
        os.close(fd)


def _link_exists(name):
    from fastctr.net import rtnl
    with rtnl.Socket() as here:
        return here.index(name) is not None


def disconnect(net, cid):
    """Delete the host end; the container end goes with it.  When the
    container's namespace died first the kernel has removed the pair
    already, possibly between our lookup and our delete: ENODEV is success.
    Deleting a link waits for RCU grace periods (10-30 ms)."""
    from fastctr.net import rtnl
    host = host_ifname(cid, net["id"])
    with rtnl.Socket() as here:
        if here.index(host) is None:
            return False
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


def hosts_text(base, extra_hosts=(), own=None, peers=()):
    """/etc/hosts as Docker writes it: base (its defaults, or the host's
    file with --network host), the --add-host lines, then the container's
    own address; fastctr adds the peers of user-defined networks last.
    Here (libnetwork's etchosts), not in fastctr.engine.netflags, which a
    start on a network would import (~0.2 ms) only for this.
    own: (address, [names]); peers: [(address, [names])]."""
    lines = [base.rstrip("\n")] if base else []
    lines += ["{}\t{}".format(*reversed(h.split(":", 1))) for h in extra_hosts]
    if own:
        lines.append(f"{own[0]}\t{' '.join(own[1])}")
    lines += [f"{address}\t{' '.join(names)}" for address, names in peers]
    return "\n".join(lines) + "\n"


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
