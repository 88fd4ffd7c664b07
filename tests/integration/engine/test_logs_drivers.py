"""The json-file log as Docker keeps it: foreground runs are logged too,
--log-opt max-size/max-file rotation by the monitor (logs reads the
rotated files in order), --log-driver none, logs --details; drivers and
options fastctr has not fail with 125 and leave nothing."""
import os
import time

import pytest


@pytest.fixture
def fc(fcli):
    return fcli


def _cdir(fc, name):
    cid = fc("inspect", "-f", "{{.Id}}", name).stdout.strip()
    return os.path.join(fc.argv[2], "containers", cid)


def _wait_exited(fc, name):
    for _ in range(300):
        if fc("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "exited":
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} did not exit")


def test_a_foreground_run_is_logged(fc):
    p = fc("run", "--name", "fg", "bb:1", "sh", "-c", "echo out; echo err >&2; exit 2")
    assert (p.returncode, p.stdout, p.stderr) == (2, "out\n", "err\n")
    logs = fc("logs", "fg")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")
    assert fc("rm", "fg").returncode == 0


def test_rotation_keeps_max_file_files_and_logs_reads_them_in_order(fc):
    fc("run", "-d", "--name", "rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "bb:1", "sh", "-c",
       "for i in $(seq 1 200); do echo line-$i; done")
    _wait_exited(fc, "rot")
    files = sorted(f for f in os.listdir(_cdir(fc, "rot")) if f.startswith("container-json.log"))
    assert files == ["container-json.log", "container-json.log.1", "container-json.log.2"]
    assert all(os.path.getsize(os.path.join(_cdir(fc, "rot"), f)) <= 1024 + 200 for f in files)
    lines = fc("logs", "rot").stdout.splitlines()
    numbers = [int(line.split("-")[1]) for line in lines]
    assert numbers == list(range(numbers[0], 201)) and numbers[0] > 1  # the oldest went, in order
    assert fc("logs", "--tail", "2", "rot").stdout == "line-199\nline-200\n"
    assert fc("rm", "rot").returncode == 0


def test_log_driver_none_and_details(fc):
    fc("run", "--name", "quiet", "--log-driver", "none", "bb:1", "echo", "x")
    p = fc("logs", "quiet")
    assert p.returncode == 1 and "configured logging driver does not support reading" in p.stderr
    fc("run", "--name", "det", "-l", "team=a", "-e", "STAGE=test", "--log-opt", "labels=team",
       "--log-opt", "env=STAGE", "bb:1", "echo", "hi")
    assert fc("logs", "--details", "det").stdout == "STAGE=test,team=a hi\n"
    fc("run", "--name", "plain", "bb:1", "echo", "hi")
    assert fc("logs", "--details", "plain").stdout == " hi\n"  # Docker: no attributes, a leading space
    assert fc("rm", "quiet", "det", "plain").returncode == 0


@pytest.mark.parametrize("flags,message", [
    (["--log-driver", "syslog"], "only the json-file and none log drivers"),
    (["--log-driver", "nosuch"], "no log driver named 'nosuch'"),
    (["--log-opt", "colour=red"], "unknown log opt 'colour' for json-file log driver"),
    (["--log-driver", "none", "--log-opt", "max-size=1m"], "unknown log opt 'max-size' for none log driver"),
    (["--log-opt", "max-size=lots"], "invalid value for max-size"),
    (["--log-opt", "max-file=2"], "max-file can only be set when max-size is set"),
    (["--log-opt", "max-size=1m", "--log-opt", "max-file=0"], "max-file cannot be less than 1"),
])
def test_bad_log_flags(fc, flags, message):
    p = fc("run", "-d", *flags, "bb:1", "true")
    assert p.returncode == 125 and message in p.stderr
    assert fc("ps", "-a", "-q").stdout == ""
