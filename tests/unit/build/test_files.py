"""fastctr.build.files.plan_mkdir: WORKDIR's mkdir -p over an image's tree."""
import os

import pytest

from fastctr.build.context import BuildError, DirView
from fastctr.build.files import plan_mkdir


@pytest.fixture
def tree(tmp_path):
    """usr/lib, lib -> usr/lib (merged /usr), var/run -> /run (absolute), etc/file."""
    for d in ("usr/lib", "run", "var", "etc"):
        os.makedirs(tmp_path / d)
    os.symlink("usr/lib", tmp_path / "lib")
    os.symlink("/run", tmp_path / "var/run")
    (tmp_path / "etc/file").write_text("x")
    return DirView(str(tmp_path))


def made(plan):
    return {path: (e.mode, e.uid, e.gid, e.mtime) for path, e in plan.entries.items()}


def test_missing_directories_are_made_0755_owned_by_the_user(tree):
    assert made(plan_mkdir(tree, "/srv/app/data", (1000, 50), 7)) == {
        "srv": (0o755, 1000, 50, 7), "srv/app": (0o755, 1000, 50, 7), "srv/app/data": (0o755, 1000, 50, 7)}
    assert made(plan_mkdir(tree, "/usr/lib/x", None, 0)) == {"usr/lib/x": (0o755, 0, 0, 0)}


def test_an_existing_directory_makes_an_empty_plan(tree):
    assert made(plan_mkdir(tree, "/usr/lib", None, 0)) == {}
    assert made(plan_mkdir(tree, "/", None, 0)) == {}


def test_symlinks_are_followed_inside_the_root(tree):
    assert list(made(plan_mkdir(tree, "/lib/foo", None, 0))) == ["usr/lib/foo"]
    assert list(made(plan_mkdir(tree, "/var/run/app", None, 0))) == ["run/app"]


def test_a_file_in_the_way_is_an_error(tree):
    with pytest.raises(BuildError, match="/etc/file is not a directory"):
        plan_mkdir(tree, "/etc/file/sub", None, 0)

