"""`fastctr bench` end to end, as root with real containers: the table and
the JSON, which runtimes are there or skipped (a fresh machine with only
fastctr; runc, crun and bubblewrap installed), the plot, the bridge (in a
network namespace of our own), failures, and nothing left behind, also
after Ctrl-C.  Small counts: the figures are not what is tested here."""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

REFERENCES = ("runc", "crun", "youki", "bwrap")
CONTRACT_STAGES = {"imports", "options", "store", "image", "spec", "cgroup", "clone", "mounts", "pivot", "seccomp",
                   "exec", "network", "wait", "teardown"}


@pytest.fixture(autouse=True)
def no_cgroup_parents_left():
    """The OCI runtimes make their cgroup at our memory (v1) cgroup's path in
    every hierarchy, parents included, where our own path is another: what
    the bench made there must go too (the conftest looks only below ours)."""
    from fastctr.bench import oci
    prefix = oci.cgroup_prefix().strip("/").split("/") if oci.cgroup_prefix().strip("/") else []

    def present():
        return {os.path.join(root, *prefix[:i]) for root in oci.cgroup_roots() for i in range(1, len(prefix) + 1)
                if os.path.isdir(os.path.join(root, *prefix[:i]))}

    def ours_below():
        return {os.path.join(dirpath, d) for root in oci.cgroup_roots()
                for dirpath, dirs, _ in os.walk(os.path.join(root, *prefix)) for d in dirs if "fastctr-bench-" in d}
    before, below = present(), ours_below()
    yield
    assert present() - before == set(), "cgroup parents left behind"
    assert ours_below() - below == set(), "bench cgroups left behind"


@pytest.fixture
def tmpdir_env(fcli, tmp_path):
    """TMPDIR for the bench's bundles and state, to see that it leaves nothing there."""
    d = tmp_path / "benchtmp"
    d.mkdir()
    os.chmod(tmp_path, 0o755)
    yield dict(fcli.env, TMPDIR=str(d))
    assert os.listdir(d) == [], "the bench left its work directory"


def rows(stdout):
    """runtime -> the table row's fields; plus the skipped/failed lines."""
    lines = stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("runtime "))
    table, notes = {}, {}
    for ln in lines[head + 1:]:
        if ln.startswith(("skipped: ", "failed: ")):
            kind, name, why = ln.split(": ", 2)
            notes[name] = (kind, why)
        else:
            table[ln.split()[0]] = ln.split()[1:]
    return lines[:head + 1], table, notes


def test_table_and_json_cover_every_runtime_installed(fcli, tmpdir_env, tmp_path):
    out = tmp_path / "samples.json"
    p = fcli("bench", "-n", "3", "--warmup", "1", "--image", "bb:1", "--json", str(out), env=tmpdir_env)
    assert p.returncode == 0, p.stderr
    assert "\r[" not in p.stderr  # no progress bar when stderr is no terminal
    top, table, notes = rows(p.stdout)
    assert top[0].startswith("machine: Linux ") and " cgroup " in top[0] and " CPUs" in top[0]
    assert top[1] == ("image bb:1, command true, network none, 3 containers per runtime after 1 warm-up round(s), "
                      "concurrency 1")
    assert top[2] == "ratio: each median / fastctr-api's median"
    assert top[3].split() == ["runtime", "min", "median", "p95", "max", "ratio", "(ms)"]
    for name in ("fastctr-api", "fastctr", "fastctr-runc"):
        assert name in table, p.stdout
    assert table["fastctr-api"][-1] == "1.00x"
    for name in REFERENCES:  # what is installed ran; what is not is said
        if shutil.which(name):
            assert name in table, p.stdout
        else:
            assert notes[name] == ("skipped", f"not installed ({name} not found on PATH)")
    for name, cells in table.items():
        low, median, p95, high = map(float, cells[:4])
        assert 0 < low <= median <= p95 <= high
    doc = json.loads(out.read_text())
    assert doc["reference"] == "fastctr-api" and doc["settings"]["count"] == 3
    ran = [r["runtime"] for r in doc["runtimes"] if r["status"] == "ok"]
    assert sorted(ran) == sorted(table)
    assert {r["runtime"]: r["reason"] for r in doc["runtimes"] if r["status"] == "skipped"} == \
        {n: why for n, (_, why) in notes.items()}
    for name in ran:
        mine = [s for s in doc["samples"] if s["runtime"] == name]
        assert [s["round"] for s in mine] == [0, 1, 2]
        assert all(s["latency_ms"] > 0 and isinstance(s["stages"], list) for s in mine)
    # rounds interleave the runtimes: round 0 of every runtime before round 1 of any
    assert [s["round"] for s in doc["samples"]] == sorted(s["round"] for s in doc["samples"])
    if importlib.util.find_spec("fastctr.trace"):  # the trace contract: fastctr's samples carry its stages
        for name in ("fastctr-api", "fastctr"):
            stages = [st for s in doc["samples"] if s["runtime"] == name for st in s["stages"]]
            assert stages and {st["stage"] for st in stages} & CONTRACT_STAGES
            assert all(st["ms"] >= 0 for st in stages)


@pytest.mark.skipif(not all(shutil.which(t) for t in ("runc", "crun", "bwrap")),
                    reason="runc, crun and bubblewrap are not all installed (tests/run.sh installs them)")
def test_runc_crun_and_bubblewrap_run_the_same_image(fcli, tmpdir_env):
    p = fcli("bench", "-n", "3", "--warmup", "0", "--image", "bb:1", "--runtimes", "runc,crun,bwrap,fastctr-runc",
             env=tmpdir_env)
    assert p.returncode == 0, p.stderr
    _, table, notes = rows(p.stdout)
    assert sorted(table) == ["bwrap", "crun", "fastctr-runc", "runc"] and not notes, p.stdout


def test_a_fresh_machine_with_only_fastctr_skips_the_others_and_says_why(fcli, tmpdir_env):
    env = dict(tmpdir_env, PATH=os.path.dirname(sys.executable))
    p = fcli("bench", "-n", "3", "--warmup", "0", "--image", "bb:1", env=env)
    assert p.returncode == 0, p.stderr
    _, table, notes = rows(p.stdout)
    assert sorted(table) == ["fastctr", "fastctr-api", "fastctr-pooled", "fastctr-runc", "fastctr-served",
                             "fastctr-served-pool"]
    assert notes == {n: ("skipped", f"not installed ({n} not found on PATH)") for n in REFERENCES}


@pytest.mark.skipif(not shutil.which("script"), reason="needs script (util-linux) for a terminal")
def test_a_progress_bar_on_a_terminal(fcli, tmpdir_env):
    cmd = " ".join(fcli.argv + ["bench", "-n", "2", "--warmup", "0", "--image", "bb:1",
                                "--runtimes", "fastctr-api,fastctr-runc"])
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], env=tmpdir_env, capture_output=True, timeout=120,
                       cwd="/", stdin=subprocess.DEVNULL)  # bytes: the bar's \r kept
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert "\r[" + "#" * 30 + "] 4/4 " in out  # stdout and stderr are the one terminal here
    assert "fastctr-runc" in out.split("ratio: ")[1]


def test_concurrency_reports_containers_per_second(fcli, tmpdir_env):
    p = fcli("bench", "-n", "4", "--warmup", "0", "--concurrency", "2", "--image", "bb:1",
             "--runtimes", "fastctr-api,fastctr-runc", env=tmpdir_env)
    assert p.returncode == 0, p.stderr
    top, table, _ = rows(p.stdout)
    assert top[-1].split()[-2:] == ["containers/s", "(ms)"], p.stdout
    assert all(float(cells[-1]) > 0 for cells in table.values()), p.stdout


def test_plot_is_a_png_with_a_box_per_runtime(fcli, tmpdir_env, tmp_path):
    png = tmp_path / "start.png"
    p = fcli("bench", "-n", "3", "--warmup", "0", "--image", "bb:1", "--runtimes", "fastctr-api,fastctr-runc",
             "--plot", str(png), env=tmpdir_env)
    assert p.returncode == 0, p.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 400 and height >= 300


@pytest.mark.parametrize("traced", [False, True])
def test_a_runtime_failing_during_the_run_exits_1_with_its_error(fcli, tmpdir_env, tmp_path, traced):
    json_flag = ["--json", str(tmp_path / "s.json")] if traced else []  # the trace's table is no error
    p = fcli("bench", "-n", "3", "--warmup", "0", "--image", "bb:1", "--runtimes", "fastctr-api,fastctr",
             *json_flag, "false", env=tmpdir_env)
    assert p.returncode == 1, p.stdout + p.stderr
    _, table, notes = rows(p.stdout)
    assert table == {}
    assert notes == {"fastctr-api": ("failed", "exit status 1"), "fastctr": ("failed", "exit status 1")}
    p = fcli("bench", "-n", "2", "--warmup", "0", "--image", "bb:1", "--runtimes", "fastctr,fastctr-runc",
             *json_flag, "/no/such/command", env=tmpdir_env)
    assert p.returncode == 1, p.stdout + p.stderr
    _, table, notes = rows(p.stdout)
    for name in ("fastctr", "fastctr-runc"):
        kind, why = notes[name]
        assert kind == "failed" and why.startswith(f"{name}: ") and "/no/such/command" in why, why


def test_a_missing_image_is_one_line_and_exit_125(fcli, tmpdir_env):
    p = fcli("bench", "-n", "1", "--image", "localhost:1/nosuch:1", env=tmpdir_env)
    assert p.returncode == 125
    assert p.stdout == ""
    assert p.stderr.splitlines()[-1].startswith("fastctr: cannot get image 'localhost:1/nosuch:1': ")


@pytest.mark.parametrize("command, concurrency, runtimes", [
    (["sleep", "0.1"], "1", "fastctr-api,fastctr-pooled,fastctr,fastctr-served,fastctr-served-pool,fastctr-runc,runc,crun,"
                           "youki,bwrap"),  # between containers
    # while the one runtime's containers run (it has to end them)
    (["sleep", "30"], "2", "fastctr-api"), (["sleep", "30"], "2", "fastctr"), (["sleep", "30"], "1", "fastctr-runc"),
    (["sleep", "30"], "1", "fastctr-pooled"), (["sleep", "30"], "2", "fastctr-pooled"),
    (["sleep", "30"], "2", "runc"), (["sleep", "30"], "2", "crun"), (["sleep", "30"], "1", "bwrap"),
    (["sleep", "30"], "2", "fastctr-served")])
def test_nothing_is_left_after_ctrl_c(fcli, tmpdir_env, command, concurrency, runtimes):
    """SIGINT mid-run: every runtime's containers, state, bundles and
    cgroups go; exit 130.  The conftest's no_leaks checks cgroups and
    mounts, fcli the containers, tmpdir_env the bench's work directory."""
    if "," not in runtimes and not shutil.which(runtimes) and not runtimes.startswith("fastctr"):
        pytest.skip(f"{runtimes} is not installed")
    p = subprocess.Popen(fcli.argv + ["bench", "-n", "100", "--warmup", "0", "--concurrency", concurrency,
                                      "--image", "bb:1", "--runtimes", runtimes, *command], env=tmpdir_env,
                         cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        time.sleep(2.5)  # well into the rounds
        assert p.poll() is None, p.stderr.read()
        p.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        err = p.communicate(timeout=60)[1]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err
    assert time.monotonic() - t0 < 20
    assert err.splitlines()[-1] == "fastctr bench: interrupted; removed what it made"
    assert fcli("ps", "-a", "-q").stdout == ""


@pytest.mark.skipif(not shutil.which("unshare") or not shutil.which("ip"), reason="needs unshare and ip")
def test_bridge_in_a_network_namespace_of_our_own(world, tmp_path):
    cli = os.path.join(os.path.dirname(sys.executable), "fastctr")
    script = f"""
        set -eu
        ip link set lo up
        mkdir -p /run/netns && mount -t tmpfs -o size=1m netns /run/netns
        export FASTCTR_CGROUP_PARENT=self FASTCTR_NETD_IDLE=20 TMPDIR={tmp_path}
        trap '{sys.executable} -c "from fastctr.net import netd; netd.stop()"' EXIT
        F="{cli} --data-root {world}/data --state-root {world}/state"
        $F load -i {world}/layout >/dev/null
        $F bench -n 3 --warmup 1 --network bridge --image bb:1 --runtimes fastctr-api,fastctr,runc
        $F ps -a -q
    """
    p = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", script], capture_output=True, text=True,
                       timeout=180, cwd="/")
    assert p.returncode == 0, p.stdout + p.stderr
    top, table, _ = rows(p.stdout)
    assert "network bridge (OCI runtimes and bwrap: an empty network namespace)" in top[1]
    assert "fastctr-api" in table and "fastctr" in table
    assert p.stdout.splitlines()[-1].startswith(("runc", "skipped: runc"))  # ps -a -q printed nothing
