"""The numbers of a bench run and how they are shown: summaries of the
samples, the table, the machine line and the JSON document."""
import math
import os


def percentile(values, q):
    """The q-th percentile (0..100), interpolated between the closest ranks
    (numpy's default, so the figures match what users compute themselves)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(latencies_ms, wall_s=None):
    """min/median/p95/max of one runtime's samples; containers per second
    when the wall time of its batches is given."""
    out = {"count": len(latencies_ms), "min_ms": min(latencies_ms), "median_ms": percentile(latencies_ms, 50),
           "p95_ms": percentile(latencies_ms, 95), "max_ms": max(latencies_ms),
           "mean_ms": sum(latencies_ms) / len(latencies_ms), "stdev_ms": _stdev(latencies_ms)}
    if wall_s:
        out["containers_per_s"] = len(latencies_ms) / wall_s
    return out


def _stdev(values):
    """The sample standard deviation (0 for one value)."""
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def reference_of(names):
    """The runtime the ratios are relative to: fastctr's API, else the first
    fastctr row there is, else the first row."""
    if "fastctr-api" in names:
        return "fastctr-api"
    for n in names:
        if n.startswith("fastctr"):
            return n
    return names[0] if names else None


def table(summaries, skipped=(), failed=(), throughput=False):
    """The result table as lines.  summaries: [(name, summary)] in the order
    of --runtimes; skipped/failed: [(name, reason)]."""
    names = [n for n, _ in summaries]
    ref = reference_of(names)
    ref_median = dict(summaries)[ref]["median_ms"] if ref else None
    lines = [f"ratio: each median / {ref}'s median" if ref else "ratio: no runtime ran"]
    head = ["runtime", "min", "median", "p95", "max", "ratio"] + (["containers/s"] if throughput else [])
    rows = []
    for name, s in summaries:
        ratio = s["median_ms"] / ref_median if ref_median else float("nan")
        row = [name] + [f"{s[k]:.2f}" for k in ("min_ms", "median_ms", "p95_ms", "max_ms")] + [f"{ratio:.2f}x"]
        if throughput:
            row.append(f"{s.get('containers_per_s', 0):.1f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def fmt(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
    lines.append(fmt(head) + "   (ms)")
    lines += [fmt(r) for r in rows]
    lines += [f"failed: {n}: {why}" for n, why in failed]
    lines += [f"skipped: {n}: {why}" for n, why in skipped]
    return lines


def cgroup_mode():
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2"
    if os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"):
        return "hybrid"
    return "v1"


def machine():
    u = os.uname()
    try:
        usable = len(os.sched_getaffinity(0))
    except OSError:
        usable = os.cpu_count()
    return {"kernel": u.release, "arch": u.machine, "cgroup": cgroup_mode(), "cpus": os.cpu_count(),
            "usable_cpus": usable}


def machine_line(m):
    cpus = f"{m['cpus']} CPUs" + (f" ({m['usable_cpus']} usable)" if m["usable_cpus"] != m["cpus"] else "")
    return f"machine: Linux {m['kernel']} {m['arch']}, cgroup {m['cgroup']}, {cpus}"


def document(settings, machine_info, results, samples):
    """What --json writes: the settings, the machine, per runtime its status
    (ok, skipped, failed) with the reason and summary, and every raw sample."""
    names = [r["runtime"] for r in results if r["status"] == "ok"]
    return {"settings": settings, "machine": machine_info, "reference": reference_of(names),
            "runtimes": results, "samples": samples}
