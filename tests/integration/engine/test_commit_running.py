"""commit of a running container (paused for the layer, then running
again) with -c/--change, -m and -a; the image runs the new CMD."""
import json


def test_commit_a_running_container_with_changes(fcli):
    fc = fcli
    assert fc("run", "-d", "--name", "live", "bb:1", "sh", "-c", "echo hi > /hello; sleep 100").returncode == 0
    for _ in range(100):
        if fc("exec", "live", "cat", "/hello").stdout == "hi\n":
            break
    p = fc("commit", "-c", 'CMD ["cat", "/hello"]', "-c", 'ENV A=1 B="x y"', "-c", "EXPOSE 80",
           "-c", "LABEL team=a", "-c", "WORKDIR /tmp", "-m", "a message", "-a", "me", "live", "live:1")
    assert p.returncode == 0, p.stderr
    assert fc("ps", "--format", "{{.Names}} {{.State}}").stdout == "live running\n"  # unpaused
    assert fc("run", "--rm", "live:1").stdout == "hi\n"
    assert fc("run", "--rm", "live:1", "sh", "-c", 'echo "$A|$B|$PWD"').stdout == "1|x y|/tmp\n"
    doc = json.loads(fc("image", "inspect", "live:1").stdout)[0]
    assert doc["Config"]["Labels"] == {"team": "a"} and "80/tcp" in doc["Config"]["ExposedPorts"]
    assert doc["Author"] == "me"
    p = fc("commit", "-c", "FROM scratch", "live")
    assert p.returncode != 0 and "FROM is not a valid change command" in p.stderr
    assert fc("rm", "-f", "live").returncode == 0
    assert fc("rmi", "live:1").returncode == 0


def test_commit_without_pause_and_of_a_paused_container(fcli):
    fc = fcli
    fc("run", "-d", "--name", "frozen", "bb:1", "sleep", "100")
    assert fc("pause", "frozen").returncode == 0
    assert fc("commit", "frozen", "frozen:1").returncode == 0
    assert fc("ps", "--format", "{{.Status}}").stdout.strip().endswith("(Paused)")  # it stays paused
    assert fc("unpause", "frozen").returncode == 0
    assert fc("commit", "--pause=false", "frozen", "frozen:2").returncode == 0
    assert fc("rm", "-f", "frozen").returncode == 0
    assert fc("rmi", "frozen:1", "frozen:2").returncode == 0
