"""The cgroup directories a container's creation makes are all known to its
clean-up, even when a Ctrl-C comes as a mkdir returns (Python raises it
right after the C call, before its result is stored).  Plain directories
stand in for cgroupfs: the bookkeeping is what is tested."""
import os

import pytest

from fastctr.runtime import cgroups


def interrupt_after_mkdir_of(monkeypatch, name):
    real = os.mkdir

    def mkdir(path, *args, **kw):
        real(path, *args, **kw)
        if os.path.basename(path) == name:
            raise KeyboardInterrupt
    monkeypatch.setattr(os, "mkdir", mkdir)


@pytest.mark.parametrize("name", ["parent", "leaf"])
def test_a_directory_made_as_ctrl_c_comes_is_in_made(tmp_path, monkeypatch, name):
    made = []
    interrupt_after_mkdir_of(monkeypatch, name)
    with pytest.raises(KeyboardInterrupt):
        cgroups._makedirs(str(tmp_path / "parent" / "leaf"), made)
    expected = tmp_path / "parent" if name == "parent" else tmp_path / "parent" / "leaf"
    assert made[-1] == str(expected)
    assert all(os.path.isdir(d) for d in made)


def test_the_fast_path_records_the_leaf_and_a_present_one_is_not_ours(tmp_path):
    made = []
    cgroups._makedirs(str(tmp_path / "leaf"), made)
    assert made == [str(tmp_path / "leaf")]
    with pytest.raises(FileExistsError):
        cgroups._makedirs(str(tmp_path / "leaf"), made)
    assert made == [str(tmp_path / "leaf")]  # not recorded twice: another's would be removed
    cgroups._makedirs(str(tmp_path / "leaf" / "a" / "b"), made)
    assert made == [str(tmp_path / p) for p in ("leaf", "leaf/a", "leaf/a/b")]


def test_a_ctrl_c_in_the_cpuset_copy_leaves_its_directory_in_made(tmp_path):
    made = []

    def copy(path):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        cgroups._makedirs(str(tmp_path / "leaf"), made, copy)
    assert made == [str(tmp_path / "leaf")]
