"""`fastctr network create|ls|rm|prune` and `fastctr port`, as Docker's CLI
prints them.  Imported only for these commands (through fastctr.cli.objects).

Errors of the engine exit 1 (Docker's CLI outside run/create/exec); flag
errors 125."""
import sys

from fastctr import cliargs
from fastctr.cli.common import _engine, nargs, parse
from fastctr.cliargs import UsageError

CREATE = {"-d": ("driver", True), "--driver": ("driver", True), "--subnet": ("subnet", True),
          "--gateway": ("gateway", True), "--ip-range": ("ip_range", True), "--internal": ("internal", False),
          "--label": ("label", True), "-o": ("opt", True), "--opt": ("opt", True),
          "--attachable": ("attachable", False), "--ipv4": ("ipv4", False), "--ipv6": ("ipv6", False),
          "--aux-address": ("unsupported", True), "--ipam-driver": ("ipam_driver", True),
          "--ipam-opt": ("unsupported", True), "--scope": ("scope", True), "--config-only": ("unsupported", False),
          "--config-from": ("unsupported", True), "--ingress": ("unsupported", False)}
CREATE_MULTI = {"subnet", "gateway", "ip_range", "label", "opt", "unsupported"}
BRIDGE_NAME_OPT = "com.docker.network.bridge.name"


def _create_flags(args):
    o, pos = cliargs.parse(args, CREATE, multi=CREATE_MULTI, help=True)
    nargs(pos, 1, 1)
    if o.get("unsupported"):
        flag = next(a.split("=")[0] for a in args if CREATE.get(a.split("=")[0], ("",))[0] == "unsupported")
        raise UsageError(f"network create {flag} is not supported by fastctr")
    if o.get("driver", "bridge") != "bridge":
        raise UsageError(f"network driver {o['driver']!r} is not supported: fastctr makes bridge networks")
    if o.get("ipam_driver", "default") != "default":
        raise UsageError(f"IPAM driver {o['ipam_driver']!r} is not supported: only the default one")
    if o.get("scope", "local") != "local":
        raise UsageError(f"network scope {o['scope']!r} is not supported: only local")
    if o.get("ipv6"):
        raise UsageError("--ipv6 is not supported: fastctr networks are IPv4 only")
    if o.get("ipv4") is False:
        raise UsageError("--ipv4=false is not supported: fastctr networks are IPv4")
    for flag in ("subnet", "gateway", "ip_range"):
        if len(o.get(flag, [])) > 1:
            raise UsageError(f"only one --{flag.replace('_', '-')} is supported (IPv4 networks, one subnet)")
    return o, pos[0]


def _bridge_name(opts):
    bridge = None
    for opt in opts:
        key, eq, value = opt.partition("=")
        if key != BRIDGE_NAME_OPT:
            raise UsageError(f"network option {key!r} is not supported (only {BRIDGE_NAME_OPT})")
        if not (value and len(value) <= 15 and all(c.isalnum() or c in "_.-" for c in value)):
            raise UsageError(f"invalid bridge name {value!r}: at most 15 characters of [a-zA-Z0-9_.-]")
        bridge = value
    return bridge


def cmd_network_create(g, args):
    from fastctr.engine.options import parse_labels
    from fastctr.net.ipam import PREDEFINED
    o, name = _create_flags(args)
    bridge = _bridge_name(o.get("opt", []))
    labels = parse_labels(o.get("label", []))
    engine = _engine(g)
    if name in PREDEFINED:
        print(f"fastctr: network with name {name} already exists", file=sys.stderr)
        return 1
    one = {k: (o.get(k) or [None])[0] for k in ("subnet", "gateway", "ip_range")}
    net = _engine_call(lambda: engine.net.create_network(name, bridge=bridge, labels=labels,
                                                         internal=bool(o.get("internal")), **one))
    if net is None:
        return 1
    print(net["id"])


def _engine_call(action):
    """The engine's answer, or None after printing its error (exit 1)."""
    from fastctr.errors import FastctrError
    try:
        return action()
    except (FastctrError, OSError) as e:
        print(f"fastctr: {e}", file=sys.stderr)
        return None


LS = {"-q": ("quiet", False), "--quiet": ("quiet", False), "--format": ("format", True),
      "--no-trunc": ("no_trunc", False), "-f": ("filter", True), "--filter": ("filter", True)}
LS_FILTERS = ("name", "id", "driver", "label", "type", "scope")


def _row(net, no_trunc):
    labels = ",".join(f"{k}={v}" for k, v in sorted(net["labels"].items()))
    created = net["created"] or ""
    return {"ID": net["id"] if no_trunc else net["id"][:12], "Name": net["name"], "Driver": net["driver"],
            "Scope": "local", "IPv4": "true", "IPv6": "false", "Internal": str(bool(net.get("internal"))).lower(),
            "Labels": labels, "CreatedAt": created}


def _filters(specs):
    out = {}
    for spec in specs:
        key, eq, value = spec.partition("=")
        if not eq:
            raise UsageError(f"bad format of filter (expected name=value): {spec}")
        if key not in LS_FILTERS:
            raise UsageError(f"invalid filter '{key}'")
        out.setdefault(key, []).append(value)
    return out


def _label_matches(labels, want):
    key, eq, value = want.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _matches(net, filters):
    from fastctr.net.ipam import PREDEFINED
    tests = {"name": lambda v: v in net["name"], "id": lambda v: net["id"].startswith(v),
             "driver": lambda v: v == net["driver"], "label": lambda v: _label_matches(net["labels"], v),
             "type": lambda v: v == ("builtin" if net["name"] in PREDEFINED else "custom"),
             "scope": lambda v: v == "local"}
    return all(any(tests[key](v) for v in values) for key, values in filters.items())


def _tabulate(lines):
    """Docker's tabwriter: columns padded by 3, at least 10 wide."""
    cells = [line.split("\t") for line in lines]
    widths = {}
    for row in cells:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 10 - 3), len(cell))
    return ["".join(c.ljust(widths[i] + 3) if i < len(row) - 1 else c for i, c in enumerate(row)).rstrip()
            for row in cells]


def cmd_network_ls(g, args):
    o, pos = parse(args, LS)  # filter: a list
    nargs(pos, 0, 0)
    filters = _filters(o.get("filter", []))
    nets = [n for n in _engine(g).ipam.listing() if _matches(n, filters)]
    rows = [_row(n, o.get("no_trunc")) for n in nets]
    fmt = o.get("format")
    if o.get("quiet"):
        lines = [r["ID"] for r in rows]
    elif fmt == "json":
        from fastctr import jsonfast as json
        lines = [json.dumps(r) for r in rows]
    elif fmt:
        lines = _formatted(fmt, rows)
    else:
        lines = _tabulate(["NETWORK ID\tNAME\tDRIVER\tSCOPE"] +
                          [f"{r['ID']}\t{r['Name']}\t{r['Driver']}\t{r['Scope']}" for r in rows])
    for line in lines:
        print(line)


HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6",
           "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def _formatted(fmt, rows):
    """--format TEMPLATE, and `table TEMPLATE` with Docker's header row."""
    import re
    from fastctr.cli import template
    if not fmt.startswith("table"):
        return [template.render(fmt, r) for r in rows]
    body = fmt[len("table"):].strip() or "{{.ID}}"
    header = re.sub(r"{{\s*\.(\w+)\s*}}", lambda m: HEADERS.get(m.group(1), m.group(1).upper()), body)
    return _tabulate([header.replace("\\t", "\t")] + [template.render(body, r) for r in rows])


def cmd_network_rm(g, args):
    _, pos = parse(args, {"-f": ("force", False), "--force": ("force", False)})
    nargs(pos, 1)
    engine, status = _engine(g), 0
    for name in pos:
        if _engine_call(lambda: engine.remove_network(name)) is None:
            status = 1
        else:
            print(name)
    return status


def cmd_network_prune(g, args):
    o, pos = parse(args, {"-f": ("force", False), "--force": ("force", False), "--filter": ("filter", True)})
    nargs(pos, 0, 0)
    if o.get("filter"):
        raise UsageError("network prune --filter is not supported by fastctr")
    if not o.get("force"):
        sys.stdout.write("WARNING! This will remove all custom networks not used by at least one container.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed = _engine(g).net.prune_networks()
    if removed:
        print("Deleted Networks:\n" + "".join(n + "\n" for n in removed))


def _natural(text):
    """Docker's natural sort order: 9/tcp before 10/tcp."""
    import re
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def cmd_port(g, args):
    """port CONTAINER [PRIVATE_PORT[/PROTO]]: the container's published ports."""
    _, pos = parse(args, {})
    nargs(pos, 1, 2)
    engine = _engine(g)
    c = _engine_call(lambda: engine.container(pos[0]))
    if c is None:
        return 1
    rows = engine.ipam.published(c["id"]) if c["config"].get("ports") else []
    mapped = [(f"{r['container_port']}/{r['proto']}", f"{r['host_ip'] or '0.0.0.0'}:{r['host_port']}") for r in rows]
    if len(pos) == 1:
        for line in sorted((f"{private} -> {public}" for private, public in mapped), key=_natural):
            print(line)
        return 0
    port, _, proto = pos[1].partition("/")
    if not (port.isdigit() and int(port) <= 65535):
        print(f"fastctr: Error: invalid port ({port})", file=sys.stderr)
        return 1
    public = [pub for private, pub in mapped if private == f"{int(port)}/{proto or 'tcp'}"]
    if not public:
        print(f"fastctr: Error: No public port '{pos[1]}' published for {pos[0]}", file=sys.stderr)
        return 1
    for line in public:
        print(line)


CONNECT = {"--alias": ("alias", True), "--ip": ("ip", True), "--ip6": ("unsupported", True),
           "--link": ("unsupported", True), "--link-local-ip": ("unsupported", True),
           "--driver-opt": ("unsupported", True)}


def connect(g, args):
    """network connect [--alias A]... [--ip IP] NETWORK CONTAINER."""
    o, pos = cliargs.parse(args, CONNECT, multi={"alias", "unsupported"}, help=True)
    if o.get("unsupported"):
        flag = next(a.split("=")[0] for a in args if CONNECT.get(a.split("=")[0], ("",))[0] == "unsupported")
        raise UsageError(f"network connect {flag} is not supported by fastctr")
    nargs(pos, 2, 2)
    _engine(g).connect(pos[0], pos[1], aliases=o.get("alias", []), ip=o.get("ip"))
