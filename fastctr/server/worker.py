"""A worker: a fork of the warm server that becomes one `fastctr` command.

It takes the client's descriptors as 0/1/2, its working directory, umask
and environment, reads the client's cgroup (so that --cgroup-parent self,
and FASTCTR_CGROUP_PARENT=self, mean the client's cgroup as they would in a
cold start), says STRT, runs the CLI's main and sends its status.  What must
not cross a fork is made anew or dropped: the server's sockets and pipes are
closed, its signal handlers are Python's defaults again, its stdio objects
are rebuilt for the new descriptors, the trace reads the new environment.
The server holds no SQLite connection or lock, so there is none to inherit."""
import os
import signal
import socket
import sys

from fastctr.server import protocol


def fork(owner, conn, request, peer):
    """Fork the worker for `request`; the parent gets its pid."""
    pid = os.fork()
    if pid:
        return pid
    detach_from_server({conn.fileno(), *request.fds})
    serve_one(owner.run_command, conn, request, peer.pid)


def serve_one(run_command, conn, request, peer_pid, after=None):
    """Become the command of `request` and end with its status (never
    returns).  after(): what the worker does once the client has its status
    (a parked worker's clean-up of what it prepared)."""
    status, debug = 125, os.environ.get("FASTCTR_SERVER_DEBUG")
    if not same_namespaces(peer_pid):  # before STRT: the client runs it cold, where it is
        _after(after)
        os._exit(125)
    try:
        take_request(conn, request, peer_pid)
    except BaseException:  # before STRT: the client starts the command cold instead
        _report_crash(debug)
        _after(after)
        os._exit(125)
    try:
        conn.send(protocol.frame(b"STRT", os.getpid()), socket.MSG_NOSIGNAL)
        status = _run(run_command, request.argv)
    except BaseException:  # the worker must end here, whatever happened
        _report_crash()
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):  # the client leaves once it has the status
        signal.signal(sig, signal.SIG_IGN)
    try:
        conn.send(protocol.frame(b"EXIT", status), socket.MSG_NOSIGNAL)
    except OSError:  # the client is gone
        pass
    conn.close()
    _after(after)  # off the client's clock: what was prepared and not used, what a taken one left
    os._exit(status)


NAMESPACES = ("net", "mnt", "pid", "ipc", "uts", "user", "cgroup")


def same_namespaces(peer_pid):
    """Whether the client lives in every namespace the server lives in.  A
    command acts where it runs: a client in a network namespace of its own
    (a test's `unshare --net`) must get its bridges there, not in the
    server's, and a client in its own mount namespace sees its own files.
    So a client anywhere else starts cold instead."""
    if peer_pid <= 0:  # not visible from here: another pid namespace
        return False
    try:
        return all(os.stat(f"/proc/{peer_pid}/ns/{ns}").st_ino == ino for ns, ino in _OWN_NAMESPACES.items())
    except OSError:
        return False


def _own_namespaces():
    """The server's namespaces, read once: every worker is forked in them."""
    return {ns: os.stat(f"/proc/self/ns/{ns}").st_ino for ns in NAMESPACES if os.path.exists(f"/proc/self/ns/{ns}")}


_OWN_NAMESPACES = _own_namespaces()


def _after(after):
    if after:
        try:
            after()
        except BaseException:
            _report_crash()


def detach_from_server(keep):
    """Right after the fork: out of the server's process group (its Ctrl-C
    is not ours), Python's own signal handling, none of its descriptors
    but `keep`."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _close_all_but(keep)


def take_request(conn, request, peer_pid):
    """The client's stdio, directory, umask, environment and cgroup."""
    for target, fd in enumerate(request.fds):
        os.dup2(fd, target)
    for fd in set(request.fds):
        if fd > 2:
            os.close(fd)
    _rebuild_stdio()
    try:
        os.chdir(request.cwd or "/")
    except OSError:
        os.chdir("/")
    os.umask(request.umask)
    os.environ.clear()
    os.environ.update(request.env)
    _adopt_client_cgroup(peer_pid)
    from fastctr import trace
    trace.from_environ()


def _close_all_but(keep):
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:  # the listing's own descriptor
                pass


def _rebuild_stdio():
    """sys.stdin/out/err for the client's descriptors, buffered as a cold
    start would buffer them (stdout line-buffered on a terminal only)."""
    import io
    enc, errors = sys.stdout.encoding, sys.stdout.errors
    sys.stdin = io.TextIOWrapper(io.open(0, "rb", closefd=False), encoding=enc, errors=errors)
    sys.stdout = io.TextIOWrapper(io.open(1, "wb", closefd=False), encoding=enc, errors=errors,
                                  line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.open(2, "wb", closefd=False), encoding=enc, errors="backslashreplace",
                                  line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


def _adopt_client_cgroup(pid):
    from fastctr.runtime import cgroups
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            cgroups.set_own_cgroups_text(f.read())
    except OSError:  # the client is already gone: ours it is
        pass


def _run(main, argv):
    sys.argv = ["fastctr"] + argv
    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code
    from fastctr.launch import exit_code
    code = exit_code(status)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say there
            pass
    return code


def _report_crash(path=None):
    """The traceback on stderr, or appended to `path`."""
    import traceback
    try:
        if path:
            with open(path, "a") as f:
                traceback.print_exc(file=f)
            return
        traceback.print_exc()
        sys.stderr.flush()
    except BaseException:
        pass
