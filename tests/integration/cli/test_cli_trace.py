"""--trace, FASTCTR_TRACE=1 and FASTCTR_TRACE_JSON on real containers: the
stages of one start (fastctr/trace.py), the child's timed in C."""
import json
import os
import re
import time

import pytest

# The stage words of the trace contract that every `run --rm` of an image shows.
RUN_STAGES = ["imports", "options", "store", "image", "spec", "cgroup", "clone", "namespaces", "mounts", "pivot",
              "seccomp", "exec", "wait", "teardown"]
CHILD_STAGES = ["clone", "namespaces", "mounts", "pivot", "process", "exec"]  # timed in csrc/spawn.c, rootfs.c
ROW = re.compile(r"^(\S+)\s+(\d+\.\d\d)\s+(\d+\.\d)(  <- failed here)?$")


def table_of(stderr, command):
    """{stage: ms} and the total of the table after `fastctr trace: COMMAND`;
    the stage marked as failed, if any."""
    lines = stderr.splitlines()
    start = lines.index(f"fastctr trace: {command}")
    assert lines[start + 1].split() == ["stage", "ms", "%"]
    stages, failed = {}, None
    for line in lines[start + 2:]:
        m = ROW.match(line)
        assert m, f"not a table row: {line!r}"
        if m.group(1) == "total":
            assert float(m.group(3)) == 100.0
            return stages, float(m.group(2)), failed
        stages[m.group(1)] = float(m.group(2))
        if m.group(4):
            failed = m.group(1)
    raise AssertionError(f"no total row in {stderr!r}")


def traced_env(fcli, **more):
    return dict(fcli.env, **more)


def test_run_trace_table_has_the_stages_and_they_add_up(fcli):
    t0 = time.monotonic()
    p = fcli("run", "--rm", "--network", "none", "--trace", "bb:1", "true")
    wall_ms = (time.monotonic() - t0) * 1000
    assert p.returncode == 0, p.stderr
    stages, total, failed = table_of(p.stderr, "run")
    assert failed is None
    assert [s for s in RUN_STAGES if s not in stages] == []
    # The order of a start: the CLI's work, then the spawn, then the end.
    order = [list(stages).index(s) for s in ("imports", "store", "image", "cgroup", "clone", "mounts", "exec", "wait",
                                             "teardown")]
    assert order == sorted(order)
    assert abs(sum(stages.values()) - total) <= 0.005 * len(stages) + 0.01
    assert 0 < total < wall_ms  # counted from the launcher's exec (FASTCTR_T0_NS), inside our wall time
    # the interpreter's start at least; through a server (its pass) the hand-over alone
    assert stages["imports"] > (0 if os.environ.get("FASTCTR_SOCKET") else 1)
    assert fcli("ps", "-a", "-q").stdout == ""


def test_child_stages_are_timed(fcli, tmp_path):
    out = tmp_path / "trace.jsonl"
    p = fcli("run", "--rm", "bb:1", "true", env=traced_env(fcli, FASTCTR_TRACE_JSON=str(out)))
    assert p.returncode == 0, p.stderr
    stages = dict((s["stage"], s["ms"]) for s in json.loads(out.read_text())["stages"])
    assert [s for s in CHILD_STAGES if not stages.get(s, 0) > 0] == [], stages


def test_json_line_format(fcli, tmp_path):
    out = tmp_path / "trace.jsonl"
    env = traced_env(fcli, FASTCTR_TRACE_JSON=str(out))
    for _ in range(2):
        assert fcli("run", "--rm", "bb:1", "true", env=env).returncode == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 2  # one line per command, appended
    for line in lines:
        doc = json.loads(line)
        assert list(doc) == ["command", "total_ms", "stages"]
        assert doc["command"] == "run"
        assert all(list(s) == ["stage", "ms"] and isinstance(s["ms"], float) for s in doc["stages"])
        assert [s for s in RUN_STAGES if s not in [x["stage"] for x in doc["stages"]]] == []
        assert abs(sum(s["ms"] for s in doc["stages"]) - doc["total_ms"]) < 0.001 * len(doc["stages"]) + 0.001
    assert line.startswith('{"command": "run", "total_ms": ')


def test_nothing_is_printed_without_tracing(fcli, tmp_path):
    p = fcli("run", "--rm", "bb:1", "true")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    p = fcli("run", "--rm", "bb:1", "true", env=traced_env(fcli, FASTCTR_TRACE="0"))
    assert (p.returncode, p.stderr) == (0, "")
    # Tracing on, but not a start: nothing either.
    p = fcli("ps", "-a", env=traced_env(fcli, FASTCTR_TRACE="1"))
    assert p.returncode == 0 and p.stderr == ""
    # --trace as the container's argument is the container's, not ours.
    p = fcli("run", "--rm", "bb:1", "echo", "--trace")
    assert (p.returncode, p.stdout, p.stderr) == (0, "--trace\n", "")


def test_env_turns_tracing_on(fcli):
    p = fcli("run", "--rm", "bb:1", "true", env=traced_env(fcli, FASTCTR_TRACE="1"))
    assert p.returncode == 0
    stages, _, _ = table_of(p.stderr, "run")
    assert "clone" in stages


def test_trace_on_create_and_start(fcli):
    p = fcli("create", "--trace", "--network", "none", "bb:1", "sleep", "30")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    try:
        stages, _, _ = table_of(p.stderr, "create")
        assert {"imports", "options", "store", "image", "spec"} <= set(stages)
        assert "clone" not in stages  # create makes the container; its process comes with start
        p = fcli("start", "--trace", cid)
        assert p.returncode == 0 and p.stdout == f"{cid}\n", p.stderr
        stages, total, _ = table_of(p.stderr, "start")
        # Started under its monitor: the forked starter's stages come back with its report.
        assert {"imports", "store", "cgroup", "clone", "namespaces", "mounts", "pivot", "exec"} <= set(stages), stages
        assert abs(sum(stages.values()) - total) <= 0.005 * len(stages) + 0.01
    finally:
        assert fcli("rm", "-f", cid).returncode == 0


def test_trace_survives_a_failing_start(fcli, tmp_path):
    out = tmp_path / "trace.jsonl"
    env = traced_env(fcli, FASTCTR_TRACE_JSON=str(out))
    # Not found: the child fails looking the command up, after its mounts and pivot.
    p = fcli("run", "--rm", "--trace", "bb:1", "/nonexistent", env=env)
    assert p.returncode == 127  # as without --trace
    assert p.stderr.startswith("fastctr: ")  # the error first, then the table
    stages, total, failed = table_of(p.stderr, "run")
    assert failed == "exec"
    assert {"clone", "mounts", "pivot", "exec", "teardown"} <= set(stages) and "wait" not in stages
    # A mount that fails in the child: the table ends at the mounts (then the clean-up).
    p = fcli("run", "--rm", "--tmpfs", "/bin/sh", "bb:1", "true", env=env)
    assert p.returncode == 125 and "Not a directory" in p.stderr
    stages, _, failed = table_of(p.stderr, "run")
    assert failed == "mounts" and "pivot" not in stages
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["failed"] for d in docs] == ["exec", "mounts"]
    assert fcli("ps", "-a", "-q").stdout == ""


def test_trace_in_process(fcli):
    """The Python API: enable, reset, run, read the stages."""
    from fastctr import trace
    from fastctr.engine import Engine, RunOptions
    data, state = fcli.argv[2], fcli.argv[4]
    engine = Engine(data_root=data, state_root=state, cgroup_parent="self")
    trace.enable()
    try:
        trace.reset()
        t0 = time.monotonic_ns()
        assert engine.run("bb:1", RunOptions(cmd=["true"], rm=True, network="none")) == 0
        wall_ms = (time.monotonic_ns() - t0) / 1e6
        stages = dict(trace.stages())
        assert [s for s in CHILD_STAGES + ["store", "image", "spec", "cgroup", "wait", "teardown"]
                if not stages.get(s, 0) > 0] == []
        assert "imports" not in stages
        assert trace.total_ms() == pytest.approx(sum(stages.values()))
        assert trace.total_ms() <= wall_ms
    finally:
        trace.reset()
        trace.disable()
    assert os.environ.get("FASTCTR_T0_NS") is None
