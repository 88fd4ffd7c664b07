"""OCI hooks: run with the container's state JSON on stdin.

prestart/createRuntime/poststart/poststop run in the runtime's namespaces;
createContainer/startContainer run inside the container's, entered through
the same C spawn path as `exec`."""
import os
import _signal as signal  # constants only; `signal` imports enum
import time

from fastctr import jsonfast as json
from fastctr.runtime import _core
from fastctr.errors import HookError
from fastctr.runtime.plan import Plan


def _wait(pid, hook, timeout):
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.0005
    while True:
        rpid, status = os.waitpid(pid, os.WNOHANG)
        if rpid:
            break
        if deadline is not None and time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise HookError(f"hook {hook.path} timed out after {timeout} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise HookError(f"hook {hook.path} failed with status {code}")


def _spawn_with_state(plan, state, hook):
    r, w = os.pipe2(os.O_CLOEXEC)
    plan.stdio = (r, -1, -1)
    try:
        pid = _core.spawn(plan)
    except OSError as e:
        raise HookError(f"hook {hook.path}: {e}") from None
    finally:
        os.close(r)
    try:
        os.write(w, json.dumps(state).encode())
    except BrokenPipeError:
        pass  # the hook does not read its stdin
    finally:
        os.close(w)
    _wait(pid, hook, hook.timeout)


def _plan(hook):
    plan = Plan(hook.args or [hook.path], hook.env or [])
    plan.exec_path = hook.path  # args[0] is only the name the hook sees
    return plan


def run_on_host(hook, state):
    _spawn_with_state(_plan(hook), state, hook)


def run_in_container(hook, state, joins, resolve_on_host):
    plan = _plan(hook)
    plan.joins = joins
    if resolve_on_host:  # createContainer: the path is the runtime's
        plan.exec_fd = _open_exec(hook)
    try:
        _spawn_with_state(plan, state, hook)
    finally:
        if plan.exec_fd >= 0:
            os.close(plan.exec_fd)


def _open_exec(hook):
    try:
        return os.open(hook.path, os.O_PATH | os.O_CLOEXEC)
    except OSError as e:
        raise HookError(f"hook {hook.path}: {e.strerror}") from None
