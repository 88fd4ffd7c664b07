"""Docker's run/create network flags, checked before anything exists, and
the /etc/hosts and /etc/resolv.conf they make.  Imported only when one of
them is given (fastctr.engine.options.net_flag_record).

  --add-host NAME:IP|NAME=IP|NAME:host-gateway   a line of /etc/hosts; host-gateway
                          is the default bridge's gateway, as dockerd's docker0 address
  --dns IP, --dns-search DOMAIN, --dns-option OPT   resolv.conf as libnetwork builds it
  --network-alias NAME    more names of the container on its user-defined network
  --ip ADDRESS            its address there (the network has a --subnet)
  --mac-address MAC       its eth0's MAC
  --expose PORT[-PORT][/PROTO]   recorded in ExposedPorts; -P publishes it

Docker answers names on user-defined networks with its embedded DNS server
(127.0.0.11); fastctr writes the peers, their aliases too, into each
member's /etc/hosts instead, so resolv.conf keeps the host's resolvers."""
from fastctr.errors import ConfigError

HOST_GATEWAY = "host-gateway"
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")  # Docker's when the host has no resolver a container can reach
# Patterns, compiled on first use, and ipaddress imported where a flag is
# checked: re with its enum and ipaddress cost ~5 ms to import, and a start
# with one of these flags or a loopback resolver on the host imports this module.
_DOMAIN = (r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
           r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*\.?$")
_MAC = r"^[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}$"
NOT_ON_DEFAULT_BRIDGE = {
    "ip": "user specified IP address is supported on user defined networks only",
    "alias": "network-scoped alias is supported only for containers in user defined networks"}


def _bad(flag, value, why):
    return ConfigError(f'invalid argument "{value}" for "{flag}" flag: {why}')


def parse_ip(value, flag):
    import ipaddress
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise _bad(flag, value, f"IP address is not correctly formatted: {value}") from None


def parse_add_host(value):
    """Docker's ValidateExtraHost: NAME:IP or NAME=IP, IPv6 in brackets or not."""
    name, sep, ip = value.partition("=")
    if not sep:
        name, sep, ip = value.partition(":")
    if not sep or not name or ":" in name:
        raise _bad("--add-host", value, f'bad format for add-host: "{value}"')
    if ip != HOST_GATEWAY:
        import ipaddress
        if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]":
            ip = ip[1:-1]
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise _bad("--add-host", value, f'invalid IP address in add-host: "{ip}"') from None
    return name, ip


def _matches(pattern, value):
    import re
    return re.match(pattern, value) is not None


def parse_dns_search(value):
    if value != "." and (len(value) > 255 or not _matches(_DOMAIN, value)):
        raise _bad("--dns-search", value, f"{value} is not a valid domain")
    return value


def parse_mac(value):
    if not _matches(_MAC, value):
        raise _bad("--mac-address", value, f"{value} is not a valid mac address")
    mac = value.replace("-", ":").lower()
    if int(mac[:2], 16) & 1:
        raise _bad("--mac-address", value, f"{value} is a multicast address: an interface cannot have it")
    return mac


def parse_expose(values):
    """--expose 80, 80/udp, 7000-7002: Docker's port/proto keys."""
    out = []
    for value in values:
        if ":" in value:
            raise ConfigError(f"invalid port format for --expose: {value}")
        port, _, proto = value.partition("/")
        proto = proto.lower() or "tcp"
        if proto not in ("tcp", "udp", "sctp"):
            raise ConfigError(f"invalid proto {proto!r} for --expose: {value} (tcp, udp or sctp)")
        first, dash, last = port.partition("-")
        try:
            lo, hi = int(first), int(last) if dash else int(first)
            if not (0 < lo <= hi <= 65535):
                raise ValueError
        except ValueError:
            raise ConfigError(f"invalid range format for --expose: {value}") from None
        out += [f"{p}/{proto}" for p in range(lo, hi + 1)]
    return out


def _check_mode(opts, kind):
    """Docker's runconfig conflicts for flags a shared or absent network cannot carry."""
    if kind == "container":
        if opts.dns or opts.dns_search or opts.dns_options:
            raise ConfigError("conflicting options: dns and the network mode")
        if opts.add_hosts:
            raise ConfigError("conflicting options: custom host-to-IP mapping and the network mode")
        if opts.expose:
            raise ConfigError("conflicting options: port exposing and the container type network mode")
    if opts.mac_address and kind != "net":
        raise ConfigError("conflicting options: mac-address and the network mode")


def check_ip(net, value):
    """--ip on a user-defined network with a --subnet, free there now."""
    import ipaddress
    ip = parse_ip(value, "--ip")
    if ipaddress.ip_address(ip).version != 4:
        raise ConfigError(f"--ip {ip}: fastctr networks are IPv4 (--ip6 is not supported)")
    if net is None or net["name"] == "bridge":
        raise ConfigError(NOT_ON_DEFAULT_BRIDGE["ip"])
    if not net.get("configured"):
        raise ConfigError("user specified IP address is supported only when connecting to networks with user "
                          "configured subnets")
    subnet, address = ipaddress.ip_network(net["subnet"]), ipaddress.ip_address(ip)
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise ConfigError(f"no configured subnet or ip-range contain the IP address {ip}")
    if ip == net["gateway"] or ip in net["endpoints"].values():
        raise ConfigError(f"address {ip} is already in use on network {net['name']}")
    return ip


def record(engine, opts, network):
    """The record's network keys (read by fastctr.engine.model_net and
    model_host for inspect), every value checked (ConfigError: 125)."""
    kind, name = network
    _check_mode(opts, kind)
    net = engine.net.network_record(name) if kind == "net" else None
    hosts = [parse_add_host(h) for h in opts.add_hosts]
    if any(ip == HOST_GATEWAY for _, ip in hosts):
        gateway = engine.net.network_record("bridge")["gateway"]  # made if missing, as docker0 always is
        hosts = [(h, gateway if ip == HOST_GATEWAY else ip) for h, ip in hosts]
    aliases = list(opts.network_aliases)
    if aliases and (net is None or net["name"] == "bridge"):
        raise ConfigError(NOT_ON_DEFAULT_BRIDGE["alias"])
    for alias in aliases:
        if not alias or any(c.isspace() for c in alias) or "/" in alias:
            raise ConfigError(f"invalid network alias {alias!r}")
    return {"extra_hosts": [f"{h}:{ip}" for h, ip in hosts],
            "dns": [parse_ip(d, "--dns") for d in opts.dns],
            "dns_search": [parse_dns_search(d) for d in opts.dns_search],
            "dns_options": list(opts.dns_options),
            "network_aliases": {net["name"]: aliases} if aliases else {},
            "ip": check_ip(net, opts.ip) if opts.ip else None,
            "mac_address": parse_mac(opts.mac_address) if opts.mac_address else None,
            "expose": parse_expose(opts.expose)}  # Config.ExposedPorts adds the image's and -p's


# --------------------------------------------------------------- the files
def _last_fields(text, key):
    """Docker's GetSearchDomains/GetOptions: the fields of the last KEY line."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == [key]:
            found = parts[1:]
    return found


def _loopback_resolver(line):
    parts = line.split()
    return parts[:1] == ["nameserver"] and len(parts) > 1 and (parts[1].startswith("127.") or parts[1] == "::1")


def resolv_conf(host_text, dns=(), search=(), options=(), keep_loopback=False):
    """libnetwork's resolv.conf: the host's without flags; with any of them
    one built from the flags, the host's for the rest.  The host's resolvers
    on loopback (they would be the container's own) are left out except
    with --network host, and Google's stand in when none is left; a --dns
    given is used as given."""
    if not (dns or search or options):
        if keep_loopback:
            return host_text
        lines = [line for line in host_text.splitlines() if not _loopback_resolver(line)]
        if not any(line.split()[:1] == ["nameserver"] for line in lines):
            lines += [f"nameserver {s}" for s in FALLBACK_DNS]
        return "\n".join(lines) + "\n"
    servers = list(dns) or [line.split()[1] for line in host_text.splitlines()
                            if line.split()[:1] == ["nameserver"] and len(line.split()) > 1
                            and (keep_loopback or not _loopback_resolver(line))] or list(FALLBACK_DNS)
    search = list(search) or _last_fields(host_text, "search")
    options = list(options) or _last_fields(host_text, "options")
    lines = []
    if search and " ".join(search).strip() != ".":
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def etc_texts(kind, rec, base_hosts, host_resolv, own=None):
    """(hosts, resolv.conf) of a new container (its record's network keys)."""
    from fastctr.net.network import hosts_text
    return (hosts_text(base_hosts, rec.get("extra_hosts") or (), own),
            resolv_conf(host_resolv, rec.get("dns"), rec.get("dns_search"), rec.get("dns_options"),
                        keep_loopback=kind == "host"))
