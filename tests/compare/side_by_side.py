#!/usr/bin/env python3
"""Run the same Docker commands against fastctr and Docker; diff the results.

    python3 tests/compare/side_by_side.py                  # both engines (needs docker.io: install_docker.sh)
    python3 tests/compare/side_by_side.py --only fastctr   # fastctr alone: outcomes and exit codes
    python3 tests/compare/side_by_side.py --only fastctr --baseline tests/compare/docker-20.10.json
    python3 tests/compare/side_by_side.py --apart          # fastctr in a network namespace of its own
    options: --json FILE (raw results), --grep TEXT (report only the commands containing TEXT; all
             still run, as state builds up), --fastctr PATH, --keep (leave the data roots and logs
             for a look), -v (print every command's outputs)

As root.  The script re-executes itself in new network, mount and PID
namespaces (sandbox.py): both engines, their bridges, NAT rules and
containers exist only there, and the machine's own network is never
touched.  Each command of cases.py runs against Docker, then against
fastctr; both outputs are normalized (normalize.py) and compared: exit code,
stdout, and whether stderr said anything.  Per command the table says
`same`, `differs` (with a short diff) or `missing` (fastctr said unknown
command/flag or not supported), then counts per issue-14 item.  With
--only fastctr and no baseline, a command's outcome is its exit code
(`missing` still detected); with --baseline, fastctr is compared against the
Docker results that file recorded (--json of a run with Docker)."""
import argparse
import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cases as case_list  # noqa: E402
from normalize import json_shape, looks_missing, normalize  # noqa: E402

HOST_PORTS = {"docker": 18080, "fastctr": 18081}
SUBNETS = {"docker": ("172.29.0.0/16", "172.29.5.10"), "fastctr": ("172.28.0.0/16", "172.28.5.10")}


class Engine:
    """One engine's command line, environment and per-engine placeholders."""

    def __init__(self, name, argv, env, sandbox, data_roots, prefix=()):
        self.name, self.argv, self.env, self.prefix = name, argv, env, list(prefix)
        self.tmp = sandbox.path(name, "tmp")
        home = sandbox.path(name, "home")
        self.env.update(HOME=home, DOCKER_CONFIG=os.path.join(home, ".docker"), CMP_FROM_HOST="passed-through")
        self.data_roots = data_roots
        os.makedirs(os.path.join(self.tmp, "bind"))
        with open(os.path.join(self.tmp, "bind", "hello.txt"), "w") as f:
            f.write("hello from the host\n")
        with open(os.path.join(self.tmp, "env.list"), "w") as f:
            f.write("# a comment\nFOO=from-env-file\nEMPTY=\n")
        with open(os.path.join(self.tmp, "labels"), "w") as f:
            f.write("tier=web\n")
        os.makedirs(os.path.join(self.tmp, "ctx"))
        with open(os.path.join(self.tmp, "ctx", "Dockerfile"), "w") as f:
            f.write("FROM busybox\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n")

    def values(self, ctx):
        sub, subip = SUBNETS[self.name]
        return {"{tmp}": self.tmp, "{hp}": str(HOST_PORTS[self.name]), "{sub}": sub, "{subip}": subip,
                "{E}": self.name, "{reg}": ctx["reg"], "{archive}": ctx["archive"], "{t0}": str(ctx["t0"]),
                "{now}": str(int(time.time())), "{cli}": shlex.join(self.argv),
                "{fetch}": shlex.join([sys.executable, os.path.abspath(__file__), "--fetch"])}

    def substitutions(self):
        """(value, token) pairs that put the per-engine values back as tokens."""
        pairs = [(self.tmp, "{tmp}"), (str(HOST_PORTS[self.name]), "<HP>"), (self.argv[0], "docker")]
        pairs += [(root, "<ROOT>") for root in self.data_roots]
        # the registry repositories of cases.py are per engine: {reg}/{E}/...
        pairs += [(f":5000/{self.name}/", ":5000/<E>/"), (f"from {self.name}/", "from <E>/"), ("fastctr", "docker")]
        return pairs

    def run(self, case, ctx):
        text = case.cmd
        for key, value in self.values(ctx).items():
            text = text.replace(key, value)
        argv = self.prefix + (["sh", "-c", text] if case.kind == "host" else self.argv + shlex.split(text))
        started = time.monotonic()
        # Files, not pipes: a detached container's monitor must not hold our pipe open.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                p = subprocess.run(argv, input=case.stdin, stdin=None if case.stdin else subprocess.DEVNULL,
                                   stdout=out, stderr=err, env=self.env, cwd="/", timeout=case.timeout)
                rc = p.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        return {"rc": rc, "stdout": stdout, "stderr": stderr, "seconds": round(time.monotonic() - started, 3),
                "command": text}

    def remove_everything(self):
        def out(*args):
            return subprocess.run(self.prefix + self.argv + list(args), env=self.env, capture_output=True, text=True,
                                  timeout=120).stdout.split()
        ids = out("ps", "-a", "-q")
        if ids:
            out("rm", "-f", *ids)
        left = out("ps", "-a", "-q")
        if left:
            raise RuntimeError(f"containers left: {left}")


def normalized(engine, case, result):
    subst = engine.substitutions()
    out = normalize(result["stdout"], subst, case.keep)
    err = normalize(result["stderr"], subst, case.keep)
    for pattern, repl in case.extra:
        out = re.sub(pattern, repl, out, flags=re.M)
    return out, err


def compare(case, docker, fastctr):
    """-> (verdict, short explanation)."""
    d_out, d_err = docker["norm_stdout"], docker["norm_stderr"]
    f_out, f_err = fastctr["norm_stdout"], fastctr["norm_stderr"]
    notes = []
    if docker["rc"] != fastctr["rc"]:
        notes.append(f"exit {docker['rc']} vs {fastctr['rc']}")
    if case.mode == "json":
        d_keys, f_keys = json_shape(docker["stdout"]), json_shape(fastctr["stdout"])
        if f_keys is None and d_keys is not None:
            notes.append("fastctr's output is not JSON")
        elif d_keys is not None:
            lost = sorted(d_keys - f_keys)
            if lost:
                notes.append(f"keys fastctr lacks ({len(lost)}): {', '.join(lost[:25])}"
                             + (" ..." if len(lost) > 25 else ""))
    elif case.mode == "rc":
        if bool(d_out) != bool(f_out):
            notes.append("stdout " + ("empty" if not f_out else "not empty") + " in fastctr")
    elif case.mode == "header":
        d_lines, f_lines = d_out.split("\n"), f_out.split("\n")
        if d_lines[0] != f_lines[0] or len(d_lines) != len(f_lines):
            notes.append(short_diff(d_out, f_out))
    elif case.mode == "sorted":  # rows whose order follows IDs or equal timestamps
        if sorted(d_out.split("\n")) != sorted(f_out.split("\n")):
            notes.append(short_diff("\n".join(sorted(d_out.split("\n"))), "\n".join(sorted(f_out.split("\n")))))
    elif case.mode == "lines":
        if len(d_out.split("\n")) != len(f_out.split("\n")):
            notes.append(f"{len(d_out.splitlines())} lines vs {len(f_out.splitlines())}")
    elif d_out != f_out:
        notes.append(short_diff(d_out, f_out))
    if bool(d_err) != bool(f_err):
        which = "docker" if d_err else "fastctr"
        line = (d_err or f_err).split("\n")[0][:120]
        notes.append(f"stderr only from {which}: {line!r}")
    if not notes:
        return "same", ""
    if looks_missing(fastctr["stderr"]) and not looks_missing(docker["norm_stderr"]):
        return "missing", missing_line(fastctr["stderr"])
    return "differs", "; ".join(notes)


def missing_line(stderr):
    """The line of fastctr's stderr that says what it does not know."""
    lines = [line for line in stderr.splitlines() if looks_missing(line)] or stderr.strip().splitlines() or [""]
    return lines[0][:160]


def short_diff(a, b, limit=6):
    lines = [line for line in difflib.unified_diff(a.split("\n"), b.split("\n"), "docker", "fastctr", n=0, lineterm="")
             if not line.startswith(("---", "+++", "@@"))]
    text = " | ".join(line[:110] for line in lines[:limit])
    return text + (f" | ... ({len(lines) - limit} more)" if len(lines) > limit else "")


def alone(case, fastctr, baseline):
    """Verdict for fastctr without a live Docker: against the recorded one if any."""
    if baseline is not None:
        return compare(case, baseline, fastctr)
    if looks_missing(fastctr["stderr"]):
        return "missing", missing_line(fastctr["stderr"])
    return f"exit {fastctr['rc']}", (fastctr["stderr"].strip().split("\n") or [""])[0][:120]


# ---------------------------------------------------------------- the run

def run_cases(engines, ctx, selected, baseline, verbose):
    results, seen = [], {}
    for n, case in enumerate(case_list.CASES, 1):
        seen[case.title] = seen.get(case.title, 0) + 1
        key = case.title if seen[case.title] == 1 else f"{case.title} #{seen[case.title]}"  # a baseline's key
        record = {"n": n, "item": case.item, "case": key, "mode": case.mode, "why": case.why}
        for engine in engines:
            result = engine.run(case, ctx)
            result["norm_stdout"], result["norm_stderr"] = normalized(engine, case, result)
            record[engine.name] = result
        if case.sleep:
            time.sleep(case.sleep)
        if "docker" in record:
            record["verdict"], record["note"] = compare(case, record["docker"], record["fastctr"])
        else:
            base = (baseline or {}).get(key)
            record["verdict"], record["note"] = alone(case, record["fastctr"], base)
        if selected(case):
            results.append(record)
            print_row(record, verbose)
    return results


def print_row(r, verbose):
    print(f"{r['n']:3d} [{r['item']:2d}] {r['verdict']:8s} {r['case'][:100]}")
    if r["note"]:
        print(f"{'':14s}{r['note'][:400]}")
    if r["why"] and r["verdict"] != "same":
        print(f"{'':14s}known: {r['why']}")
    if verbose:
        for name in ("docker", "fastctr"):
            if name in r:
                x = r[name]
                print(f"{'':14s}{name}: exit {x['rc']}\n{indent(x['stdout'])}{indent(x['stderr'], 'err| ')}")
    sys.stdout.flush()


def indent(text, prefix="   | "):
    return "".join(f"{'':14s}{prefix}{line}\n" for line in text.splitlines()[:30])


def summary(results):
    counts, per_item = {}, {}
    for r in results:
        verdict = r["verdict"] if r["verdict"] in ("same", "differs", "missing") else "ran"
        counts[verdict] = counts.get(verdict, 0) + 1
        per_item.setdefault(r["item"], {}).setdefault(verdict, 0)
        per_item[r["item"]][verdict] += 1
    print("\nsummary: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" (of {len(results)} commands)")
    for item in sorted(per_item):
        label = f"item {item}" if item else "basics"
        print(f"  {label:8s} " + ", ".join(f"{k} {v}" for k, v in sorted(per_item[item].items())))
    return counts


def save_baseline(path, results):
    """Docker's side of a run, normalized, for --only fastctr --baseline where
    docker.io is not installed (raw stdout only where its JSON shape is compared)."""
    out = []
    for r in results:
        if "docker" not in r:
            continue
        d = r["docker"]
        keep = {"rc": d["rc"], "norm_stdout": d["norm_stdout"], "norm_stderr": d["norm_stderr"]}
        keep["stdout"] = d["stdout"] if r["mode"] == "json" else ""
        out.append({"case": r["case"], "item": r["item"], "docker": keep})
    with open(path, "w") as f:
        json.dump({"docker": "Debian's docker.io 20.10 daemon, docker CLI 28", "results": out}, f, indent=0)


def fastctr_command(path):
    path = path or os.path.join(os.path.dirname(sys.executable), "fastctr")
    if not os.path.exists(path):
        path = shutil.which("fastctr")
    if not path:
        raise SystemExit("no fastctr launcher: install fastctr into this interpreter's environment or pass --fastctr")
    return path


def inside(args):
    import sandbox as sb
    sb.prepare_namespace()
    box = sb.Sandbox(with_docker=args.only != "fastctr", keep=args.keep)
    engines = []
    try:
        ctx = {"t0": int(time.time()), "reg": box.start_registry() or "127.0.0.1:5000",
               "archive": sb.busybox_image(os.path.join(box.path("images"), "busybox.tar"))}
        if box.with_docker:
            box.start_dockerd()
            # the classic builder: the CLI has no buildx plugin here
            env = dict(os.environ, DOCKER_HOST=f"unix://{box.docker_sock}", DOCKER_BUILDKIT="0")
            engines.append(Engine("docker", [args.docker], env, box, [box.path("docker-data")]))
        data, state = box.path("fastctr-data"), os.path.join(box.run_dir, "fastctr-state")
        env = dict(os.environ, FASTCTR_CGROUP_PARENT="self")
        env.pop("FASTCTR_DEFAULT_NETWORK", None)  # the bridge: the namespace is ours
        prefix = ()
        if args.apart:
            prefix = box.apart_netns()
            box.start_registry(prefix, "registry-apart")
        engines.append(Engine("fastctr", [fastctr_command(args.fastctr), "--data-root", data, "--state-root", state],
                              env, box, [data, state], prefix))
        baseline = None
        if args.baseline:
            with open(args.baseline) as f:
                baseline = {r["case"]: r["docker"] for r in json.load(f)["results"] if "docker" in r}
        selected = (lambda c: args.grep in c.cmd) if args.grep else (lambda c: True)
        results = run_cases(engines, ctx, selected, baseline, args.verbose)
        counts = summary(results)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"engines": [e.name for e in engines], "counts": counts, "results": results}, f, indent=1)
        if args.save_baseline:
            save_baseline(args.save_baseline, results)
    finally:
        box.teardown(engines)
    return 0


def fetch(url, seconds=5):
    """GET url, retrying while nothing listens yet; print the body (exit 1 if it never answered)."""
    import urllib.request
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=2) as r:
                sys.stdout.write(r.read().decode(errors="replace"))
                return 0
        except OSError as e:
            if time.monotonic() > deadline:
                print(f"fetch {url}: {e}", file=sys.stderr)
                return 1
            time.sleep(0.2)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--fetch"]:
        return fetch(argv[1])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("fastctr",), help="run fastctr alone (no docker.io needed)")
    ap.add_argument("--baseline", help="with --only fastctr: compare against the Docker results of a --json file")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--save-baseline", help="write Docker's normalized results here (for --baseline)")
    ap.add_argument("--grep", help="report only the commands containing this text (all still run: state builds up)")
    ap.add_argument("--fastctr", help="the fastctr launcher (default: next to this interpreter, else PATH)")
    ap.add_argument("--docker", default="docker", help="the docker CLI (default: docker)")
    ap.add_argument("--apart", action="store_true",
                    help="fastctr in a network namespace of its own, not beside dockerd (its bridges, routes and "
                         "NAT rules then cannot meet Docker's); by default both share one, as on a host with both")
    ap.add_argument("--keep", action="store_true", help="leave the data roots and logs behind")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every command's outputs")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--list", action="store_true", help="print the commands (no root needed) and exit")
    args = ap.parse_args(argv)
    if args.list:
        for n, case in enumerate(case_list.CASES, 1):
            print(f"{n:3d} [{case.item:2d}] {case.title}")
        return 0
    if os.geteuid() != 0:
        raise SystemExit("run as root: containers, namespaces and dockerd need it")
    for name in ("json", "save_baseline", "baseline"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    if args.inside:
        return inside(args)
    if args.only != "fastctr" and not shutil.which("dockerd"):
        raise SystemExit("no dockerd: run tests/compare/install_docker.sh, or use --only fastctr")
    import sandbox as sb
    return sb.reexec_in_namespace([a for a in argv if a != "--inside"])


if __name__ == "__main__":
    sys.exit(main())
