"""`fastctr events` from the append-only log: a container's life, image,
volume and network events; --since/--until (no follow), --filter,
--format; and concurrent writers never tear a line."""
import json
import subprocess
import sys
import time

import pytest


@pytest.fixture
def fc(fcli):
    return fcli


def _events(fc, since, *args):
    p = fc("events", "--since", since, "--until", f"{time.time():.9f}", *args, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def test_a_containers_life_in_events(fc):
    since = f"{time.time():.9f}"
    cid = fc("create", "--name", "evc", "-l", "team=a", "bb:1", "sh", "-c", "exit 3").stdout.strip()
    assert fc("start", "-a", "evc").returncode == 3
    assert fc("rm", "evc").returncode == 0
    lines = _events(fc, since, "--filter", "container=evc")
    actions = [line.split()[2] for line in lines]
    assert actions == ["create", "attach", "start", "die", "destroy"], lines
    # Docker's line: time, type, action, actor, sorted attributes
    assert lines[3].endswith(f" container die {cid} (exitCode=3, image=bb:1, name=evc, team=a)"), lines[3]
    stamp = lines[0].split()[0]
    assert len(stamp) == len("2026-12-01T11:00:00.000000000Z") and stamp.endswith("Z")

    as_json = [json.loads(line) for line in _events(fc, since, "--format", "json", "--filter", "event=die")]
    assert len(as_json) == 1
    ev = as_json[0]
    assert (ev["Type"], ev["Action"], ev["status"], ev["id"], ev["from"], ev["scope"]) == \
        ("container", "die", "die", cid, "bb:1", "local")
    assert ev["Actor"] == {"ID": cid, "Attributes": {"exitCode": "3", "image": "bb:1", "name": "evc", "team": "a"}}
    assert ev["time"] == ev["timeNano"] // 10**9

    assert _events(fc, since, "--filter", "label=team=a", "--filter", "event=create",
                   "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}") == ["container create evc"]
    assert _events(fc, since, "--filter", "label=team=b") == []
    # --until before the container existed: nothing
    p = fc("events", "--since", since, "--until", since)
    assert p.returncode == 0 and p.stdout == ""


def test_image_and_volume_events(fc):
    since = f"{time.time():.9f}"
    assert fc("tag", "bb:1", "evtag:1").returncode == 0
    assert fc("rmi", "evtag:1").returncode == 0
    assert fc("volume", "create", "evvol").returncode == 0
    assert fc("volume", "rm", "evvol").returncode == 0
    lines = _events(fc, since, "--format", "{{.Type}} {{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}")
    seen = [(*line.split(" ", 3)[:3], json.loads(line.split(" ", 3)[3])) for line in lines]
    image_id = seen[0][2]
    assert image_id.startswith("sha256:")
    assert seen == [("image", "tag", image_id, {"name": "evtag:1"}),
                    ("image", "untag", image_id, {"name": image_id}),
                    ("volume", "create", "evvol", {"driver": "local"}),
                    ("volume", "destroy", "evvol", {"driver": "local"})], lines
    assert [line.split()[2] for line in _events(fc, since, "--filter", "type=volume")] == ["create", "destroy"]


def test_save_and_commit_events(fc, tmp_path):
    since = f"{time.time():.9f}"
    assert fc("save", "-o", str(tmp_path / "bb.tar"), "bb:1").returncode == 0
    fc("create", "--name", "evcommit", "bb:1", "true")
    image_id = fc("commit", "-m", "why", "evcommit", "evcommit:1").stdout.strip()
    fc("rm", "evcommit")
    fc("rmi", "evcommit:1")
    seen = [json.loads(line) for line in _events(fc, since, "--filter", "event=save", "--filter", "event=commit",
                                                 "--format", "json")]
    assert [(e["Type"], e["Action"]) for e in seen] == [("image", "save"), ("container", "commit")]
    assert seen[1]["Actor"]["Attributes"]["imageID"] == image_id
    assert seen[1]["Actor"]["Attributes"]["comment"] == "why"


def test_durations_and_bad_input(fc):
    assert fc("events", "--since", "10m", "--until", "0s").returncode == 0
    p = fc("events", "--filter", "colour=red", "--until", "0s")
    assert p.returncode != 0 and "invalid filter 'colour'" in p.stderr
    p = fc("events", "--since", "yesterday")
    assert p.returncode == 125 and "--since" in p.stderr


def test_follow_shows_new_events_until_ctrl_c(fc):
    ev = subprocess.Popen(fc.argv + ["events", "--filter", "event=create", "--format", "{{.Actor.Attributes.name}}"],
                          stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=fc.env, text=True)
    try:
        time.sleep(0.5)
        assert fc("create", "--name", "followed", "bb:1", "true").returncode == 0
        assert ev.stdout.readline() == "followed\n"
        ev.send_signal(2)
        assert ev.wait(10) == 0
    finally:
        if ev.poll() is None:
            ev.kill()
            ev.wait()
        fc("rm", "followed")


def test_concurrent_writers_never_tear_a_line(tmp_path):
    from fastctr import events
    root = str(tmp_path)
    script = ("import sys; from fastctr import events\n"
              "for i in range(300): events.emit(sys.argv[1], 'container', 'start', sys.argv[2] * 64, "
              "{'name': 'x' * 900, 'i': str(i)})")
    procs = [subprocess.Popen([sys.executable, "-c", script, root, ch], cwd="/") for ch in "abcd"]
    assert all(p.wait(60) == 0 for p in procs)
    # 1.3 MB: the log was rotated once on the way
    lines = (open(tmp_path / (events.FILE + ".1")).read() + open(tmp_path / events.FILE).read()).splitlines()
    assert len(lines) == 1200
    assert all(json.loads(line)["Actor"]["Attributes"]["name"] == "x" * 900 for line in lines)
