"""Health checks run by the container's monitor: --health-* flags and the
image's HEALTHCHECK, healthy/unhealthy transitions (1 s intervals) in ps,
inspect's State.Health and health_status events; bad flags fail with 125."""
import json
import time

import pytest

import imagetools as it


@pytest.fixture
def fc(fcli):
    return fcli


def _wait_status(fc, name, want, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = fc("ps", "--format", "{{.Names}}\t{{.Status}}").stdout
        row = [line.split("\t")[1] for line in status.splitlines() if line.split("\t")[0] == name]
        if row and row[0].endswith(f"({want})"):
            return row[0]
        time.sleep(0.1)
    raise AssertionError(f"{name} never showed ({want}): {status}")


def test_unhealthy_then_healthy(fc):
    since = f"{time.time():.9f}"
    p = fc("run", "-d", "--name", "hc", "--health-cmd", "test -f /ok && echo fine", "--health-interval", "1s",
           "--health-retries", "2", "--health-timeout", "5s", "bb:1", "sleep", "120")
    assert p.returncode == 0, p.stderr
    _wait_status(fc, "hc", "health: starting", timeout=5)
    _wait_status(fc, "hc", "unhealthy")
    health = json.loads(fc("inspect", "-f", "{{json .State.Health}}", "hc").stdout)
    assert health["Status"] == "unhealthy" and health["FailingStreak"] >= 2
    assert all(entry["ExitCode"] == 1 for entry in health["Log"])
    assert fc("exec", "hc", "touch", "/ok").returncode == 0
    _wait_status(fc, "hc", "healthy")
    assert fc("ps", "--filter", "health=healthy", "--format", "{{.Names}}").stdout == "hc\n"
    assert fc("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").stdout == ""
    p = fc("ps", "--filter", "health=great")
    assert p.returncode == 1 and "Unrecognised filter value for health: great" in p.stderr
    health = json.loads(fc("inspect", "-f", "{{json .State.Health}}", "hc").stdout)
    assert health["FailingStreak"] == 0 and health["Log"][-1]["Output"] == "fine\n"
    assert len(health["Log"]) <= 5
    config = json.loads(fc("inspect", "-f", "{{json .Config.Healthcheck}}", "hc").stdout)
    assert config == {"Test": ["CMD-SHELL", "test -f /ok && echo fine"], "Interval": 10**9, "Timeout": 5 * 10**9,
                      "Retries": 2}
    assert fc("rm", "-f", "hc").returncode == 0
    events = fc("events", "--since", since, "--until", f"{time.time():.9f}", "--filter", "event=health_status",
                "--format", "{{.Action}}").stdout.split("\n")
    assert events[:2] == ["health_status: unhealthy", "health_status: healthy"]


def test_timeout_counts_as_a_failure(fc):
    fc("run", "-d", "--name", "slow", "--health-cmd", "sleep 5", "--health-interval", "1s", "--health-timeout",
       "200ms", "--health-retries", "1", "bb:1", "sleep", "120")
    _wait_status(fc, "slow", "unhealthy")
    log = json.loads(fc("inspect", "-f", "{{json .State.Health}}", "slow").stdout)["Log"]
    assert log[0]["ExitCode"] == -1 and "Health check exceeded timeout" in log[0]["Output"]
    assert fc("rm", "-f", "slow").returncode == 0


@pytest.fixture(scope="module")
def healthy_image(fcli, tmp_path_factory):
    layout = str(tmp_path_factory.mktemp("hc") / "layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="bbhc:1",
                        Healthcheck={"Test": ["CMD", "true"], "Interval": 10**9})
    assert fcli("load", "-i", layout).returncode == 0
    yield "bbhc:1"
    fcli("rmi", "-f", "bbhc:1")


def test_the_images_healthcheck_and_no_healthcheck(fc, healthy_image):
    fc("run", "-d", "--name", "img", healthy_image, "sleep", "120")
    _wait_status(fc, "img", "healthy")
    fc("run", "-d", "--name", "none", "--no-healthcheck", healthy_image, "sleep", "120")
    time.sleep(1.5)
    rows = dict(line.split("\t") for line in fc("ps", "--format", "{{.Names}}\t{{.Status}}").stdout.splitlines())
    assert rows["none"].startswith("Up") and "(" not in rows["none"]  # never probed
    # moby's merge: what --no-healthcheck leaves unset comes from the image
    assert json.loads(fc("inspect", "-f", "{{json .Config.Healthcheck}}", "none").stdout)["Test"] == ["NONE"]
    assert fc("rm", "-f", "img", "none").returncode == 0


@pytest.mark.parametrize("flags,message", [
    (["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-* options"),
    (["--health-interval", "-1s"], "--health-interval cannot be negative"),
    (["--health-interval", "soon"], 'invalid duration "soon"'),
    (["--health-retries", "-2"], "--health-retries cannot be negative"),
    (["--health-timeout", "1us"], "cannot be less than 1ms"),
])
def test_bad_health_flags(fc, flags, message):
    p = fc("run", "-d", *flags, "bb:1", "true")
    assert p.returncode == 125 and message in p.stderr
    assert fc("ps", "-a", "-q").stdout == ""
