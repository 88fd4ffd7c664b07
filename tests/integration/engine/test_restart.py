"""--restart policies on real containers: the monitor's clean-up restarts
the process in the same container with Docker's back-off, RestartCount
grows, `stop` is final, `rm -f` ends a waiting restart; and Ctrl-C in
`attach` reaches the container unless --sig-proxy=false."""
import os
import signal
import subprocess
import time

import pytest


@pytest.fixture
def fc(fcli):
    yield fcli
    _wait_no_monitor(fcli)


def _monitors(fc):
    data = fc.argv[2].encode()
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(a == data for a in argv) and (argv[0].endswith(b"/monitor") or b"cleanup" in argv):
            out.append(int(pid))
    return out


def _wait_no_monitor(fc, timeout=20):
    deadline = time.monotonic() + timeout
    while _monitors(fc) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _monitors(fc), "a monitor or a restart waiter was left behind"


def _record(fc, name):
    """The container's record as the engine keeps it (restart_count, ...)."""
    from fastctr.engine import Engine
    engine = Engine(data_root=fc.argv[2], state_root=fc.argv[4])
    return engine.container(name)


def _ps(fc):
    """name -> {"State", "Status"} as `ps --format` prints them."""
    out = fc("ps", "-a", "--format", "{{.Names}}\t{{.State}}\t{{.Status}}").stdout
    rows = [line.split("\t") for line in out.splitlines() if line]
    return {r[0]: {"State": r[1], "Status": r[2]} for r in rows}


def _wait_for(predicate, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_on_failure_n_restarts_n_times_then_exits(fc):
    p = fc("run", "-d", "--name", "onf", "--restart", "on-failure:2", "bb:1", "sh", "-c", "echo run; exit 3")
    assert p.returncode == 0, p.stderr
    _wait_for(lambda: _record(fc, "onf")["config"].get("restart_count") == 2
              and _record(fc, "onf")["status"] == "exited", what="two restarts, then exited")
    time.sleep(0.5)  # no third run comes
    c = _record(fc, "onf")
    assert c["config"]["restart_count"] == 2
    assert c["config"]["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert c["exit_code"] == 3
    assert fc("logs", "onf").stdout == "run\n" * 3  # one log across the runs, as Docker's
    assert fc("rm", "onf").returncode == 0


def test_on_failure_does_not_restart_a_success(fc):
    fc("run", "-d", "--name", "ok", "--restart", "on-failure", "bb:1", "true")
    _wait_for(lambda: _ps(fc)["ok"]["State"] == "exited", what="exit")
    time.sleep(0.5)
    assert _record(fc, "ok")["config"]["restart_count"] == 0
    fc("rm", "ok")


def test_always_restarts_until_stop_which_is_final(fc):
    fc("run", "-d", "--name", "alw", "--restart", "always", "bb:1", "sh", "-c", "echo up; sleep 0.3")
    _wait_for(lambda: (_record(fc, "alw")["config"].get("restart_count") or 0) >= 2, what="restarts")
    def restarting():
        row = _ps(fc)["alw"]
        return row["Status"] if row["State"] == "restarting" else None
    seen = _wait_for(restarting, what="the restarting state")
    assert seen.startswith("Restarting (0) ") and seen.endswith(" ago"), seen
    assert fc("stop", "alw").returncode == 0
    count = _record(fc, "alw")["config"]["restart_count"]
    _wait_no_monitor(fc)
    time.sleep(1.0)
    assert _ps(fc)["alw"]["State"] == "exited"
    assert _record(fc, "alw")["config"]["restart_count"] == count  # stopped for good
    # A start resets the count and the policy applies again; rm -f ends it.
    assert fc("start", "alw").returncode == 0
    _wait_for(lambda: (_record(fc, "alw")["config"].get("restart_count") or 0) >= 1, what="restart after start")
    assert fc("rm", "-f", "alw").returncode == 0
    _wait_no_monitor(fc)
    assert "alw" not in _ps(fc)


def test_restart_reuses_the_writable_layer(fc):
    fc("run", "-d", "--name", "layer", "--restart", "on-failure:1", "bb:1", "sh", "-c",
       "echo x >> /count; wc -l < /count; exit 1")
    _wait_for(lambda: _record(fc, "layer")["status"] == "exited"
              and _record(fc, "layer")["config"].get("restart_count") == 1, what="one restart")
    assert fc("logs", "layer").stdout.split() == ["1", "2"]
    fc("rm", "layer")


def test_unless_stopped_honours_kill_always_does_not(fc):
    fc("run", "-d", "--name", "us", "--restart", "unless-stopped", "bb:1", "sleep", "60")
    fc("run", "-d", "--name", "al", "--restart", "always", "bb:1", "sleep", "60")
    assert fc("kill", "us", "al").returncode == 0
    _wait_for(lambda: (_record(fc, "al")["config"].get("restart_count") or 0) >= 1, what="always restarts")
    assert _ps(fc)["us"]["State"] == "exited"
    assert _record(fc, "us")["config"]["restart_count"] == 0
    assert fc("rm", "-f", "us", "al").returncode == 0


@pytest.mark.parametrize("flags,message", [
    (["--restart", "sometimes"], "unknown policy 'sometimes'"),
    (["--restart", "always:3"], "maximum retry count can only be used with 'on-failure'"),
    (["--restart", "on-failure:x"], "maximum retry count must be an integer"),
    (["--restart", "on-failure:-1"], "cannot be negative"),
    (["--restart", ":1"], "no policy provided before colon"),
    (["--rm", "--restart", "always"], "cannot specify both --restart and --rm"),
])
def test_bad_restart_flags_fail_with_125_and_leave_nothing(fc, flags, message):
    p = fc("run", "-d", *flags, "bb:1", "true")
    assert p.returncode == 125
    assert message in p.stderr
    assert fc("ps", "-a", "-q").stdout == ""


def test_foreground_run_with_a_policy_returns_and_the_container_restarts(fc):
    p = fc("run", "--name", "fgr", "--restart", "on-failure:1", "bb:1", "sh", "-c", "echo hi; exit 5")
    assert p.returncode == 5 and p.stdout == "hi\n"
    _wait_for(lambda: _record(fc, "fgr")["config"].get("restart_count") == 1
              and _record(fc, "fgr")["status"] == "exited", what="the restart")  # recorded: its log is written
    assert fc("logs", "fgr").stdout == "hi\nhi\n"
    fc("rm", "fgr")


# ------------------------------------------------------------ attach and Ctrl-C

TRAP = "trap 'echo got-int; exit 3' INT; echo ready; while :; do sleep 0.1; done"


def test_ctrl_c_in_attach_reaches_the_container(fc):
    fc("run", "-d", "--name", "trap", "bb:1", "sh", "-c", TRAP)
    _wait_for(lambda: "ready" in fc("logs", "trap").stdout, what="ready")
    att = subprocess.Popen(fc.argv + ["attach", "trap"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env=fc.env, text=True)
    try:
        time.sleep(0.5)  # attached
        att.send_signal(signal.SIGINT)
        assert att.wait(20) == 3
        assert att.stdout.read() == "got-int\n"
    finally:
        if att.poll() is None:
            att.kill()
            att.wait()
    assert fc("rm", "trap").returncode == 0


def test_sig_proxy_false_detaches_only_the_client(fc):
    fc("run", "-d", "--name", "trap2", "bb:1", "sh", "-c", TRAP)
    _wait_for(lambda: "ready" in fc("logs", "trap2").stdout, what="ready")
    att = subprocess.Popen(fc.argv + ["attach", "--sig-proxy=false", "trap2"], stdout=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, env=fc.env)
    try:
        time.sleep(0.5)
        att.send_signal(signal.SIGINT)
        assert att.wait(20) != 0
    finally:
        if att.poll() is None:
            att.kill()
            att.wait()
    time.sleep(0.3)
    assert _ps(fc)["trap2"]["State"] == "running"
    assert "got-int" not in fc("logs", "trap2").stdout
    assert fc("rm", "-f", "trap2").returncode == 0
