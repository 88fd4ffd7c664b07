"""`fastctr events`: Docker's event stream, read from the log that
fastctr.events appends to (<data-root>/events.log and its one rotated
predecessor events.log.1).

Without --since/--until only new events are shown, until Ctrl-C (exit 0);
with --since the past ones from then on come first; with --until the
command ends once that time has passed.  Times are Unix timestamps, RFC3339
dates or Go durations before now (10m, 1h30m), as the docker CLI takes
them.  Filters: type, event, container, image, label, network, volume
(several values of one key: any; several keys: all)."""
import os
import re
import sys
import time

from fastctr import jsonfast as json
from fastctr.cliargs import UsageError
from fastctr.engine.logs import follow_rotating
from fastctr.errors import FastctrError
from fastctr.events import FILE

FILTER_KEYS = ("type", "event", "container", "image", "label", "network", "volume")
_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?$")


def parse_time_ns(value, flag):
    """Docker's --since/--until forms -> Unix time in ns."""
    now = time.time_ns()
    if re.fullmatch(r"\d+(\.\d{1,9})?", value):
        whole, _, frac = value.partition(".")
        return int(whole) * 10**9 + int((frac or "0").ljust(9, "0"))
    if _DURATION.fullmatch(value) or re.fullmatch(r"(?:\d+(?:\.\d*)?(?:ns|us|µs|ms|s|m|h))+", value):
        total = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(value))
        return now - int(total)
    m = _DATE.match(value)
    if m:
        y, mo, d, hh, mm, ss, frac, zone = m.groups()
        fields = (int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
        nanos = int((frac or "0").ljust(9, "0"))
        if zone is None:  # the client's local time, as docker takes it
            seconds = int(time.mktime(fields + (0, 0, -1)))
        else:
            import calendar
            seconds = calendar.timegm(fields + (0, 0, 0))
            if zone != "Z":
                sign = 1 if zone[0] == "+" else -1
                seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        return seconds * 10**9 + nanos
    raise UsageError(f"invalid value for {flag}: {value!r} (a Unix timestamp, an RFC3339 date or a duration "
                     "such as 10m)")


def parse_filters(values):
    filters = {}
    for item in values or ():
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"bad format of filter (expected name=value): {item}")
        if key not in FILTER_KEYS:
            raise FastctrError(f"invalid filter '{key}'")
        filters.setdefault(key, []).append(value)
    return filters


def _fuzzy(values, *candidates):
    """moby's FuzzyMatch: an exact value or a prefix of one."""
    return any(c and (c == v or c.startswith(v)) for v in values for c in candidates)


def matches(ev, filters):
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    kind, action, actor_id = ev.get("Type"), ev.get("Action", ""), actor.get("ID", "")
    if "type" in filters and kind not in filters["type"]:
        return False
    if "event" in filters and not any(action == v or action.startswith(v + ":") for v in filters["event"]):
        return False
    for key in ("container", "network", "volume"):
        if key in filters and not _fuzzy(filters[key], actor_id, attrs.get("name")):
            return False
    if "image" in filters:
        names = (attrs.get("image"),) if kind == "container" else (actor_id, attrs.get("name"))
        if not any(n in filters["image"] or (n or "").split(":")[0] in filters["image"] for n in names):
            return False
    for label in filters.get("label", ()):
        key, eq, value = label.partition("=")
        if key not in attrs or (eq and attrs[key] != value):
            return False
    return True


def _read_lines(f):
    while True:
        pos = f.tell()
        line = f.readline()
        if not line:
            return
        if not line.endswith("\n"):
            f.seek(pos)  # a write in progress elsewhere: read it whole next time
            return
        try:
            yield json.loads(line)
        except ValueError:
            continue


def stamp(ns):
    """Go's RFC3339NanoFixed in the local time zone, as docker prints it."""
    t = time.localtime(ns // 10**9)
    offset = t.tm_gmtoff
    zone = "Z" if offset == 0 else f"{'+' if offset > 0 else '-'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ns % 10**9:09d}" + zone


def pretty(ev):
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    line = f"{stamp(ev.get('timeNano') or ev.get('time', 0) * 10**9)} {ev.get('Type')} {ev.get('Action')} " \
           f"{actor.get('ID', '')}"
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line


def _template_object(ev):
    """Go's field names (the message's JSON keys are its tags)."""
    return {"Status": ev.get("status", ""), "ID": ev.get("id", ""), "From": ev.get("from", ""),
            "Type": ev.get("Type", ""), "Action": ev.get("Action", ""), "Actor": ev.get("Actor") or {},
            "Scope": ev.get("scope", ""), "Time": ev.get("time", 0), "TimeNano": ev.get("timeNano", 0)}


def formatter(fmt):
    if not fmt:
        return pretty
    if fmt.strip() in ("json", "{{json .}}"):
        return lambda ev: json.dumps(ev, separators=(",", ":"))
    from fastctr.cli import template
    return lambda ev: template.render(fmt, _template_object(ev))


def show(root, since=None, until=None, filters=None, fmt=None, out=sys.stdout, poll=0.1):
    """Print the events; returns the exit status (0, also after Ctrl-C)."""
    filters = filters or {}
    line_of = formatter(fmt)
    path = os.path.join(root, FILE)

    def emit(ev):
        t = ev.get("timeNano") or 0
        if (since is not None and t < since) or (until is not None and t > until):
            return
        if matches(ev, filters):
            out.write(line_of(ev) + "\n")

    try:
        f = _open(path)
        if since is not None or until is not None:
            _replay_rotated(path, f, emit)
            for ev in _read_lines(f) if f else ():
                emit(ev)
        elif f:
            f.seek(0, os.SEEK_END)  # only what comes from now on
        out.flush()
        while until is None or time.time_ns() <= until:
            time.sleep(poll)
            f = follow_rotating(path, f, emit, _read_lines)
            out.flush()
        return 0
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0


def _open(path):
    try:
        return open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None


def _replay_rotated(path, current, emit):
    """The rotated file, when it holds older events than the current one."""
    old = _open(path + ".1")
    if old is None:
        return
    with old:
        if current is not None and os.fstat(old.fileno()).st_ino == os.fstat(current.fileno()).st_ino:
            return
        for ev in _read_lines(old):
            emit(ev)


def command(engine_root, args):
    from fastctr import cliargs
    o, pos = cliargs.parse(args, {"--since": ("since", True), "--until": ("until", True), "-f": ("filter", True),
                          "--filter": ("filter", True), "--format": ("format", True)},
                           multi={"filter"}, help=True)
    if pos:
        raise UsageError("events takes no arguments")
    since = parse_time_ns(o["since"], "--since") if o.get("since") else None
    until = parse_time_ns(o["until"], "--until") if o.get("until") else None
    filters = parse_filters(o.get("filter"))
    return show(engine_root, since=since, until=until, filters=filters, fmt=o.get("format"))
