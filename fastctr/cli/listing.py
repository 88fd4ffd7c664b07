"""`fastctr ps` as Docker lists containers: the daemon's selection (moby's
daemon/list.go: -a, -n, -l, --filter id|name|label|status|exited|ancestor|
network|before|since|volume|publish|expose) and the docker CLI's columns
(ContainerContext: ID, Image, Command, CreatedAt, RunningFor, Ports, State,
Status, Size, Labels, Mounts, LocalVolumes, Networks) in every --format.
Imported only for ps."""
import re
import sys
import time

from fastctr.cli import template, units
from fastctr.cli.common import flags
from fastctr.cliargs import UsageError
from fastctr.errors import FastctrError

PS_FLAGS = flags("-a/--all", "-f/--filter=", "--format=", "-n/--last=", "-l/--latest", "--no-trunc", "-q/--quiet",
                 "-s/--size")
DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
           "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
           "Labels": "LABELS", "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS"}
FILTERS = {"ancestor", "before", "exited", "id", "isolation", "label", "name", "status", "health", "since", "volume",
           "network", "is-task", "publish", "expose"}
NOT_HERE = {"isolation": "fastctr has one isolation (default)", "is-task": "fastctr has no swarm tasks"}
HEALTH = ("starting", "healthy", "unhealthy", "none")
STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
CONTEXT = "*formatter.ContainerContext"  # the Go type a template sees, for error messages


def parse_filters(values, accepted, not_here=None):
    """--filter KEY=VALUE (repeatable) -> {key: [values]}, checked as the
    daemon checks them: an unknown key is an error (exit 1), a key Docker
    has and fastctr cannot honour fails 125."""
    out = {}
    for f in values or []:
        key, eq, value = f.partition("=")
        if not eq:
            raise UsageError(f"bad format of filter (expected name=value): {f}")
        key = key.strip().lower()
        if key not in accepted:
            raise FastctrError(f"invalid filter '{key}'")
        if not_here and key in not_here:
            raise UsageError(f"--filter {key} is not supported: {not_here[key]}")
        out.setdefault(key, []).append(value)
    return out


def match(values, source):
    """moby's filters.Args.Match: no values match everything; a value
    matches itself or as a regular expression anywhere in `source`."""
    if not values:
        return True
    for v in values:
        if v == source:
            return True
        try:
            if re.search(v, source):
                return True
        except re.error:
            continue
    return False


def match_labels(values, labels):
    """filters.Args.MatchKVList: every `key` or `key=value` must hold."""
    if not values:
        return True
    labels = labels or {}
    for v in values:
        key, eq, want = v.partition("=")
        if key not in labels or eq and labels[key] != want:
            return False
    return True


def ps(engine, o, out=sys.stdout):
    fmt = o.get("format")
    quiet = bool(o.get("quiet"))
    size = bool(o.get("size"))
    if fmt and fmt not in ("table", "json"):
        _validate(fmt)
        size = size or (not quiet and ".Size" in fmt)
    last = _last(o)
    selected = select(engine, engine.ps(all=True), parse_filters(o.get("filter"), FILTERS, NOT_HERE),
                      bool(o.get("all")), last)
    trunc = not o.get("no_trunc")
    now = time.time()
    if quiet:
        fmt = "{{.ID}}"
    elif not fmt or fmt == "table":
        fmt = DEFAULT + ("\t{{.Size}}" if size else "")
    fields = template.fields(fmt)
    rows = [row(engine, c, trunc, now, size, fields) for c in selected]
    for line in template.table(fmt, rows, HEADERS, missing=CONTEXT):
        out.write(line + "\n")


def _validate(fmt):
    """The docker CLI runs a custom template once on an empty row first, so
    a wrong field fails even when nothing is listed."""
    body = fmt[len("table"):] if fmt.startswith("table") else fmt
    try:
        template.table(body, [dict.fromkeys(HEADERS, "")], missing=CONTEXT)
    except template.TemplateError as e:
        raise template.TemplateError(str(e).replace("template parsing error: ", "failed to execute template: ", 1))


def _last(o):
    if o.get("latest"):
        return 1
    if o.get("last") is None:
        return -1
    try:
        return int(o["last"])
    except ValueError:
        raise UsageError(f'invalid argument "{o["last"]}" for "-n, --last" flag: strconv.ParseInt: parsing '
                         f'"{o["last"]}": invalid syntax') from None


def select(engine, containers, filters, all, last):
    """moby's includeContainerInList over the containers, newest first."""
    for value in filters.get("exited", []):
        if not value.lstrip("-").isdigit():
            raise FastctrError(f"invalid filter 'exited={value}': strconv.Atoi: parsing {value!r}: invalid syntax")
    for value in filters.get("status", []):
        if value not in STATES:
            raise FastctrError(f"invalid filter 'status={value}': invalid value for state ({value}): must be one "
                               f"of {', '.join(STATES)}")
        all = True
    for value in filters.get("health", []):
        if value not in HEALTH:
            raise FastctrError(f"Unrecognised filter value for health: {value}")
    before = _container(engine, filters.get("before"))
    since = _container(engine, filters.get("since"))
    images = _ancestors(engine, filters.get("ancestor")) if "ancestor" in filters else None
    out = []
    for c in containers:
        if before is not None:
            if c["id"] == before:
                before = None
            continue
        if since is not None and c["id"] == since:
            break
        running = c["status"] in ("running", "paused", "restarting")  # Docker: a restarting one is Running
        if not running and not all and last <= 0:
            continue
        if not match(filters.get("name"), c["name"]) and not match(filters.get("name"), "/" + c["name"]):
            continue
        if not match(filters.get("id"), c["id"]) or not match_labels(filters.get("label"), c["labels"]):
            continue
        if 0 < last == len(out):
            break
        if "exited" in filters and (running or not c.get("started") or
                                    str(c["exit_code"] or 0) not in filters["exited"]):
            continue
        if not match(filters.get("status"), c["status"]):
            continue
        if "health" in filters and ((c.get("health") or "none").replace("health: ", "") not in filters["health"]):
            continue
        if images is not None and c["image_id"] not in images:
            continue
        if not _networks_match(filters.get("network"), c) or not _volumes_match(filters.get("volume"), c):
            continue
        if not _ports_match(filters.get("publish"), filters.get("expose"), c):
            continue
        out.append(c)
    return out


def _container(engine, refs):
    if not refs:
        return None
    from fastctr.engine import ContainerNotFoundError
    try:
        return engine.container(refs[-1])["id"]
    except ContainerNotFoundError:
        raise FastctrError(f"No such container: {refs[-1]}") from None


def _ancestors(engine, refs):
    """Image IDs an `ancestor=` names (an unknown image matches nothing, as
    the daemon only logs it)."""
    ids = set()
    for ref in refs:
        try:
            ids.add(engine.store.resolve(ref))
        except LookupError:
            continue
    return ids


def _networks_match(values, c):
    if not values:
        return True
    nets = c["config"].get("networks") or []
    return any(v in nets for v in values)


def _volumes_match(values, c):
    if not values:
        return True
    cfg = c["config"]
    names = set(cfg.get("volumes") or []) | {m.get("destination") for m in cfg.get("user_mounts") or []} \
        | {m.get("source") for m in cfg.get("user_mounts") or []}
    return any(v in names for v in values)


def _ports_match(publish, expose, c):
    if not publish and not expose:
        return True
    for p in c["config"].get("ports") or []:
        if f"{p[1]}/{p[3]}" in (publish or []) or f"{p[2]}/{p[3]}" in (expose or []):
            return True
        if f"{p[1]}" in (publish or []) or f"{p[2]}" in (expose or []):
            return True
    return False


def status_text(c, now):
    """The daemon's State.String(): `Up 5 seconds`, `Up 3 minutes (Paused)`,
    `Exited (3) 2 seconds ago`, `Created`.  A `health` key on the row adds
    `(healthy)`; a `restarting` status shows `Restarting (N) ... ago`."""
    status = c["status"]
    started, finished = units.parse_time(c.get("started")), units.parse_time(c.get("finished"))
    if status in ("running", "paused"):
        up = units.human_duration(max(0.0, now - (started or now)))
        if status == "paused":
            return f"Up {up} (Paused)"
        if c.get("health"):
            return f"Up {up} ({c['health']})"
        return f"Up {up}"
    if status == "restarting":
        return f"Restarting ({c['exit_code'] or 0}) {units.human_duration(max(0.0, now - (finished or now)))} ago"
    if status == "removing":
        return "Removal In Progress"
    if status == "dead":
        return "Dead"
    if started is None:
        return "Created"
    if finished is None:
        return ""
    return f"Exited ({c['exit_code'] or 0}) {units.human_duration(max(0.0, now - finished))} ago"


def row(engine, c, trunc, now, size=False, fields=None):
    """The fields of the docker CLI's ContainerContext, as strings: those
    named in `fields` (all when it is None), as every other one would cost
    time per container for nothing."""
    view = _View(engine, trunc, now, size)
    cfg = c["config"]
    return {name: get(c, cfg, view) for name, get in COLUMNS.items() if fields is None or name in fields}


class _View:
    __slots__ = ("engine", "trunc", "now", "size")

    def __init__(self, engine, trunc, now, size):
        self.engine, self.trunc, self.now, self.size = engine, trunc, now, size


def _command(c, cfg, view):
    from fastctr.cli import gofmt
    command = docker_command(cfg.get("command") or [])
    return gofmt.quote(units.ellipsis(command, 20) if view.trunc else command)


def _running_for(c, cfg, view):
    created = units.parse_time(c["created"])
    return units.human_duration(max(0.0, view.now - created)) + " ago" if created else ""


def _labels(c, cfg, view):
    return ",".join(sorted(f"{k}={v}" for k, v in (c["labels"] or {}).items()))


def _mounts(c, cfg, view):
    return ",".join(units.ellipsis(m, 15) if view.trunc else m for m in _mount_names(cfg))


COLUMNS = {
    "Command": _command,
    "CreatedAt": lambda c, cfg, view: units.go_time(c["created"]),
    "ID": lambda c, cfg, view: c["id"][:12] if view.trunc else c["id"],
    "Image": lambda c, cfg, view: _image(cfg, c, view.trunc),
    "Labels": _labels,
    "LocalVolumes": lambda c, cfg, view: str(len(cfg.get("volumes") or [])),
    "Mounts": _mounts,
    "Names": lambda c, cfg, view: c["name"],
    "Networks": lambda c, cfg, view: ",".join(cfg.get("networks") or []),
    "Platform": lambda c, cfg, view: None,  # the image's platform: Docker 28 shows it when the daemon reports it
    "Ports": lambda c, cfg, view: ports_text(cfg.get("ports") or []),
    "RunningFor": _running_for,
    "Size": lambda c, cfg, view: _size(view.engine, c) if view.size else "0B",
    "State": lambda c, cfg, view: "created" if c["status"] == "creating" else c["status"],
    "Status": lambda c, cfg, view: status_text(c, view.now),
}


def docker_command(argv):
    """The daemon's Command of a container: the path, then the arguments
    with those holding a space in single quotes (`sh -c 'echo hi'`)."""
    if not argv:
        return ""
    return " ".join([argv[0]] + [f"'{a}'" if " " in a else a for a in argv[1:]])


def _image(cfg, c, trunc):
    image = str(cfg.get("image") or "")
    if not image:
        return c["image_id"][7:19] if trunc else c["image_id"]
    if trunc and image.startswith("sha256:"):
        return image[7:19]
    return image


def _mount_names(cfg):
    names = list(cfg.get("volumes") or [])
    volume_sources = {f"/volumes/{n}/_data" for n in names}
    for m in cfg.get("user_mounts") or []:
        source = m.get("source") or ""
        if m.get("type") == "bind" and not any(source.endswith(v) for v in volume_sources):
            names.append(source)
    return names


def ports_text(ports):
    """The docker CLI's DisplayablePorts: published ports as [host-ip]:port->port/proto,
    a run of same-numbered ports as one range (0.0.0.0:80-81->80-81/tcp),
    those mapped to another number last."""
    groups, order, result, mapped = {}, [], [], []
    for ip, host_port, port, proto in sorted(((p[0] or "0.0.0.0", int(p[1]), int(p[2]), p[3]) for p in ports),
                                             key=lambda p: (p[2], p[0], p[1], p[3])):
        if host_port != port:
            mapped.append(f"{_host(ip)}:{host_port}->{port}/{proto}")
            continue
        key = (ip, proto)
        if key not in groups:
            groups[key] = [port, port]
            order.append(key)
        elif port == groups[key][1] + 1:
            groups[key][1] = port
        else:
            result.append(_group(key, *groups[key]))
            groups[key] = [port, port]
    result += [_group(key, *groups[key]) for key in order]
    return ", ".join(result + mapped)


def _host(ip):
    return f"[{ip}]" if ":" in ip else ip


def _group(key, first, last):
    ip, proto = key
    ports = str(first) if first == last else f"{first}-{last}"
    return f"{_host(ip)}:{ports}->{ports}/{proto}"


def _size(engine, c):
    """`0B (virtual 4.26MB)`: the bytes of the files the container wrote
    (its overlay upper layer; all of a vfs copy), and with the image's."""
    try:
        rw = _files_size(engine._cdir(c) + ("/upper" if c["driver"] == "overlay2" else ""))
    except OSError:
        rw = 0
    try:
        image_size = engine.store.image(c["image_id"])["size"] or 0
    except LookupError:
        image_size = 0
    text = units.human_size(rw)
    return f"{text} (virtual {units.human_size(rw + image_size)})" if rw + image_size > 0 else text


def _files_size(top):
    """The sizes of the files below `top` (not of directories), as the
    daemon sums a container's changes."""
    import os
    total = 0
    for root, dirs, files in os.walk(top):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
