"""Networks and IP address management, persisted in the store.

A network is a subnet with a gateway and a bridge name; an endpoint holds
one address of it.  Allocation runs in one IMMEDIATE transaction, so
concurrent `fastctr run`s never get the same address, and it refuses what
the kernel would refuse later: a full subnet, or more endpoints than a
Linux bridge has ports (1024)."""
import os
import time

from fastctr import jsonfast as json
from fastctr.errors import NetworkError  # defined there, exported here too

SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    name TEXT PRIMARY KEY, id TEXT UNIQUE NOT NULL, subnet TEXT NOT NULL, gateway TEXT NOT NULL,
    bridge TEXT UNIQUE NOT NULL, created TEXT, labels TEXT, options TEXT);
CREATE TABLE IF NOT EXISTS predefined_networks (name TEXT PRIMARY KEY, id TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS addresses (
    network TEXT NOT NULL, address TEXT NOT NULL, container TEXT NOT NULL,
    PRIMARY KEY (network, address), UNIQUE (network, container));
CREATE TABLE IF NOT EXISTS ports (
    host_port INTEGER NOT NULL, proto TEXT NOT NULL, host_ip TEXT NOT NULL, container TEXT NOT NULL,
    container_ip TEXT NOT NULL, container_port INTEGER NOT NULL, PRIMARY KEY (host_port, proto));
"""
DEFAULT_NETWORK = "bridge"
# Docker's networks that always exist and cannot be removed, with their drivers.
PREDEFINED = {"bridge": "bridge", "host": "host", "none": "null"}
BRIDGE_MAX_PORTS = 1024  # the kernel's BR_MAX_PORTS
# Docker's default address pools (libnetwork ipamutils): 172.17.0.0/16 ...
# 172.31.0.0/16, then 192.168.0.0/16 in /20 steps; the default bridge and
# the networks made without --subnet alike take the first one that no other
# network, no address and no route of the host uses.
AUTO_SUBNETS = [f"172.{n}.0.0/16" for n in range(17, 32)] + [f"192.168.{n}.0/20" for n in range(0, 256, 16)]


def _network(text, what):
    import ipaddress  # here and below only where networks are made: a start allocates without it
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise NetworkError(f"invalid {what} {text!r}: {e}") from None
    if net.version != 4:
        raise NetworkError(f"invalid {what} {text!r}: only IPv4 networks are supported")
    if net.prefixlen > 30:
        raise NetworkError(f"{what} {text} is too small: it needs room for a gateway and containers")
    return net


def _valid_name(name):
    if not name or not (name[0].isalnum() and all(c.isalnum() or c in "_.-" for c in name)):
        raise NetworkError(f"invalid network name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    return name


class Ipam:
    def __init__(self, store):
        self.store = store
        store.db.executescript(SCHEMA)
        if "options" not in {r[1] for r in store.db.execute("PRAGMA table_info(networks)")}:
            with store.transaction() as db:  # a store made before the column existed
                db.execute("ALTER TABLE networks ADD COLUMN options TEXT")

    def predefined_id(self, name):
        """The stable ID of bridge, host or none: they exist before the
        bridge is first used, as in Docker.  host's and none's are the same
        everywhere (fastctr.engine.model_net makes them so too); the bridge's
        is drawn on first ask and kept."""
        if name != DEFAULT_NETWORK:
            import hashlib
            return hashlib.sha256(f"fastctr-network-{name}".encode()).hexdigest()
        with self.store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO predefined_networks (name, id) VALUES (?, ?)",
                       (name, os.urandom(32).hex()))
            return db.execute("SELECT id FROM predefined_networks WHERE name = ?", (name,)).fetchone()[0]

    # --------------------------------------------------------- networks
    def create_network(self, name, subnet=None, gateway=None, bridge=None, labels=None, ip_range=None,
                       internal=False, avoid=()):
        """avoid: subnets the host uses (its addresses and routes), which a
        network without --subnet must not take."""
        import ipaddress
        _valid_name(name)
        net = _network(subnet, "subnet") if subnet else None
        options = {"internal": bool(internal), "configured": net is not None}
        if ip_range:
            if net is None:
                raise NetworkError("--ip-range needs --subnet")
            pool = _network(ip_range, "ip range")
            if not pool.subnet_of(net):
                raise NetworkError(f"ip range {pool} is not within the subnet {net}")
            options["ip_range"] = str(pool)
        gw = None
        if gateway:
            try:
                gw = ipaddress.ip_address(gateway)
            except ValueError:
                raise NetworkError(f"invalid gateway {gateway!r}") from None
            if net is None:
                raise NetworkError("--gateway needs --subnet")
            if gw not in net or gw in (net.network_address, net.broadcast_address):
                raise NetworkError(f"gateway {gateway} is not a host address of {net}")
        nid = self.predefined_id(name) if name == DEFAULT_NETWORK else os.urandom(32).hex()
        with self.store.transaction() as db:
            if self._exists(db, name):
                raise NetworkError(f"network with name {name} already exists")
            taken = [ipaddress.ip_network(r[0]) for r in db.execute("SELECT subnet FROM networks")]
            if net is None:
                taken += [ipaddress.ip_network(a, strict=False) for a in avoid]
                if name != DEFAULT_NETWORK and not self._exists(db, DEFAULT_NETWORK):
                    taken.append(self._free_subnet(taken))  # what the bridge takes when it is made, as docker0 has
                net = self._free_subnet(taken)
            else:
                for other in taken:
                    if net.overlaps(other):
                        raise NetworkError(f"subnet {net} overlaps with the subnet {other} of another network")
            gw = gw or next(net.hosts())
            bridge = bridge or ("fastctr0" if name == DEFAULT_NETWORK else "fctr-" + nid[:10])
            if db.execute("SELECT 1 FROM networks WHERE bridge = ?", (bridge,)).fetchone():
                raise NetworkError(f"bridge name {bridge} is used by another network")
            db.execute("INSERT INTO networks (name, id, subnet, gateway, bridge, created, labels, options) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (name, nid, str(net), str(gw), bridge, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        json.dumps(labels or {}), json.dumps(options)))
        return self.network(name)

    @staticmethod
    def _exists(db, name):
        return db.execute("SELECT 1 FROM networks WHERE name = ?", (name,)).fetchone() is not None

    @staticmethod
    def _free_subnet(taken):
        import ipaddress
        for text in AUTO_SUBNETS:
            candidate = ipaddress.ip_network(text)
            if not any(candidate.overlaps(t) for t in taken):
                return candidate
        raise NetworkError("no free subnet left in the address pool: give one with --subnet")

    def _predefined(self, name):
        """host, none, and the bridge before its first use: objects without
        a subnet (the bridge gets one when it is made)."""
        return {"name": name, "id": self.predefined_id(name), "driver": PREDEFINED[name], "subnet": None,
                "gateway": None, "bridge": None, "created": None, "labels": {}, "endpoints": {},
                "internal": False, "configured": False}

    def listing(self):
        """Every network `network ls` shows: the pre-defined ones too."""
        nets = {n["name"]: n for n in self.networks()}
        for name in PREDEFINED:
            nets.setdefault(name, self._predefined(name))
        return [nets[k] for k in sorted(nets)]

    def network(self, name):
        """A network by name, full ID or unique ID prefix; host, none and a
        bridge not made yet are objects without a subnet."""
        try:
            return self._stored_network(name)
        except NetworkError:
            pass
        for pre in self.listing():
            if name and (name in (pre["name"], pre["id"]) or pre["id"].startswith(name)):
                return pre if pre["subnet"] is None else self._stored_network(pre["name"])
        raise NetworkError(f"network {name} not found")

    def _stored_network(self, name):
        cols = "SELECT name, id, subnet, gateway, bridge, created, labels, options FROM networks "
        db = self.store.db
        row = db.execute(cols + "WHERE name = ? OR id = ?", (name, name)).fetchone()
        if row is None and name and all(c in "0123456789abcdef" for c in name):
            rows = db.execute(cols + "WHERE id LIKE ?", (name + "%",)).fetchall()
            if len(rows) > 1:
                raise NetworkError(f"network ID prefix {name!r} is ambiguous")
            row = rows[0] if rows else None
        if row is None:
            raise NetworkError(f"network {name} not found")
        keys = ("name", "id", "subnet", "gateway", "bridge", "created", "labels", "options")
        out = dict(zip(keys, row))
        out["labels"] = json.loads(out["labels"] or "{}")
        out.update(json.loads(out.pop("options") or "{}"))  # internal, configured, ip_range
        out["driver"] = "bridge"
        out["endpoints"] = {c: a for a, c in self.store.db.execute(
            "SELECT address, container FROM addresses WHERE network = ? ORDER BY address", (out["name"],))}
        return out

    def networks(self):
        """The networks made, each with its bridge and subnet."""
        return [self._stored_network(r[0]) for r in self.store.db.execute("SELECT name FROM networks ORDER BY name")]

    def remove_network(self, name):
        net = self.network(name)
        if net["name"] in PREDEFINED:
            raise NetworkError(f"{net['name']} is a pre-defined network and cannot be removed")
        return self.forget_network(net["name"])

    def forget_network(self, name):
        """Remove a network's record (the pre-defined bridge too, which
        only tests and a rollback do)."""
        net = self._stored_network(name)
        with self.store.transaction() as db:
            users = [r[0] for r in db.execute("SELECT container FROM addresses WHERE network = ?", (net["name"],))]
            if users:
                raise NetworkError(f"network {net['name']} has active endpoints ({len(users)} containers)")
            db.execute("DELETE FROM networks WHERE name = ?", (net["name"],))
        return net

    # -------------------------------------------------------- addresses
    def allocate(self, network, container, address=None, net=None):
        """The container's address on the network: the lowest free host
        address (or the one asked for).  Idempotent per container.  net:
        the network's record, when the caller has just read it."""
        net = net or self._stored_network(network)
        with self.store.transaction() as db:
            row = db.execute("SELECT address FROM addresses WHERE network = ? AND container = ?",
                             (net["name"], container)).fetchone()
            if row:
                return row[0]
            used = {r[0] for r in db.execute("SELECT address FROM addresses WHERE network = ?", (net["name"],))}
            if len(used) >= BRIDGE_MAX_PORTS:
                raise NetworkError(f"network {net['name']} has {len(used)} containers: a Linux bridge holds "
                                   f"at most {BRIDGE_MAX_PORTS} ports")
            ip = _asked(net, used, address) if address else _lowest_free(net, used)
            db.execute("INSERT INTO addresses (network, address, container) VALUES (?, ?, ?)",
                       (net["name"], ip, container))
        return ip

    def networks_of(self, container):
        """The names of the networks where the container holds an address."""
        return [r[0] for r in self.store.db.execute(
            "SELECT network FROM addresses WHERE container = ? ORDER BY network", (container,))]

    def release(self, network, container):
        with self.store.transaction() as db:
            db.execute("DELETE FROM addresses WHERE network = ? AND container = ?", (network, container))

    # ------------------------------------------------------------ ports
    def publish(self, container, container_ip, mappings):
        """Record the container's published ports, each host port checked
        free (no listener, no other container); returns the rows."""
        from fastctr.net.ports import reserve_host_port
        rows = []
        with self.store.transaction() as db:
            taken = {(p, proto) for p, proto in db.execute("SELECT host_port, proto FROM ports")}
            for m in mappings:
                port = reserve_host_port(m, taken)
                taken.add((port, m.proto))
                rows.append({"host_ip": m.host_ip, "host_port": port, "proto": m.proto,
                             "container_ip": container_ip, "container_port": m.container_port})
                db.execute("INSERT INTO ports (host_port, proto, host_ip, container, container_ip, container_port) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (port, m.proto, m.host_ip, container, container_ip, m.container_port))
        return rows

    def unpublish(self, container):
        with self.store.transaction() as db:
            db.execute("DELETE FROM ports WHERE container = ?", (container,))

    def published(self, container=None):
        q = "SELECT host_ip, host_port, proto, container_ip, container_port FROM ports"
        args = ()
        if container:
            q, args = q + " WHERE container = ?", (container,)
        keys = ("host_ip", "host_port", "proto", "container_ip", "container_port")
        return [dict(zip(keys, r)) for r in self.store.db.execute(q + " ORDER BY host_port", args)]

    def release_all(self, container):
        with self.store.transaction() as db:
            db.execute("DELETE FROM addresses WHERE container = ?", (container,))


def _asked(net, used, address):
    """--ip: a free host address of the subnet, not the gateway."""
    import ipaddress
    subnet, gateway = ipaddress.ip_network(net["subnet"]), ipaddress.ip_address(net["gateway"])
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise NetworkError(f"invalid address {address!r}") from None
    if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address, gateway):
        raise NetworkError(f"address {address} is not a free host address of {subnet}")
    if str(ip) in used:
        raise NetworkError(f"address {address} is already in use on network {net['name']}")
    return str(ip)


def _lowest_free(net, used):
    """The lowest address of the pool (the --ip-range, else the subnet) that
    is not the gateway, not taken, not the subnet's network or broadcast
    address (a --ip-range is used whole: its ends are host addresses of the
    subnet).  In integers: every start on a bridge allocates, and ipaddress
    costs ~1.5 ms to import (socket ~0.4 ms)."""
    first, last = _bounds(net.get("ip_range") or net["subnet"])
    reserved = set(_bounds(net["subnet"]))
    taken = used | {net["gateway"]}
    for n in range(first, last + 1):
        text = ".".join(str(b) for b in n.to_bytes(4, "big"))
        if n not in reserved and text not in taken:
            return text
    raise NetworkError(f"subnet {net['subnet']} of network {net['name']} is full")


def _bounds(cidr):
    """(first, last) address of an IPv4 network as stored ("a.b.c.d/n"), as integers."""
    base, _, bits = cidr.partition("/")
    first = int.from_bytes(bytes(int(p) for p in base.split(".")), "big")
    return first, first + (1 << (32 - int(bits))) - 1
