"""A container's identity is (pid, start time): a process that has exited
must never look alive, even one that was gone before its start time was
read."""
import os
import time

from fastctr.runtime.lifecycle import Container
from fastctr.runtime.state import process_start_time


def _exited_child():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    deadline = time.monotonic() + 5
    while process_start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.001)  # a zombie now: not alive, but its start time is still readable
    return pid


def test_zombie_start_time_is_its_identity():
    pid = _exited_child()
    try:
        assert process_start_time(pid) is None
        assert process_start_time(pid, zombie=True) is not None
    finally:
        os.waitpid(pid, 0)


def test_exited_process_is_not_alive_whatever_was_recorded():
    pid = _exited_child()
    recorded = process_start_time(pid, zombie=True)
    os.waitpid(pid, 0)
    for start_time in (None, recorded):
        assert not Container(None, {"id": "x", "pid": pid, "start_time": start_time}).alive()
    me = os.getpid()
    assert Container(None, {"id": "x", "pid": me, "start_time": process_start_time(me)}).alive()
    assert not Container(None, {"id": "x", "pid": me, "start_time": 1}).alive()


def test_a_status_parses_only_the_head_of_the_state_and_an_older_layout_whole(tmp_path):
    from fastctr import jsonfast
    from fastctr.runtime.state import StateStore
    store = StateStore(str(tmp_path))
    store.make_dir("c1")
    state = {"id": "c1", "pid": os.getpid(), "status": "created", "config": {"big": "x" * 5000},
             "annotations": {"a": "b"}, "cgroup": None, "start_time": process_start_time(os.getpid())}
    store.write("c1", state)
    text = (tmp_path / "c1" / "state.json").read_text()
    assert text.index('"cgroup"') < text.index('"start_time"') < text.index('"config"') < text.index('"annotations"')
    assert store.load("c1") == state
    head = store.load("c1", head=True)
    assert head == {k: v for k, v in state.items() if k not in ("config", "annotations")}
    assert Container(None, head).alive()
    long_head = dict(state, bundle="/b" * 3000)  # more than the first read of a status holds
    store.write("c1", long_head)
    assert store.load("c1", head=True) == {k: v for k, v in long_head.items() if k not in ("config", "annotations")}
    older = dict(state, cgroup={"version": 2, "root": "/r", "path": "/r/c1"})
    (tmp_path / "c1" / "state.json").write_text(jsonfast.dumps(older))  # config before cgroup
    assert store.load("c1", head=True) == older


def test_json_head_stops_at_the_member_and_refuses_what_is_no_object():
    from fastctr import jsonfast
    text = '{"a": 1, "b" : [1, {"x": 2}], "stop": {"never": "parsed"'
    assert jsonfast.head(text, "stop") == {"a": 1, "b": [1, {"x": 2}]}
    assert jsonfast.head(b'{"stop":1}', "stop") == {}
    assert jsonfast.head(b'{"a": "\xff", "stop": 1}', "stop") is None  # not UTF-8
    for text in ('{"a": 1}', '[1]', '{"a": 1, "stop"', '{"a": tru, "stop": 1}', "", "{", '{"a" 1, "stop": 2}'):
        assert jsonfast.head(text, "stop") is None, text
