"""`fastctr stats`: CPU %, memory use and limit, network and block I/O and
pids of running containers, from their cgroup files and /proc."""
import sys
import time

from fastctr import jsonfast as json

DEFAULT_FORMAT = ("table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}"
                  "\\t{{.BlockIO}}\\t{{.PIDs}}")


def show(engine, refs, stream=True, all=False, fmt=None, out=sys.stdout, interval=1.0):
    """Print one table (--no-stream) or refresh it every second."""
    containers = [engine.container(r) for r in refs] if refs else engine.ps(all=all)
    prev = {c["id"]: engine.stats_sample(c) for c in containers}
    time.sleep(0.5 if not stream else 0.1)  # CPU % needs two readings
    while True:
        rows = []
        for c in _still_there(engine, containers, refs, all):
            cur = engine.stats_sample(c)
            rows.append(_row(c, prev.get(c["id"]), cur))
            prev[c["id"]] = cur
        _print(rows, fmt, out, clear=stream)
        if not stream:
            return 0
        time.sleep(interval)


def _still_there(engine, containers, refs, all):
    """The containers to show now: those named that still exist, or every
    one listed now (new ones appear, removed ones go, as in Docker)."""
    if not refs:
        return engine.ps(all=all)
    from fastctr.engine import ContainerNotFoundError
    out = []
    for c in containers:
        try:
            out.append(engine._row(c["id"]))
        except ContainerNotFoundError:
            continue
    return out


def _row(c, prev, cur):
    from fastctr.engine.operate import cpu_percent
    cur = cur or {}
    limit = cur.get("memory_limit") or _host_memory()
    mem = cur.get("memory") or 0
    return {"ID": c["id"][:12], "Container": c["id"][:12], "Name": c["name"],
            "CPUPerc": f"{cpu_percent(prev, cur):.2f}%",
            "MemUsage": f"{_size(mem)} / {_size(limit)}", "MemPerc": f"{100.0 * mem / limit:.2f}%",
            "NetIO": f"{_size(cur.get('net_rx', 0), 1000)} / {_size(cur.get('net_tx', 0), 1000)}",
            "BlockIO": f"{_size(cur.get('io_read', 0), 1000)} / {_size(cur.get('io_write', 0), 1000)}",
            "PIDs": str(cur.get("pids") if cur.get("pids") is not None else 0),
            "raw": cur}


def _print(rows, fmt, out, clear):
    if fmt == "json":
        lines = [json.dumps({k: v for k, v in r.items()}) for r in rows]
    else:
        from fastctr.cli import template
        lines = template.table(fmt or DEFAULT_FORMAT, rows)
    if clear and out.isatty():
        out.write("\033[2J\033[H")
    out.write("\n".join(lines) + "\n")
    out.flush()


def _host_memory():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 1


def _size(n, base=1024):
    units = ("B", "KiB", "MiB", "GiB", "TiB") if base == 1024 else ("B", "kB", "MB", "GB", "TB")
    n = float(n or 0)
    for unit in units:
        if n < base or unit == units[-1]:
            return f"{n:.4g}{unit}"
        n /= base
