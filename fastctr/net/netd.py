"""netd: a small helper that keeps pyroute2 imported, one per network namespace.

Importing pyroute2 costs 160-330 ms (it pulls in asyncio, ctypes, ndb and
more), ten times a whole container start.  Containers' own veths are made
without it (fastctr.net.rtnl); the networks' bridges and the host's routes
go through it here: the first caller starts this helper; later callers send
it a request over an abstract unix socket and get the answer in a few
milliseconds.  It exits after
FASTCTR_NETD_IDLE seconds (default 60) without requests, so it costs
nothing while nothing starts.

Abstract socket names belong to the network namespace, which is exactly the
scope of the links the helper manages: a caller in another namespace (a
test's `unshare --net`) finds, or starts, that namespace's own helper.
Abstract sockets have no file permissions, so the helper serves only peers
with its own uid (SO_PEERCRED).

The helper holds no state: each request carries the network record, so a
helper that died or timed out is simply started again.  FASTCTR_NETD=inline
runs the operations in the calling process instead (long-lived API users
that have pyroute2 imported anyway)."""
import _socket  # not `socket`: its enum import alone costs ~10 ms per start
import os
import sys

from fastctr import __version__
from fastctr.net.ipam import NetworkError

ADDRESS = b"\0fastctr-netd-" + __version__.encode()
MAX_MESSAGE = 1 << 16


def _ops():
    from fastctr.net import network
    return {"ensure_bridge": network.ensure_bridge, "delete_bridge": network.delete_bridge,
            "used_subnets": network.used_subnets}


def _dispatch(request):
    try:
        return {"ok": True, "result": _ops()[request["op"]](**request["args"])}
    except NetworkError as e:
        return {"error": str(e)}
    except OSError as e:
        return {"error": str(e), "errno": e.errno}
    except Exception as e:  # a bug must reach the caller, not kill the helper
        return {"error": f"network helper: {type(e).__name__}: {e}"}


# ------------------------------------------------------------------ client
def call(op, wait=True, **args):
    """Run one network operation in the helper and return its result;
    NetworkError on failure.  wait=False only hands the request over
    (clean-up nobody waits for)."""
    from fastctr.jsonfast import dumps, loads
    request = {"op": op, "args": args}
    if os.environ.get("FASTCTR_NETD") == "inline":
        reply = _dispatch(request)
    elif not wait:
        return _send_only(dumps(request).encode())
    else:
        reply = loads(_exchange(dumps(request).encode()))
    if "error" in reply:
        if reply.get("errno"):
            raise OSError(reply["errno"], reply["error"])
        raise NetworkError(reply["error"])
    return reply.get("result")


def _exchange(data):
    # A helper that times out between our connect and its accept resets the
    # queued connection without having read it: start one and ask again.
    for attempt in range(3):
        sock = _connect()
        try:
            sock.send(data)
            reply = sock.recv(MAX_MESSAGE)
        except ConnectionResetError:
            reply = b""
        finally:
            sock.close()
        if reply:
            return reply
    raise NetworkError("network helper (netd) gave no answer")


def _send_only(data):
    sock = _connect()
    try:
        sock.send(data)
    finally:
        sock.close()


def _new_socket():
    return _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)


def _connect():
    for attempt in range(50):
        sock = _new_socket()
        try:
            sock.connect(ADDRESS)
            return sock
        except ConnectionRefusedError:
            sock.close()
            _spawn()
    raise NetworkError("cannot start the network helper (netd)")


def _spawn():
    """Bind the helper's socket here, then hand it to a detached process:
    whoever binds first is the one helper, and connects queue on the
    listening socket while the helper is still importing pyroute2."""
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    try:
        listener.bind(ADDRESS)
    except OSError:
        listener.close()
        return  # another caller won the race: its helper is there
    listener.listen(1024)
    fd = listener.fileno()
    os.set_inheritable(fd, True)
    code = (f"import sys; sys.path[:0] = {[p for p in sys.path if p]!r}; "
            f"from fastctr.net.netd import serve; serve({fd})")
    pid = os.fork()
    if pid == 0:  # only fork/exec-safe calls until execv
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open("/dev/null", os.O_RDWR)
                for target in (0, 1, 2):
                    os.dup2(null, target)
                os.chdir("/")
                os.execv(sys.executable, [sys.executable, "-S", "-c", code])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    listener.close()


def stop():
    """Ask this namespace's helper to exit now (tests, `system prune`)."""
    from fastctr.jsonfast import dumps
    sock = _new_socket()
    try:
        sock.connect(ADDRESS)
        sock.send(dumps({"op": "exit"}).encode())
        sock.recv(MAX_MESSAGE)
    except OSError:
        return False
    finally:
        sock.close()
    return True


# ------------------------------------------------------------------ server
def serve(fd):
    import socket
    from fastctr.jsonfast import dumps, loads
    listener = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    listener.settimeout(float(os.environ.get("FASTCTR_NETD_IDLE", "60")))
    _ops()  # import pyroute2 now, while the first caller waits anyway
    while True:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            return _drain_and_exit(listener)
        with conn:
            if _handle(conn, dumps, loads) == "exit":
                return _drain_and_exit(listener)


def _handle(conn, dumps, loads):
    import socket
    import struct
    conn.settimeout(10)
    try:
        pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        data = conn.recv(MAX_MESSAGE)
        if uid != os.getuid():
            reply = {"error": "permission denied"}
        else:
            request = loads(data)
            if request.get("op") == "exit":
                conn.send(dumps({"ok": True}).encode())
                return "exit"
            reply = _dispatch(request)
        conn.send(dumps(reply).encode())
    except (OSError, ValueError, KeyError, TypeError):
        pass  # a caller that went away or sent garbage: serve the next one
    return None


def _drain_and_exit(listener):
    """Serve what is already queued, then free the name."""
    listener.setblocking(False)
    from fastctr.jsonfast import dumps, loads
    while True:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, OSError):
            break
        with conn:
            _handle(conn, dumps, loads)
    listener.close()
