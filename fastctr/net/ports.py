"""Docker's -p/--publish syntax.

    -p 8080:80            host port 8080 on every address -> container port 80/tcp
    -p 127.0.0.1:8080:80  only on 127.0.0.1
    -p 8080:80/udp        udp
    -p 8000-8002:80-82    ranges of equal length
    -p 80                 container port 80 on a free host port (like -P for one port)

parse_publish() returns PortMapping rows; every malformed spec is a
ConfigError naming it."""
from fastctr.errors import ConfigError


class PortMapping:
    __slots__ = ("host_ip", "host_port", "container_port", "proto")

    def __init__(self, host_ip, host_port, container_port, proto):
        self.host_ip = host_ip          # "" = every address
        self.host_port = host_port      # 0 = pick a free one
        self.container_port = container_port
        self.proto = proto

    def __eq__(self, other):
        return isinstance(other, PortMapping) and self.key() == other.key()

    def key(self):
        return (self.host_ip, self.host_port, self.container_port, self.proto)

    def __repr__(self):
        return f"PortMapping{self.key()}"


def _port_range(text, spec):
    first, dash, last = text.partition("-")
    try:
        lo = int(first)
        hi = int(last) if dash else lo
    except ValueError:
        raise ConfigError(f"invalid port {text!r} in -p {spec}") from None
    if not (1 <= lo <= 65535 and 1 <= hi <= 65535):
        raise ConfigError(f"port {text!r} in -p {spec} is out of range 1-65535")
    if hi < lo:
        raise ConfigError(f"invalid port range {text!r} in -p {spec}")
    return lo, hi


def _host_ip(text, spec):
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts):
        raise ConfigError(f"invalid host address {text!r} in -p {spec} (IPv4 expected)")
    return text


def parse_publish(spec):
    """One -p value -> [PortMapping]."""
    body, slash, proto = spec.partition("/")
    proto = proto if slash else "tcp"
    if proto not in ("tcp", "udp"):
        raise ConfigError(f"invalid protocol {proto!r} in -p {spec}: use tcp or udp")
    parts = body.split(":")
    if len(parts) == 1:
        host_ip, host, container = "", None, parts[0]
    elif len(parts) == 2:
        host_ip, host, container = "", parts[0], parts[1]
    elif len(parts) == 3:
        host_ip, host, container = _host_ip(parts[0], spec), parts[1] or None, parts[2]
    else:
        raise ConfigError(f"invalid -p {spec}: use [HOST-IP:]HOST-PORT:CONTAINER-PORT[/PROTO]")
    c_lo, c_hi = _port_range(container, spec)
    if host is None:
        return [PortMapping(host_ip, 0, p, proto) for p in range(c_lo, c_hi + 1)]
    h_lo, h_hi = _port_range(host, spec)
    if h_hi - h_lo != c_hi - c_lo:
        raise ConfigError(f"invalid -p {spec}: host and container port ranges differ in length")
    return [PortMapping(host_ip, h_lo + i, c_lo + i, proto) for i in range(c_hi - c_lo + 1)]


def exposed_ports(image_config, expose=()):
    """-P: every ExposedPorts entry of the image ("80/tcp") and every
    --expose PORT[-PORT][/PROTO] on a free host port."""
    keys = set((image_config.get("config") or {}).get("ExposedPorts") or {})
    for spec in expose:
        ports, _, proto = spec.partition("/")
        first, _, last = ports.partition("-")
        if first.isdigit() and (last or first).isdigit():
            keys |= {f"{p}/{proto or 'tcp'}" for p in range(int(first), int(last or first) + 1)}
        else:
            keys.add(spec)  # parse_publish says what is wrong with it
    out = []
    for key in sorted(keys):
        port, _, proto = key.partition("/")
        out += parse_publish(f"{port}/{proto or 'tcp'}")
    return out


def check_conflicts(mappings):
    """Two mappings of one host port and protocol are refused at once."""
    seen = {}
    for m in mappings:
        if not m.host_port:
            continue
        for ip in ({m.host_ip} if m.host_ip else {""}):
            key = (m.host_port, m.proto)
            other = seen.get(key)
            if other is not None and (other == "" or ip == "" or other == ip):
                raise ConfigError(f"host port {m.host_port}/{m.proto} is published twice")
            seen[key] = ip
    return mappings


def _probe(ip, port, proto):
    """Bind a socket like a server would: the kernel knows who holds a port.
    With SO_REUSEADDR, as servers (and Docker's proxy) bind: a port whose
    last connection is in TIME_WAIT is free, one with a listener is not."""
    import socket
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip or "0.0.0.0", port))
        return s.getsockname()[1]


def reserve_host_port(mapping, taken):
    """The host port to use for mapping: a free one for 0; a fixed one only
    if no process listens on it and no other container publishes it."""
    for _ in range(20):
        try:
            port = _probe(mapping.host_ip, mapping.host_port, mapping.proto)
        except OSError as e:
            raise ConfigError(f"host port {mapping.host_port}/{mapping.proto} is not available: {e.strerror}") from None
        if (port, mapping.proto) not in taken:
            return port
        if mapping.host_port:
            break
    raise ConfigError(f"host port {mapping.host_port}/{mapping.proto} is already published by another container")
