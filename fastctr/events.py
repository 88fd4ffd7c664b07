"""Docker's events: an append-only log of one JSON message per line.

Every layer (image, net, engine) records what happened with `emit`:
<data-root>/events.log gets Docker's message
  {"status", "id", "from", "Type", "Action", "Actor": {"ID", "Attributes"},
   "scope": "local", "time", "timeNano"}
(status/id/from only for containers and images, as moby fills them).  One
write(2) of a line shorter than PIPE_BUF on an O_APPEND descriptor: any
number of processes append at once and no line is ever torn or mixed.  At
MAX_BYTES the file is renamed to events.log.1 (the one before is dropped);
`fastctr events` reads both and follows the current one.  A bottom
module, imported on the start path: nothing here imports anything."""
import os

FILE = "events.log"
MAX_BYTES = 1 << 20
_LINE_MAX = 4000  # below PIPE_BUF (4096): appended atomically


def _quote(text):
    text = str(text)
    if text.isprintable() and '"' not in text and "\\" not in text:  # IDs, names: nothing to escape
        return '"' + text + '"'
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch < " " or ch == "\x7f":
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def message(kind, action, actor_id, attributes=None, time_ns=None):
    """Docker's events.Message as one JSON line (no json import: this
    runs on every container start)."""
    import time
    t = time.time_ns() if time_ns is None else time_ns
    attrs = attributes or {}
    fields = []
    if kind in ("container", "image"):
        fields += [f'"status":{_quote(action)}', f'"id":{_quote(actor_id)}']
        if kind == "container":
            fields.append(f'"from":{_quote(attrs.get("image", ""))}')
    body = ",".join(f"{_quote(k)}:{_quote(v)}" for k, v in sorted(attrs.items()))
    fields += [f'"Type":{_quote(kind)}', f'"Action":{_quote(action)}',
               '"Actor":{"ID":' + _quote(actor_id) + ',"Attributes":{' + body + "}}",
               '"scope":"local"', f'"time":{t // 1_000_000_000}', f'"timeNano":{t}']
    return "{" + ",".join(fields) + "}\n"


def emit(root, kind, action, actor_id, attributes=None):
    """Append one event to <root>/events.log.  Never fails the operation it
    reports: an event that cannot be written is lost."""
    line = message(kind, action, actor_id, attributes).encode("utf-8", "replace")
    if len(line) > _LINE_MAX:  # long labels: keep the event, drop what does not fit
        keep = {k: v for k, v in (attributes or {}).items() if k in ("name", "image", "exitCode", "container")}
        line = message(kind, action, actor_id, keep).encode("utf-8", "replace")[:_LINE_MAX]
    path = os.path.join(root, FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, line)
        if os.fstat(fd).st_size > MAX_BYTES:
            _rotate(path, fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _rotate(path, fd):
    """Rename the full file aside, unless another writer already did (then
    the path is a new, smaller file that must stay)."""
    try:
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            os.rename(path, path + ".1")
    except OSError:
        pass


def container_attributes(c, **extra):
    """What moby attaches to a container's events: its labels, image and
    name (and per event more, e.g. exitCode)."""
    attrs = {str(k): str(v) for k, v in (c.get("labels") or {}).items()}
    attrs["image"] = str((c.get("config") or {}).get("image") or c.get("image_id") or "")
    attrs["name"] = c.get("name") or ""
    attrs.update({k: str(v) for k, v in extra.items()})
    return attrs


def image(root, actor, action, name=None):
    """moby's image events: the actor is the image ID (the reference for
    pull and push), `name` the reference or the ID."""
    emit(root, "image", action, actor, {"name": name or actor})


def container(root, c, action, **extra):
    emit(root, "container", action, c["id"], container_attributes(c, **extra))
