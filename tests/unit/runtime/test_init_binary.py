"""The `--init` program (csrc/init.c), run directly: not PID 1 here, so it
reaps as a child subreaper instead."""
import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

import fastctr

INIT = os.path.join(os.path.dirname(fastctr.__file__), "data", "init")

pytestmark = pytest.mark.skipif(not os.path.exists(INIT), reason="init binary not built/installed")


def _stat(pid):
    """(state, ppid) of a process, or None once it is gone (reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data.rpartition(")")[2].split()  # comm may hold spaces and parens
    return fields[0], int(fields[1])


def _children(ppid):
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st and st[1] == ppid:
                out[int(name)] = st[0]
    return out


def _stop(proc):
    """Never leave anything behind: kill init's children, then init."""
    if proc.poll() is None:
        for pid in _children(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.kill()
    proc.wait()


def _run(*argv, **kw):
    return subprocess.run([INIT, *argv], capture_output=True, text=True, timeout=10, **kw)


def test_static_executable():
    # Static (no PT_INTERP program header): it has to run in images without a libc.
    with open(INIT, "rb") as f:
        elf = f.read()
    assert elf[:4] == b"\x7fELF" and elf[4] == 2  # ELF64
    order = "<" if elf[5] == 1 else ">"
    phoff, = struct.unpack_from(order + "Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from(order + "HH", elf, 0x36)
    types = [struct.unpack_from(order + "I", elf, phoff + i * phentsize)[0] for i in range(phnum)]
    assert 3 not in types  # PT_INTERP


@pytest.mark.parametrize("code", [0, 1, 7, 255])
def test_exit_code_passthrough(code):
    assert _run("--", "sh", "-c", f"exit {code}").returncode == code


def test_without_double_dash():
    r = _run("sh", "-c", 'echo "$0 $1"', "a", "b")
    assert r.returncode == 0 and r.stdout == "a b\n"


def test_arguments_after_double_dash_untouched():
    r = _run("--", "sh", "-c", 'printf "%s|" "$@"', "x", "--", "-g", "")
    assert r.stdout == "--|-g||"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV])
def test_killed_by_signal(sig):
    assert _run("--", "sh", "-c", f"kill -{int(sig)} $$").returncode == 128 + sig


def test_missing_command():
    r = _run("--", "/nonexistent/fastctr-no-such-cmd")
    assert r.returncode == 127
    assert r.stderr == "init: exec /nonexistent/fastctr-no-such-cmd: No such file or directory\n"


def test_command_not_in_path():
    r = _run("--", "fastctr-no-such-cmd", env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 127
    assert r.stderr.startswith("init: exec fastctr-no-such-cmd: ") and r.stderr.count("\n") == 1


def test_not_executable(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    r = _run("--", str(script))
    assert r.returncode == 126
    assert r.stderr == f"init: exec {script}: Permission denied\n"


def test_usage():
    for argv in ([], ["--"]):
        r = _run(*argv)
        assert r.returncode == 2 and "usage" in r.stderr


def _start_ready(script, **kw):
    """Start init with a shell child that prints `ready` once its traps are set."""
    proc = subprocess.Popen([INIT, "--", "sh", "-c", script], stdout=subprocess.PIPE, text=True, **kw)
    try:
        assert proc.stdout.readline() == "ready\n"
    except BaseException:
        _stop(proc)
        raise
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
                                 signal.SIGQUIT, signal.SIGWINCH])
def test_signal_forwarded_to_child(sig):
    name = signal.Signals(sig).name[3:]
    proc = _start_ready(f'trap "exit 3" {name}; echo ready; while :; do sleep 0.05; done')
    try:
        os.kill(proc.pid, sig)
        assert proc.wait(timeout=5) == 3
    finally:
        _stop(proc)


def test_sigterm_without_trap_kills_child():
    proc = _start_ready("echo ready; exec sleep 30")
    try:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=5) == 128 + signal.SIGTERM
    finally:
        _stop(proc)


def test_orphans_are_reaped():
    # The subshell prints its background sleep's pid and exits, orphaning the
    # sleep onto init (the subreaper); the main child then waits on stdin, so
    # init is still running when the orphan exits.
    proc = subprocess.Popen([INIT, "--", "sh", "-c", "(sleep 0.2 & echo $!); read x; exit 0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        orphan = int(proc.stdout.readline())
        deadline = time.monotonic() + 5
        adopted = False
        while time.monotonic() < deadline:
            st = _stat(orphan)
            if st is None:
                break  # exited and reaped
            if st[1] == proc.pid:
                adopted = True
            time.sleep(0.01)
        else:
            pytest.fail(f"orphan {orphan} still there: {_stat(orphan)}")
        assert adopted, "the orphan was never re-parented to init"
        assert proc.poll() is None  # reaped while init (and its main child) still run
        assert not [p for p, s in _children(proc.pid).items() if s == "Z"]
        proc.stdin.close()
        assert proc.wait(timeout=5) == 0
    finally:
        _stop(proc)


def test_many_orphans_are_reaped():
    # Exits that arrive together coalesce into one SIGCHLD.
    proc = subprocess.Popen(
        [INIT, "--", "sh", "-c", "i=0; while [ $i -lt 20 ]; do (sleep 0.1 &); i=$((i+1)); done; echo ok; read x; exit 0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ok\n"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            # Only the main child (blocked in `read`) should remain.
            if len(_children(proc.pid)) == 1:
                break
            time.sleep(0.02)
        assert list(_children(proc.pid).values()) == ["S"]
        proc.stdin.close()
        assert proc.wait(timeout=5) == 0
    finally:
        _stop(proc)


_PGRP_PROBE = ("import os, sys; fg = os.tcgetpgrp(0) if os.isatty(0) else -1; "
               "print(os.getpid(), os.getpgrp(), fg, os.getppid(), flush=True)")


def test_no_tty_child_keeps_process_group():
    r = _run("--", sys.executable, "-c", _PGRP_PROBE, stdin=subprocess.DEVNULL)
    pid, pgrp, fg, ppid = map(int, r.stdout.split())
    assert pgrp == os.getpgrp() != pid  # init runs in our group


def _ctty_preexec():
    # start_new_session made the child a session leader; take the pty (its
    # stdin) as controlling terminal, as a container's console would be.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _start_on_pty(code):
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([INIT, "--", sys.executable, "-c", code], stdin=slave, stdout=subprocess.PIPE,
                                text=True, start_new_session=True, preexec_fn=_ctty_preexec)
    finally:
        os.close(slave)
    return master, proc


def test_tty_child_gets_foreground():
    master, proc = _start_on_pty(_PGRP_PROBE)
    try:
        pid, pgrp, fg, ppid = map(int, proc.stdout.readline().split())
        assert ppid == proc.pid
        assert pgrp == pid == fg  # own group, and the terminal's foreground
        assert proc.wait(timeout=5) == 0
    finally:
        _stop(proc)
        os.close(master)


def test_tty_ctrl_c_reaches_child_once():
    # ^C signals the terminal's foreground group: the child's alone, so init
    # (not in it) does not forward a second SIGINT.
    code = ("import signal, sys, time\n"
            "n = 0\n"
            "def h(*a):\n"
            "    global n; n += 1\n"
            "signal.signal(signal.SIGINT, h)\n"
            "print('ready', flush=True)\n"
            "while not n: time.sleep(0.01)\n"
            "time.sleep(0.3)\n"
            "sys.exit(10 + n)\n")
    master, proc = _start_on_pty(code)
    try:
        assert proc.stdout.readline() == "ready\n"
        os.write(master, b"\x03")
        assert proc.wait(timeout=5) == 11
    finally:
        _stop(proc)
        os.close(master)
