"""resolve_in_root (fastctr cp): a container path resolved against the
container's root, its symlinks followed as inside it, never out of it; and
the cgroup flag parsers of fastctr.engine.cgroupflags."""
import os

import pytest

from fastctr.engine.cgroupflags import check_parent, container_path, parse_cgroup_rule, runtime_parent
from fastctr.engine.copying import resolve_in_root
from fastctr.errors import ConfigError


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("in\n")
    os.symlink("/", r / "up")                     # absolute: the container's root
    os.symlink("../../../../../../etc", r / "climb")
    os.symlink("/etc/passwd", r / "pw")
    os.symlink("loop2", r / "loop1")
    os.symlink("loop1", r / "loop2")
    return str(r)


@pytest.mark.parametrize("path, follow, want", [
    ("/etc/passwd", False, "/etc/passwd"), ("etc/./passwd", False, "/etc/passwd"),
    ("/up/etc/passwd", False, "/etc/passwd"), ("/climb/passwd", False, "/etc/passwd"),
    ("/../../etc", False, "/etc"), ("/pw", False, "/pw"), ("/pw", True, "/etc/passwd"),
    ("/up", True, "/"), ("/etc/new", False, "/etc/new"),
])
def test_symlinks_resolve_inside_the_root(root, path, follow, want):
    assert resolve_in_root(root, path, follow) == want


def test_missing_parents_and_loops_are_errors(root):
    with pytest.raises(FileNotFoundError):
        resolve_in_root(root, "/nope/x", False)
    with pytest.raises(NotADirectoryError):
        resolve_in_root(root, "/etc/passwd/x", False)
    with pytest.raises(OSError):
        resolve_in_root(root, "/loop1", True)


def test_device_cgroup_rules_as_docker_checks_them():
    assert parse_cgroup_rule("c 1:3 rwm") == {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    assert parse_cgroup_rule("b *:* r") == {"allow": True, "type": "b", "access": "r"}
    for bad in ("c 1:3", "c 1:3 rwmx", "d 1:3 r", "c 1-3 r"):
        with pytest.raises(ConfigError, match="invalid device cgroup format"):
            parse_cgroup_rule(bad)


def test_cgroup_parent_paths():
    assert container_path("/a/b/", "ID") == "/a/b/fastctr-ID" and runtime_parent("/a/b") == "/"
    assert container_path("a", "ID") == "a/fastctr-ID" and runtime_parent("a") == "self"
    for bad in ("/", "a/../b", "x.slice:docker:1"):
        with pytest.raises(ConfigError):
            check_parent(bad)


def test_writes_open_their_directory_without_following_a_symlink(root):
    """A component swapped for a symlink after resolve() (a racing container)
    is refused, not followed to the host."""
    from fastctr.engine.copying import ContainerRoot
    r = ContainerRoot(None, None)
    r.root = root
    fd = r.open_dir("/etc")
    try:
        assert sorted(os.listdir(f"/proc/self/fd/{fd}")) == ["passwd"]
    finally:
        os.close(fd)
    with pytest.raises(OSError):
        r.open_dir("/up/etc")  # /up -> /: refused, never the host's /etc
