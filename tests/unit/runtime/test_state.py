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
