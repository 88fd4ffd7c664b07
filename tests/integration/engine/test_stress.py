"""A farm's load, bounded: hundreds of containers 32-way in a private network
namespace (bench/farm.py, which makes it), on the default bridge and on user
networks at once.  No command may fail, and nothing may be left: container,
veth, address, nft rule, mount, cgroup or directory."""
import os
import shutil
import subprocess
import sys

import pytest

FARM = os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench", "farm.py")
pytestmark = pytest.mark.skipif(not shutil.which("nft") or not shutil.which("unshare") or os.geteuid() != 0,
                                reason="needs root, nft and unshare")


def farm(*args, timeout=600):
    p = subprocess.run([sys.executable, FARM, *args], capture_output=True, text=True, timeout=timeout, cwd="/")
    rows = {}
    for line in p.stdout.splitlines()[1:]:
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[1].isdigit():
            rows[fields[0]] = {"count": int(fields[1]), "failed": int(fields[4]), "left": fields[5]}
    return p, rows


def test_concurrent_runs_removals_and_listings_fail_nothing_and_leave_nothing():
    p, rows = farm("-n", "240", "-j", "32", "--modes", "bridge,mixed")
    assert p.returncode == 0, p.stdout + p.stderr
    for mode in ("bridge", "mixed"):
        assert rows[mode]["failed"] == 0, p.stdout
        assert rows[mode]["left"] == "-", p.stdout


def test_parallel_rm_f_of_running_containers_while_their_monitors_clean_up():
    p, rows = farm("-n", "60", "-j", "16", "--modes", "rm-storm")
    assert p.returncode == 0, p.stdout + p.stderr
    assert rows["rm-storm"] == {"count": 60, "failed": 0, "left": "-"}, p.stdout
