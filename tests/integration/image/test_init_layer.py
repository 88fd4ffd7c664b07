"""The init layer (fastctr/image/initlayer.py): a container's mount points
come from one layer per image, its writable layer stays empty, and the
layer goes with the image."""
import os


def _data_root(fcli):
    return fcli.argv[2]


def test_a_container_writes_nothing_for_its_mount_points(fcli):
    cid = fcli("create", "--network", "none", "bb:1", "sh", "-c", "ls -d /proc /dev /sys /etc/hostname").stdout.strip()
    try:
        p = fcli("start", "-a", cid)
        assert p.returncode == 0 and sorted(p.stdout.split()) == ["/dev", "/etc/hostname", "/proc", "/sys"], p.stderr
        upper = os.path.join(_data_root(fcli), "containers", cid, "upper")
        assert os.listdir(upper) == []  # no copy-up of /etc, no mkdir of /proc, /dev, /sys
        base = os.path.join(_data_root(fcli), "overlay2")
        inits = [d for d in os.listdir(base) if d.endswith("-init")]
        assert len(inits) == 1
        diff = os.path.join(base, inits[0], "diff")
        assert sorted(os.listdir(diff)) == ["dev", "etc", "proc", "sys"]
        assert sorted(os.listdir(os.path.join(diff, "etc"))) == ["hostname", "hosts", "resolv.conf"]
        assert all(os.path.getsize(os.path.join(diff, "etc", f)) == 0 for f in os.listdir(os.path.join(diff, "etc")))
        # The image's own /etc keeps its owner and mode in the merged view.
        p = fcli("run", "--rm", "bb:1", "stat", "-c", "%a %u", "/etc", "/tmp")
        assert p.stdout.split("\n")[:2] == ["755 0", "1777 0"], p.stdout
    finally:
        fcli("rm", "-f", cid)


def test_the_init_layer_goes_with_the_image(fcli):
    assert fcli("run", "--rm", "bb:1", "true").returncode == 0
    base = os.path.join(_data_root(fcli), "overlay2")
    assert [d for d in os.listdir(base) if d.endswith("-init")]
    p = fcli("rmi", "bb:1")
    assert p.returncode == 0, p.stderr
    assert [d for d in os.listdir(base) if d.endswith("-init")] == []
    assert os.listdir(os.path.join(base, "l")) == []
