"""The wire format between `fastctr` (csrc/client.c) and the server.

Client -> server, once, on a SOCK_STREAM Unix socket:
    "FCT1", payload length (u32, little-endian), payload, with
    SCM_RIGHTS of three descriptors (stdin, stdout, stderr) on the first
    bytes.  The payload is NUL-terminated strings: the working directory
    ("" if unknown), the umask in octal, the argument count N, N arguments
    (without argv[0]), then every environment entry.
Client -> server, afterwards: one byte per signal the client received
(INT, TERM, HUP, QUIT, WINCH, USR1, USR2, ALRM); the server passes it on to
the worker.  The end of the stream while the worker runs is a hang-up.
Server -> client, frames of a 4-byte tag and an i32 (little-endian):
    STRT pid     a worker began the command (before it, the client may
                 still start cold: nothing has read its stdin)
    EXIT status  the command's exit status
    DIED signal  the worker was killed before it could say (client: 125)
    DENY length  refused; `length` bytes of a one-line message follow"""
import struct

MAGIC = b"FCT1"
HEADER = struct.Struct("<4sI")
FRAME = struct.Struct("<4si")
MAX_PAYLOAD = 8 << 20  # argv + environment: Linux allows 2 MiB each at most (ARG_MAX)
STDIO_FDS = 3


class BadRequest(ValueError):
    """A request that is not one (wrong magic, too long, malformed)."""


class Request:
    __slots__ = ("cwd", "umask", "argv", "env", "fds", "raw")

    def __init__(self, cwd, umask, argv, env, fds, raw=b""):
        self.cwd, self.umask, self.argv, self.env, self.fds = cwd, umask, argv, env, fds
        self.raw = raw  # the payload as sent: what a parked worker is handed


def payload_length(head):
    """The payload length announced by the first HEADER.size bytes."""
    magic, length = HEADER.unpack(head)
    if magic != MAGIC:
        raise BadRequest("not a fastctr client")
    if length > MAX_PAYLOAD:
        raise BadRequest(f"request of {length} bytes is too large")
    return length


def parse(payload, fds):
    """The Request in a payload (without its header)."""
    if len(fds) != STDIO_FDS:
        raise BadRequest(f"expected {STDIO_FDS} descriptors, got {len(fds)}")
    parts = payload.split(b"\0")
    if parts[-1] != b"" or len(parts) < 4:
        raise BadRequest("malformed request")
    parts.pop()
    try:
        cwd, umask, argc = parts[0].decode("utf-8", "surrogateescape"), int(parts[1], 8), int(parts[2])
    except ValueError:
        raise BadRequest("malformed request") from None
    if not 0 <= argc <= len(parts) - 3:
        raise BadRequest("malformed request")
    argv = [os_str(p) for p in parts[3:3 + argc]]
    env = {}
    for entry in parts[3 + argc:]:
        key, sep, value = entry.partition(b"=")
        if sep and key:
            env[os_str(key)] = os_str(value)
    return Request(cwd, umask, argv, env, fds, payload)


def os_str(b):
    """bytes as Python's os module decodes argv and the environment."""
    return b.decode("utf-8", "surrogateescape")


def frame(tag, value):
    return FRAME.pack(tag, value)


def deny(message):
    text = message.encode("utf-8", "replace")[:4000]
    return FRAME.pack(b"DENY", len(text)) + text
