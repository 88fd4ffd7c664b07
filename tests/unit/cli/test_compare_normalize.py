"""tests/compare/normalize.py: what the side-by-side script treats as a
legitimate difference between two engines, and what it must keep."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "compare"))

from normalize import json_shape, looks_missing, normalize  # noqa: E402

DOCKER_PS = """CONTAINER ID   IMAGE     COMMAND                  CREATED          STATUS          PORTS                   NAMES
57f25c35b9fa   busybox   "sh -c 'mkdir -p /ww…"   7 seconds ago    Up 7 seconds    0.0.0.0:18080->80/tcp   cmp-web
04c2476c14b8   busybox   "sleep 1000"             33 seconds ago   Up 32 seconds                           frosty_turing
"""
FASTCTR_PS = """CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES
95b7ebd8e231   busybox   "sh -c 'mkdir -p /ww…"   Less than a second ago   Up 1 second   0.0.0.0:18081->80/tcp   cmp-web
d416eed39bed   busybox   "sleep 1000"   2 seconds ago   Up 2 seconds      quirky_lamport3
"""


def test_ids_names_durations_ports_and_column_widths_are_legitimate_differences():
    docker = normalize(DOCKER_PS, [("18080", "<HP>")])
    fastctr = normalize(FASTCTR_PS, [("18081", "<HP>")])
    assert docker == fastctr
    assert "<ID12>  busybox" in docker and "Up <DUR:second>" in docker and "<NAME>" in docker


def test_what_a_user_reads_is_kept():
    # the unit of a duration and of a size is what Docker prints: kept
    assert normalize("busybox  latest  2 years ago  1.98MB") != normalize("busybox  latest  1065 days ago  1.98MB")
    assert normalize("1.98MB") != normalize("2129920")
    assert normalize("Up 5 seconds (Paused)") != normalize("Up 5 seconds")
    # a short ID is not a full one
    assert normalize("a" * 64) == "<ID64>" and normalize("a" * 12) == "<ID12>"
    assert normalize("[sh]") != normalize('["sh"]')


def test_addresses_an_engine_chooses_are_replaced_and_others_kept():
    assert normalize("172.17.0.2 172.18.0.1/16") == "<IP> <IP>/16"
    assert normalize("nameserver 192.0.2.53") == "nameserver 192.0.2.53"  # passed by the case itself
    assert normalize("Address:\t127.0.0.11:53") == "Address:\t127.0.0.11:53"  # loopback, and no clock in it
    assert normalize("02:42:ac:11:00:02") == "<MAC>"
    assert normalize("02:42:ac:11:00:99", keep=("mac",)) == "02:42:ac:11:00:99"


def test_timestamps_and_per_engine_values():
    assert normalize("2026-12-01T11:43:42.005112305Z fg-output") == "<TIME> fg-output"
    assert normalize("2024-01-01 00:00:00 +0000 UTC") == "<TIME>"
    subst = [("/var/tmp/x/fastctr/tmp", "{tmp}"), ("/var/tmp/x/fastctr-data", "<ROOT>")]
    assert normalize("/var/tmp/x/fastctr/tmp/bind /var/tmp/x/fastctr-data/volumes", subst) == "{tmp}/bind <ROOT>/volumes"
    assert normalize("line  \r\n\n\n") == "line"


def test_json_shape_is_the_key_paths_not_the_data():
    docker = '[{"Id": "x", "State": {"Status": "running", "Pid": 1}, "NetworkSettings": {"Networks": {"bridge": {}}}}]'
    assert json_shape(docker) == {"Id", "State", "State.Status", "State.Pid", "NetworkSettings",
                                  "NetworkSettings.Networks"}
    lines = '{"ID": "a", "Names": "x"}\n{"ID": "b", "Names": "y", "Ports": ""}\n'
    assert json_shape(lines) == {"ID", "Names", "Ports"}
    assert json_shape("CONTAINER ID   NAMES") is None


def test_missing_is_said_by_the_engine():
    assert looks_missing("fastctr: unknown flag: --filter")
    assert looks_missing("fastctr: unknown command 'port' (see fastctr --help)")
    assert looks_missing("fastctr: --mount type=volume: type 'volume' is not supported")
    assert not looks_missing("fastctr: no such container: x")
