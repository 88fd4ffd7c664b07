"""`fastctr logs`: read the json-file log a container's monitor writes.

Each line is {"log": TEXT, "stream": "stdout"|"stderr", "time": RFC3339
with nanoseconds, UTC}.  The fixed-width timestamps compare as strings, so
--since/--until need no date parsing of the records."""
import sys
import time

from fastctr import jsonfast as json
from fastctr.cliargs import UsageError


def parse_time(value, flag):
    """Docker's forms: a Unix timestamp, RFC3339 (UTC), or a duration before
    now (10s, 5m, 2h) -> the record-comparable string, or None."""
    if value is None:
        return None
    seconds = None
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if value[-1:] in units and value[:-1].replace(".", "", 1).isdigit():
            seconds = time.time() - float(value[:-1]) * units[value[-1]]
        elif value.replace(".", "", 1).isdigit():
            seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        whole = int(seconds)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((seconds - whole) * 1e9):09d}Z"
    if len(value) >= 19 and value[4] == "-" and value[10] == "T":
        stamp = value.rstrip("Z")
        if "." not in stamp:
            stamp += ".000000000"
        head, frac = stamp.split(".", 1)
        return f"{head}.{frac[:9]:0<9}Z"
    raise UsageError(f"invalid value for {flag}: {value!r} (use a timestamp, RFC3339 or 10s/5m/2h)")


def _emit(rec, timestamps, out, err, details=None):
    text = rec.get("log", "")
    if details is not None:  # Docker's --details: the attributes, a space, the line
        text = f"{details} {text}"
    stream = err if rec.get("stream") == "stderr" else out
    stream.write(f"{rec.get('time', '')} {text}" if timestamps else text)


def show(engine, c, follow=False, tail=None, timestamps=False, since=None, until=None,
         out=sys.stdout, err=sys.stderr, details=False):
    """The log's records (its rotated files first, oldest first), then with
    follow what comes until the container has ended."""
    from fastctr.errors import FastctrError
    cfg = c["config"]
    if cfg.get("log_driver") == "none":
        raise FastctrError("configured logging driver does not support reading")
    path = engine.log_path(c)
    files = [path]
    if details or (cfg.get("log_opts") or {}).get("max-file"):
        from fastctr.engine import logopts
        files = logopts.rotated_paths(path, cfg)
        details = logopts.details(dict(c, _cdir=engine._cdir(c))) if details else None
    else:
        details = None
    selected = []
    for name in files[:-1]:
        try:
            with open(name, encoding="utf-8", errors="replace") as old:
                selected += _selected(old, since, until)
        except FileNotFoundError:
            continue
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        f = None
    selected += _selected(f, since, until) if f else []
    if tail is not None:
        selected = selected[-tail:] if tail > 0 else []
    for rec in selected:
        _emit(rec, timestamps, out, err, details)
    out.flush()
    err.flush()
    try:
        while follow:
            ended = not engine._runtime_alive(c["id"])
            f = follow_rotating(path, f, lambda rec: until and rec.get("time", "") > until or
                                _emit(rec, timestamps, out, err, details), _read_available)
            out.flush()
            err.flush()
            if ended:
                return
            time.sleep(0.1)
    finally:
        if f:
            f.close()


def _selected(f, since, until):
    return [rec for rec in _read_available(f)
            if not ((since and rec.get("time", "") < since) or (until and rec.get("time", "") > until))]


def follow_rotating(path, f, emit, read):
    """New records of an append-only file that its writer rotates (the
    path becomes a new file): the rest of the old file first, then the new
    one.  `read(f)` yields what f holds now; returns the file to go on with.
    `logs -f` and `events` both follow their files with it."""
    import os
    if f is not None:
        for rec in read(f):
            emit(rec)
    try:
        ino = os.stat(path).st_ino
        if f is not None and os.fstat(f.fileno()).st_ino == ino:
            return f
        new = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f  # not (yet) there again: keep reading the old one
    if f is not None:
        f.close()
    for rec in read(new):
        emit(rec)
    return new


def _read_available(f):
    """Complete records from the current position; a partial last line is
    left for the next read."""
    while True:
        pos = f.tell()
        line = f.readline()
        if not line:
            return
        if not line.endswith("\n"):
            f.seek(pos)
            return
        try:
            yield json.loads(line)
        except ValueError:
            continue
