"""`fastctr bench`: its options; the work is fastctr.bench's (imported only
when the command runs)."""
import sys

from fastctr.cli.common import parse

BENCH = {"-n": ("count", True), "--count": ("count", True), "--warmup": ("warmup", True),
         "--concurrency": ("concurrency", True), "--network": ("network", True), "--image": ("image", True),
         "--runtimes": ("runtimes", True), "--json": ("json", True), "--plot": ("plot", True)}


def cmd_bench(g, args):
    o, command = parse(args, BENCH, stop_at_positional=True)
    from fastctr.bench import command as bench
    o.update({k: g.get(k) for k in ("data_root", "state_root", "driver", "cgroup_parent")})
    try:
        return bench.bench(o, command)
    except bench.BenchError as e:
        print(f"fastctr: {e}", file=sys.stderr)
        return 125


COMMANDS = {"bench": cmd_bench}
