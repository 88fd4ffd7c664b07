"""The engine's networking glue: a container's addresses, veths, published
ports and /etc/hosts on bridge networks (fastctr.net does the kernel work).

Imported only when a container uses a network, so `run --network none`
pays nothing for it; the engine reaches it as `engine.net`."""
import os

from fastctr.errors import ContainerNotFoundError, FastctrError


class Networking:
    def __init__(self, engine):
        self.engine = engine
        self.store = engine.store
        self._ipam = None

    @property
    def ipam(self):
        """One per engine: making it runs the schema (a start asks ~5 times)."""
        if self._ipam is None:
            from fastctr.net.ipam import Ipam
            self._ipam = Ipam(self.store)
        return self._ipam

    def network_record(self, name):
        """A bridge network containers can join: host and none are not."""
        from fastctr.net.ipam import DEFAULT_NETWORK, NetworkError
        net = self.ipam.network(name)
        if net["subnet"]:
            return net
        if net["name"] == "host":
            raise NetworkError("container cannot be disconnected from host network or connected to host network")
        if net["name"] != DEFAULT_NETWORK:
            raise NetworkError("container cannot be connected to multiple networks with one of the networks "
                               "in private (none) mode")
        try:
            return self.create_network(DEFAULT_NETWORK)  # made on first use, like docker0
        except NetworkError:
            return self.ipam.network(DEFAULT_NETWORK)  # by a run started at the same time

    def create_network(self, name, subnet=None, gateway=None, **kw):
        """kw: bridge, labels, ip_range, internal (fastctr.net.ipam)."""
        from fastctr.net import netd, network
        avoid = () if subnet else netd.call("used_subnets")
        net = self.ipam.create_network(name, subnet=subnet, gateway=gateway, avoid=avoid, **kw)
        try:
            netd.call("ensure_bridge", net=net)
            network.apply_nat(self.ipam)
        except BaseException:
            self.ipam.forget_network(name)
            netd.call("delete_bridge", net=net)
            network.apply_nat(self.ipam)
            raise
        _network_event(self.store.root, net, "create")
        return net

    def prune_networks(self):
        """network prune: the user-defined networks no container uses."""
        from fastctr.net.ipam import PREDEFINED
        removed = []
        for net in self.ipam.networks():
            if net["name"] not in PREDEFINED and not net["endpoints"]:
                self.remove_network(net["name"])
                removed.append(net["name"])
        return removed

    def remove_network(self, name):
        from fastctr.net import netd, network
        net = self.ipam.remove_network(name)
        netd.call("delete_bridge", net=net)
        network.apply_nat(self.ipam)
        try:
            os.unlink(os.path.join(self.store.root, "locks", "network-" + net["name"]))
        except FileNotFoundError:
            pass
        _network_event(self.store.root, net, "destroy")
        return net

    def attach(self, c, cdir, pid):
        """Give the created container (pid: its process, waiting to exec) an
        address and a veth on each network, and its published ports
        (checked free before it starts)."""
        from fastctr.net import rtnl
        with rtnl.Netns(pid) as ns:
            self._attach_all(c, cdir, ns)

    def prepared(self, c, cdir):
        """The same in a new network namespace, made before the container's
        process, which joins it: so the process needs no hold before its
        exec (the runtime's exec fifo) while its network is made.  The
        caller closes the returned rtnl.Netns once the process is in it."""
        from fastctr.net import rtnl
        ns = rtnl.Netns.new()
        try:
            self._attach_all(c, cdir, ns)
        except BaseException:
            ns.close()
            self.detach(c)
            raise
        return ns

    def _attach_all(self, c, cdir, ns):
        ipam = self.ipam
        for i, name in enumerate(c["config"].get("networks") or []):
            net = self.network_record(name)
            first = c["config"] if i == 0 else {}  # --ip and --mac-address are the first network's
            address = ipam.allocate(name, c["id"], first.get("ip"), net=net)
            if i == 0 and c["config"].get("ports"):
                from fastctr.net import network
                from fastctr.net.ports import PortMapping
                ipam.publish(c["id"], address, [PortMapping(*k) for k in c["config"]["ports"]])
                network.apply_nat(ipam)
            self._connect(net, c["id"], ns, address, f"eth{i}", first.get("mac_address"))
            self._write_hosts(cdir, c, address)
            self.refresh_peer_hosts(name, exclude=c["id"])

    def connect(self, network_name, ref, aliases=(), ip=None):
        """network connect [--alias A] [--ip IP]: one more network for a
        running container (aliases and --ip as run's, fastctr.engine.netflags)."""
        from fastctr.engine.netflags import NOT_ON_DEFAULT_BRIDGE, check_ip
        c = self.engine.container(ref)
        if self.engine.live_status(c) != "running":
            raise FastctrError(f"container {c['name']} is not running")
        net = self.network_record(network_name)
        if aliases and net["name"] == "bridge":
            raise FastctrError(NOT_ON_DEFAULT_BRIDGE["alias"])
        names = list(c["config"].get("networks") or [])
        if net["name"] in names:
            raise FastctrError(f"container {c['name']} is already on network {net['name']}")
        pid = self.engine.runtime.state(c["id"])["pid"]
        address = self.ipam.allocate(net["name"], c["id"], check_ip(net, ip) if ip else None)
        try:
            from fastctr.net import rtnl
            with rtnl.Netns(pid) as ns:
                self._connect(net, c["id"], ns, address, f"eth{len(names)}")
        except BaseException:
            self.ipam.release(net["name"], c["id"])
            raise
        all_aliases = dict(c["config"].get("network_aliases") or {}, **({net["name"]: list(aliases)} if aliases else {}))
        self.engine._set_config(c["id"], networks=names + [net["name"]], network_aliases=all_aliases)
        self.refresh_peer_hosts(net["name"])
        _network_event(self.store.root, net, "connect", container=c["id"])
        return address

    def disconnect(self, network_name, ref):
        c = self.engine.container(ref)
        net = self.ipam.network(network_name)
        names = list(c["config"].get("networks") or [])
        if net["name"] not in names:
            raise FastctrError(f"container {c['name']} is not on network {net['name']}")
        self._disconnect(net, c["id"])
        self.ipam.release(net["name"], c["id"])
        aliases = {k: v for k, v in (c["config"].get("network_aliases") or {}).items() if k != net["name"]}
        self.engine._set_config(c["id"], networks=[n for n in names if n != net["name"]], network_aliases=aliases)
        self.refresh_peer_hosts(net["name"])
        _network_event(self.store.root, net, "disconnect", container=c["id"])

    def detach(self, c):
        """After the container's exit: its addresses and ports released.  Its
        veths go with its network namespace, which the kernel dismantles
        once nothing is in it, so they are deleted here only when another
        container has joined that namespace (`--network container:`) and may
        still hold it; removing a link costs RCU grace periods under the
        rtnl lock, which every start's clone of a namespace waits for too.
        A second detach (the rm after the exit's) finds nothing held: one
        query, not the row and every network's record again."""
        ipam, cid = self.ipam, c["id"]
        if c["config"].get("ports") and ipam.published(cid):
            from fastctr.net import network
            ipam.unpublish(cid)
            network.apply_nat(ipam)
        held = ipam.networks_of(cid)  # the networks connected since the start count too
        if not held:
            return
        if self._joined(cid):
            from fastctr.net.ipam import NetworkError
            for name in held:
                try:
                    self._disconnect(ipam.network(name), cid, wait=False)
                except NetworkError:
                    continue
        ipam.release_all(cid)
        for name in held:
            self.refresh_peer_hosts(name)

    def _joined(self, cid):
        """Another container has joined its network namespace, maybe after
        its start: the record as it is now."""
        try:
            return bool(self.engine._row(cid)["config"].get("network_joined"))
        except ContainerNotFoundError:
            return False

    @staticmethod
    def _connect(net, cid, ns, address, ifname, mac=None):
        """The container's veth on the network's bridge, which is made again
        if it has gone (a reboot, `ip link del`): through the helper, as
        bridges are (fastctr.net.netd)."""
        from fastctr.net import network
        network.connect(net, cid, ns, address, ifname, mac, make_bridge=_make_bridge)

    @staticmethod
    def _disconnect(net, cid, wait=True):
        """Delete the host end of the container's veth (the other end goes
        with it); wait=False: in the background, for an exited container."""
        from fastctr.net import network
        if wait:
            network.disconnect(net, cid)
        else:
            network.disconnect_later(net, cid)

    def _peers(self, name, exclude=None):
        """[(address, [name, aliases...])] of the containers on a
        user-defined network: fastctr's stand-in for Docker's embedded DNS."""
        from fastctr import jsonfast as json
        from fastctr.net.ipam import DEFAULT_NETWORK
        if name == DEFAULT_NETWORK:
            return []  # as Docker: no name resolution on the default bridge
        out = []
        for cid, address in self.ipam.network(name)["endpoints"].items():
            if cid != exclude:
                row = self.store.db.execute("SELECT name, config FROM containers WHERE id = ?", (cid,)).fetchone()
                if row:
                    aliases = (json.loads(row[1] or "{}").get("network_aliases") or {}).get(name) or []
                    out.append((address, [row[0]] + [a for a in aliases if a != row[0]]))
        return sorted(out, key=lambda peer: peer[1][0])

    def _write_hosts(self, cdir, c, address):
        """Docker's /etc/hosts with the container's address, its own names
        (FQDN first with --domainname), and its peers."""
        from fastctr.engine.options import DOCKER_HOSTS, host_names
        from fastctr.net.network import hosts_text
        cfg = c["config"]
        names = host_names(cfg.get("hostname") or c["id"][:12], cfg.get("domainname")).split()
        peers = []
        for name in cfg.get("networks") or []:
            peers += self._peers(name, exclude=c["id"])
        text = hosts_text(DOCKER_HOSTS, cfg.get("extra_hosts") or (), (address, names + [c["name"]] * (c["name"] not in names)),
                          peers)
        return _rewrite_in_place(os.path.join(cdir, "hosts"), text)

    def refresh_peer_hosts(self, name, exclude=None):
        """Keep every member's /etc/hosts current as containers come and go.
        Only user-defined networks resolve names (the default bridge does
        not, as in Docker), so a start on the bridge touches no other
        container's files.  One writer per network at a time, each writing
        what the store says then, so the last write is the newest; a member
        on its way out (row or files gone) is skipped."""
        from fastctr.net.ipam import DEFAULT_NETWORK, NetworkError
        if name == DEFAULT_NETWORK:
            return
        with self._network_lock(name):
            try:
                endpoints = self.ipam.network(name)["endpoints"]
            except NetworkError:
                return  # removed meanwhile
            for cid, address in endpoints.items():
                if cid == exclude:
                    continue
                try:
                    c = self.engine._row(cid)
                except ContainerNotFoundError:
                    continue
                self._write_hosts(self.engine.driver_for_container(c).container_dir(cid), c, address)

    def _network_lock(self, name):
        return self.engine.lock("network-" + name)


def _make_bridge(net):
    from fastctr.net import netd
    netd.call("ensure_bridge", net=net)


def _rewrite_in_place(path, text):
    """New content for an existing file, in its inode: a container's bind
    mount of the file follows the inode, so a rename would leave the running
    container with the old file.  Written before it is cut to length, so a
    reader never sees it empty.  No O_CREAT: the file of a container being
    removed is skipped (False), never re-created in a directory on its way
    out, which would make that removal fail."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        data = text.encode()
        written = 0
        while written < len(data):
            written += os.pwrite(fd, data[written:], written)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)
    return True


def _network_event(root, net, action, **extra):
    from fastctr import events
    events.emit(root, "network", action, net.get("id") or net["name"], dict(name=net["name"], type="bridge", **extra))
