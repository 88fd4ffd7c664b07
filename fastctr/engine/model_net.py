"""Docker's network objects: a container's NetworkSettings (with Docker's
Ports map and per-network EndpointSettings) and the NetworkResource of
`network inspect`, from fastctr.net.ipam's records and, for what only the
kernel knows (a veth's MAC address), the running container itself.

Docker's "host" and "none" networks (and the bridge before its first use)
are fastctr.net.ipam's pre-defined networks, without a subnet.  Record
keys read when other parts of the engine set them:
ip (the --ip asked for), mac_address, network_aliases (a list for the first
network, or {network: [alias...]})."""
import ipaddress
import os

from fastctr.net.ipam import DEFAULT_NETWORK, NetworkError

BUILTIN_DRIVERS = {"host": "host", "none": "null"}
DEFAULT_BRIDGE_OPTIONS = {"com.docker.network.bridge.default_bridge": "true",
                          "com.docker.network.bridge.enable_icc": "true",
                          "com.docker.network.bridge.enable_ip_masquerade": "true",
                          "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                          "com.docker.network.driver.mtu": "1500"}


def _sha256_hex(text):
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()


def endpoint_id(network_id, cid):
    """An endpoint is one container on one network: its ID follows from both."""
    return _sha256_hex(f"{network_id}/{cid}")


# ------------------------------------------------- a container's settings

def network_settings(engine, c, pid, config):
    cfg = c["config"]
    mode = cfg.get("network_mode") or "none"
    mode = "none" if mode == "private" else mode
    networks = {}
    if mode in BUILTIN_DRIVERS:
        networks[mode] = _endpoint(engine.ipam.predefined_id(mode))
    elif not mode.startswith("container:"):
        ipam = engine.ipam if cfg.get("networks") else None
        for i, name in enumerate(cfg.get("networks") or []):
            networks[name] = _attached(ipam, c, name, i, pid)
    default = networks.get(DEFAULT_NETWORK) or _endpoint("")
    sandbox = f"/proc/{pid}/ns/net" if pid else ""
    doc = {"Bridge": "", "SandboxID": _sandbox_id(c["id"], sandbox), "SandboxKey": sandbox,
           "Ports": _ports(engine, c, config, pid), "HairpinMode": False, "LinkLocalIPv6Address": "",
           "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None}
    # Docker's deprecated top-level fields are those of the default bridge only.
    for key in ("EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen",
                "IPv6Gateway", "MacAddress"):
        doc[key] = default[key]
    doc["Networks"] = {name: networks[name] for name in sorted(networks)}
    return doc


def _endpoint(network_id, **known):
    doc = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None, "GwPriority": 0,
           "NetworkID": network_id, "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
           "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}
    doc.update(known)
    return doc


def _attached(ipam, c, name, index, pid):
    cfg = c["config"]
    try:
        net = ipam.network(name)
    except NetworkError:
        return _endpoint("")  # removed since: Docker keeps the entry too
    address = net["endpoints"].get(c["id"])
    aliases = _aliases(cfg, name, index)
    doc = _endpoint(net["id"], Aliases=aliases or None)
    if cfg.get("ip") and index == 0:
        doc["IPAMConfig"] = {"IPv4Address": cfg["ip"]}
    if net["name"] != DEFAULT_NETWORK:  # names resolve on user-defined networks only
        hostname = cfg.get("hostname")
        names = [c["name"], *aliases, c["id"][:12]] + ([hostname] if hostname else [])
        doc["DNSNames"] = list(dict.fromkeys(names))
    if address:
        doc.update(MacAddress=cfg.get("mac_address") or (container_mac(pid, f"eth{index}", address) if pid else ""),
                   EndpointID=endpoint_id(net["id"], c["id"]), Gateway=net["gateway"], IPAddress=address,
                   IPPrefixLen=ipaddress.ip_network(net["subnet"]).prefixlen)
    return doc


def _aliases(cfg, name, index):
    aliases = cfg.get("network_aliases")
    if isinstance(aliases, dict):
        return list(aliases.get(name) or [])
    return list(aliases or []) if index == 0 else []


def container_mac(pid, ifname, address):
    """The MAC address of the container's interface, as its own /sys (mounted
    in its network namespace) shows it; else Docker's for the address, which
    fastctr.net gives the interface."""
    try:
        with open(f"/proc/{pid}/root/sys/class/net/{ifname}/address") as f:
            return f.read().strip()
    except OSError:
        return "02:42:" + ":".join(f"{int(b):02x}" for b in address.split("."))


def _sandbox_id(cid, sandbox):
    if not sandbox:
        return ""
    try:
        inode = os.stat(sandbox).st_ino  # a new namespace for each start: a new sandbox
    except OSError:
        return ""
    return _sha256_hex(f"{cid}/{inode}")


def _ports(engine, c, config, pid):
    """{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": null}
    while it runs (an exposed port nobody published is null); {} otherwise."""
    if not pid:
        return {}
    out = dict.fromkeys(config.get("ExposedPorts") or {})
    if c["config"].get("ports"):
        for row in engine.ipam.published(c["id"]):
            key = f"{row['container_port']}/{row['proto']}"
            out[key] = (out.get(key) or []) + [{"HostIp": row["host_ip"] or "0.0.0.0",
                                                "HostPort": str(row["host_port"])}]
    return {k: out[k] for k in sorted(out)}


# ---------------------------------------------------- network inspect

def network_resource(engine, ref):
    """Docker's NetworkResource for a network name or ID (prefix)."""
    net = engine.ipam.network(ref)
    if net["subnet"] is None:  # host, none, or the bridge not made yet
        return _predefined_network(engine, net)
    subnet = ipaddress.ip_network(net["subnet"])
    containers = {}
    for cid, address in net["endpoints"].items():
        containers[cid] = _member(engine, cid, net, f"{address}/{subnet.prefixlen}")
    options = dict(DEFAULT_BRIDGE_OPTIONS, **{"com.docker.network.bridge.name": net["bridge"]}) \
        if net["name"] == DEFAULT_NETWORK else {}
    config = {"Subnet": net["subnet"]}
    if net.get("ip_range"):
        config["IPRange"] = net["ip_range"]
    config["Gateway"] = net["gateway"]
    return _network_doc(net, "bridge", [config], containers, {k: options[k] for k in sorted(options)})


def _network_doc(net, driver, ipam_config, containers, options):
    labels = net.get("labels") or {}
    return {"Name": net["name"], "Id": net["id"], "Created": net.get("created") or "0001-01-01T00:00:00Z",
            "Scope": "local", "Driver": driver, "EnableIPv4": driver == "bridge", "EnableIPv6": False,
            "IPAM": {"Driver": "default",
                     "Options": {} if driver == "bridge" and net["name"] != DEFAULT_NETWORK else None,
                     "Config": ipam_config},
            "Internal": bool(net.get("internal")), "Attachable": False, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
            "Containers": {k: containers[k] for k in sorted(containers)},
            "Options": options, "Labels": {k: labels[k] for k in sorted(labels)}}


def _member(engine, cid, net, address):
    from fastctr.errors import ContainerNotFoundError
    try:
        c = engine.container(cid)
    except ContainerNotFoundError:
        return {"Name": "", "EndpointID": endpoint_id(net["id"], cid), "MacAddress": "", "IPv4Address": address,
                "IPv6Address": ""}
    names = c["config"].get("networks") or []
    index = names.index(net["name"]) if net["name"] in names else 0
    pid = _running_pid(engine, c)
    return {"Name": c["name"], "EndpointID": endpoint_id(net["id"], cid),
            "MacAddress": c["config"].get("mac_address") or
            (container_mac(pid, f"eth{index}", address.split("/")[0]) if pid else ""),
            "IPv4Address": address, "IPv6Address": ""}


def _running_pid(engine, c):
    if engine.live_status(c) not in ("running", "paused"):
        return 0
    try:
        return engine.runtime.state(c["id"])["pid"]
    except (LookupError, OSError):
        return 0


def _predefined_network(engine, net):
    """host or none (or the bridge before its first use): the running
    containers that use it."""
    name, members = net["name"], {}
    driver = BUILTIN_DRIVERS.get(name, "bridge")
    for c in engine.ps():
        mode = c["config"].get("network_mode") or "none"
        if (mode == "private" and name == "none") or mode == name:
            members[c["id"]] = {"Name": c["name"], "EndpointID": endpoint_id(net["id"], c["id"]), "MacAddress": "",
                                "IPv4Address": "", "IPv6Address": ""}
    return _network_doc(net, driver, [], members, {})
