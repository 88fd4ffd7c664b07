"""`fastctr diff`: A/C/D of a container's writable layer against its image,
in Docker's order, on overlay2 (upper dir, whiteouts, opaque directories)
and vfs (the full copy against the image's), running and stopped."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import imagetools as it

CHANGES = ("echo hi > /tmp/new; mkdir -p /home/app/x/y; touch /home/app/x/y/z; rm /etc/group; "
           "echo >> /etc/passwd; rm -rf /root; mkdir /root; echo r > /root/f; rm /bin/ls; chmod 700 /home")
EXPECTED = ["C /bin", "D /bin/ls", "C /etc", "D /etc/group", "C /etc/passwd", "C /home", "C /home/app",
            "A /home/app/x", "A /home/app/x/y", "A /home/app/x/y/z", "C /root", "A /root/f", "C /tmp", "A /tmp/new"]


@pytest.fixture(scope="module")
def vfs_cli():
    data = tempfile.mkdtemp(prefix="fastctr-test-data-", dir="/var/tmp")
    os.chmod(data, 0o755)
    state = tempfile.mkdtemp(prefix="fastctr-test-state-")
    it.write_oci_layout(os.path.join(data, "layout"), [it.busybox_layer()], ref_name="bb:1")
    argv = [os.path.join(os.path.dirname(sys.executable), "fastctr"), "--data-root", data, "--state-root", state,
            "--storage-driver", "vfs"]
    env = dict(os.environ, FASTCTR_CGROUP_PARENT="self")

    def run(*args):
        return subprocess.run(argv + list(args), capture_output=True, text=True, cwd="/", env=env,
                              stdin=subprocess.DEVNULL, timeout=120)
    assert run("load", "-i", os.path.join(data, "layout")).returncode == 0
    yield run
    left = run("ps", "-a", "-q").stdout.split()
    if left:
        run("rm", "-f", *left)
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)
    assert not left


@pytest.mark.parametrize("driver", ["overlay2", "vfs"])
def test_diff_lists_added_changed_and_deleted_in_dockers_order(fcli, vfs_cli, driver):
    run = fcli if driver == "overlay2" else vfs_cli
    p = run("run", "--network", "none", "bb:1", "sh", "-c", CHANGES)
    assert p.returncode == 0, p.stderr
    cid = run("ps", "-a", "-q").stdout.split()[0]
    try:
        p = run("diff", cid)
        assert p.returncode == 0, p.stderr
        # Not the mount points the runtime made (/etc/hosts, /proc, /dev...): Docker's init layer has those.
        assert p.stdout.splitlines() == EXPECTED
    finally:
        run("rm", "-f", cid)


def test_diff_of_a_running_container_and_of_an_unchanged_one(fcli):
    p = fcli("run", "-d", "--network", "none", "bb:1", "sh", "-c", "mkdir /new && touch /new/f && sleep 60")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    p2 = fcli("create", "--network", "none", "bb:1", "true")
    try:
        for _ in range(100):
            out = fcli("diff", cid).stdout.splitlines()
            if len(out) == 2:
                break
        assert out == ["A /new", "A /new/f"]
        assert fcli("diff", p2.stdout.strip()).stdout == ""
    finally:
        fcli("rm", "-f", cid, p2.stdout.strip())


def test_diff_of_a_missing_container_fails(fcli):
    p = fcli("diff", "no-such-container")
    assert p.returncode != 0 and "no-such-container" in p.stderr
    assert fcli("diff").returncode == 1  # Docker: "requires 1 argument" exits 1
