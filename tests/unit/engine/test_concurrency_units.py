"""The small pieces that keep concurrent commands from failing each other:
generated names, in-place rewrites of a peer's files, listings of
containers that vanish."""
import os

import pytest

from fastctr import engine as engine_mod
from fastctr.engine import options as names
from fastctr.engine.networking import _rewrite_in_place


@pytest.fixture
def engine(tmp_path):
    return engine_mod.Engine(data_root=str(tmp_path / "data"), state_root=str(tmp_path / "state"), driver="vfs")


def test_the_name_space_is_as_large_as_dockers():
    assert len(set(names.ADJECTIVES)) * len(set(names.SURNAMES)) >= 25000
    assert all(n.isalpha() and n.islower() for n in names.ADJECTIVES + names.SURNAMES)
    assert len({names.generate_name() for _ in range(200)}) > 190


def test_a_generated_name_taken_at_insert_time_is_drawn_again(engine, monkeypatch):
    assert engine._insert_row("a" * 64, "busy_name", "sha256:x", {}) == "busy_name"
    draws = iter(["busy_name", "busy_name", "free_name"])
    monkeypatch.setattr(engine_mod.core, "generate_name", lambda: next(draws))
    assert engine._insert_row("b" * 64, None, "sha256:x", {}) == "free_name"


def test_a_name_the_user_gave_that_is_taken_fails(engine):
    engine._insert_row("a" * 64, "mine", "sha256:x", {})
    with pytest.raises(engine_mod.NameInUse, match="already in use"):
        engine._insert_row("b" * 64, "mine", "sha256:x", {})
    count = engine.store.db.execute("SELECT COUNT(*) FROM containers").fetchone()[0]
    assert count == 1


def test_rewrite_in_place_keeps_the_inode_and_never_creates(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("old content that is longer\n")
    inode = path.stat().st_ino
    assert _rewrite_in_place(str(path), "new\n")
    assert path.read_text() == "new\n" and path.stat().st_ino == inode
    assert not _rewrite_in_place(str(tmp_path / "gone" / "hosts"), "x")
    assert not _rewrite_in_place(str(tmp_path / "missing"), "x")
    assert not (tmp_path / "missing").exists()


def test_ps_lists_one_snapshot_when_a_container_vanishes_mid_listing(engine, monkeypatch):
    for i, name in enumerate(("one", "two", "three")):
        engine._insert_row(str(i) * 64, name, "sha256:x", {})
        engine._set_status(str(i) * 64, "created")
    real_status = engine.live_status

    def live_status(c, runtime=None):
        if c["name"] == "three":  # another command removes "one" while the listing runs
            with engine.store.transaction() as db:
                db.execute("DELETE FROM containers WHERE id = ?", ("0" * 64,))
        return real_status(c, runtime)
    monkeypatch.setattr(engine, "live_status", live_status)
    listed = [c["name"] for c in engine.ps(all=True)]
    assert listed == ["three", "two", "one"]  # the rows as one query read them, newest first
    assert [c["name"] for c in engine.ps(all=True)] == ["three", "two"]


def test_rmtree_survives_a_file_appearing_while_it_removes(tmp_path, monkeypatch):
    from fastctr.image import drivers
    top = tmp_path / "c"
    (top / "a").mkdir(parents=True)
    (top / "a" / "f").write_text("x")
    real_rmdir, late = os.rmdir, [True]

    def rmdir(path, *a, **kw):
        if late and str(path) == str(top):
            late.pop()
            (top / "late").write_text("written by a peer after the walk")
        return real_rmdir(path, *a, **kw)
    monkeypatch.setattr(os, "rmdir", rmdir)
    drivers._rmtree(str(top))
    assert not top.exists()
