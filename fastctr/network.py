"""Container networking after libnetwork's model, through pyroute2 (netlink).

Network = a Linux bridge with the gateway address; Endpoint = a veth pair
whose container end is created directly inside the container's network
namespace (moving a link between namespaces costs an extra unregister/
register under rtnl); Sandbox = the container's namespace with eth0, lo,
a default route, and its /etc/hosts, /etc/hostname, /etc/resolv.conf.
NAT lives in one nftables table (fastctr.nat).  NetlinkError becomes a
NetworkError at this module's edge."""
import ipaddress
import os

from fastctr import nat
from fastctr.ipam import NetworkError

FALLBACK_DNS = ["8.8.8.8", "8.8.4.4"]


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


def delete_bridge(net):
    with _netlink(f"delete bridge {net['bridge']}"), _iproute() as ipr:
        for index in ipr.link_lookup(ifname=net["bridge"]):
            ipr.link("del", index=index)


def host_ifname(cid, network_id):
    return "fv" + cid[:7] + network_id[:6]  # IFNAMSIZ: at most 15 characters


def connect(net, cid, pid, address, ifname="eth0"):
    """A veth from the bridge into the container (pid's namespace)."""
    prefix = ipaddress.ip_network(net["subnet"]).prefixlen
    host = host_ifname(cid, net["id"])
    with _netlink(f"connect {cid[:12]} to {net['name']}"), _iproute() as ipr:
        bridge = ipr.link_lookup(ifname=net["bridge"])[0]
        ipr.link("add", ifname=host, kind="veth", peer={"ifname": ifname, "net_ns_pid": pid})
        index = ipr.link_lookup(ifname=host)[0]
        ipr.link("set", index=index, master=bridge, state="up")
    with _netlink(f"configure {ifname} of {cid[:12]}"), _iproute(netns=f"/proc/{pid}/ns/net") as ns:
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
    every published port."""
    networks = ipam.networks()
    if networks:
        nat.apply(nat.render(networks, ipam.published()))
    else:
        nat.apply(nat.render_delete())


def resolv_conf(text=None):
    """The host's resolv.conf, with loopback resolvers (which would point at
    the container itself) replaced by the fallback."""
    if text is None:
        try:
            with open("/etc/resolv.conf") as f:
                text = f.read()
        except OSError:
            text = ""
    lines, servers = [], 0
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["nameserver"] and len(parts) > 1:
            if parts[1].startswith("127.") or parts[1] == "::1":
                continue
            servers += 1
        lines.append(line)
    if not servers:
        lines += [f"nameserver {s}" for s in FALLBACK_DNS]
    return "\n".join(lines) + "\n"


def hosts_file(hostname, address, peers, name=None):
    """/etc/hosts: localhost, the container itself, and its peers by name."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if address:
        lines.append(f"{address}\t{hostname}" + (f" {name}" if name and name != hostname else ""))
    for name, addr in sorted(peers.items()):
        lines.append(f"{addr}\t{name}")
    return "\n".join(lines) + "\n"
