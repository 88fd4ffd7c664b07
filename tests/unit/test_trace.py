"""fastctr.trace: stages, their sum, the table and the JSON line."""
import io
import json
import time

import pytest

from fastctr import trace


@pytest.fixture
def on():
    trace.enable()
    trace.reset()
    yield trace
    trace.reset()
    trace.disable()


def test_off_records_nothing():
    trace.disable()
    trace.reset()
    trace.mark("store")
    trace.add("clone", 1.0)
    assert trace.stages() == [] and trace.total_ms() == 0


def test_marks_are_the_time_since_the_previous_one(on):
    time.sleep(0.002)
    trace.mark("store")
    trace.mark("image")
    (s1, ms1), (s2, ms2) = trace.stages()
    assert (s1, s2) == ("store", "image") and ms1 >= 2 and 0 <= ms2 < ms1
    assert trace.total_ms() == pytest.approx(ms1 + ms2)


def test_a_stage_marked_twice_adds_up_in_its_first_place(on):
    t = time.monotonic_ns()
    trace.mark_at("store", t + 1_000_000)
    trace.mark_at("image", t + 3_000_000)
    trace.mark_at("store", t + 3_500_000)
    names = [s for s, _ in trace.stages()]
    assert names == ["store", "image"]
    assert dict(trace.stages())["image"] == pytest.approx(2.0)
    assert trace.total_ms() >= 3.5


def test_a_mark_in_the_past_counts_zero_and_keeps_the_clock(on):
    now = time.monotonic_ns()
    trace.mark_at("a", now + 2_000_000)
    trace.mark_at("b", now + 1_000_000)  # before the previous mark: 0, not negative
    trace.mark_at("c", now + 3_000_000)
    d = dict(trace.stages())
    assert d["b"] == 0 and d["c"] == pytest.approx(1.0)


def test_forked_stages_merge_back(on):
    trace.mark("store")
    snap_parent = trace.snapshot()
    trace.forked()  # as the starter's child would
    trace.mark("clone")
    snap = trace.snapshot()
    assert [s for s, _ in snap["stages"]] == ["fork", "clone"]
    trace.reset()
    trace.mark_at("store", snap_parent["end_ns"])
    trace.merge(snap)
    assert [s for s, _ in trace.stages()] == ["store", "fork", "clone"]


def test_table_and_json_line(on):
    t = time.monotonic_ns()
    trace.mark_at("imports", t + 9_100_000)
    trace.mark_at("mounts", t + 12_000_000)
    trace.failed("mounts")
    lines = trace.table().splitlines()
    assert lines[0].split() == ["stage", "ms", "%"]
    assert lines[2].split()[0] == "mounts" and lines[2].endswith("<- failed here")
    assert lines[-1].split()[0] == "total" and lines[-1].split()[-1] == "100.0"
    widths = {len(line.split("  <-")[0]) for line in lines}
    assert len(widths) == 1  # aligned
    doc = json.loads(trace.json_line("run"))
    assert list(doc) == ["command", "total_ms", "stages", "failed"]
    assert doc["stages"][0]["stage"] == "imports" and doc["failed"] == "mounts"


def test_report_names_the_traced_command_only(on, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCTR_TRACE_JSON", str(tmp_path / "t.jsonl"))
    out = io.StringIO()
    trace.report(out=out)  # no command traced yet
    assert out.getvalue() == ""
    trace.enable("start")
    trace.mark("options")
    trace.report(out=out)
    assert out.getvalue().startswith("fastctr trace: start\nstage")
    assert json.loads((tmp_path / "t.jsonl").read_text())["command"] == "start"


def test_origin_without_the_launcher_is_this_process_start():
    origin = trace.origin_ns()
    assert 0 < time.monotonic_ns() - origin < 3600 * 10**9
