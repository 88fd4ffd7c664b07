"""fastctr's exceptions.

Failures of the kernel surface as OSError subclasses that keep errno, so
`except FileNotFoundError` works; spawn failures also carry the stage.
Everything a user can get wrong is a FastctrError with a one-line message.
"""
import errno as _errno
import os


class FastctrError(Exception):
    """Base of fastctr's own errors.  `exit_code` is what the CLI returns."""

    exit_code = 1


class ConfigError(FastctrError, ValueError):
    """The OCI configuration (or a flag) is invalid; nothing was created."""


class DocumentError(ConfigError):
    """A file fastctr reads (a JSON document, an archive's manifest...) is
    malformed; the message names the file."""


class ContainerNotFoundError(FastctrError, LookupError):
    """No container of the engine's by that name or ID (the CLI's 125)."""

    exit_code = 125


class NameInUse(FastctrError):
    exit_code = 125


class ContainerNotFound(FastctrError, LookupError):
    def __init__(self, cid):
        super().__init__("container does not exist")  # runc's words: the shim matches them
        self.id = cid


class ContainerExists(FastctrError):
    def __init__(self, cid):
        super().__init__("container with given ID already exists")  # runc's words
        self.id = cid


class InvalidState(FastctrError):
    """The operation is not allowed in the container's current state."""


class HookError(FastctrError):
    pass


class SpawnError(OSError):
    """The container process could not be created.

    `stage` names the step (mount, pivot_root, exec...), `strerror` the
    syscall and path; `errno` is the kernel's error."""

    stage = "unknown"

    def __str__(self):
        return f"{self.stage}: {self.strerror}: {os.strerror(self.errno)}"


class CommandNotFound(SpawnError, FileNotFoundError):
    """The container's command does not exist (a shell's 127)."""

    exit_code = 127


class CommandNotExecutable(SpawnError, PermissionError):
    """The container's command exists but cannot be executed (126)."""

    exit_code = 126


# The wings' own errors, all here so that any layer can raise or catch them
# (each wing's module still exports its names).

class ImageNotFound(FastctrError, LookupError):
    exit_code = 125

    def __init__(self, ref):
        super().__init__(f"No such image: {ref}")


class AmbiguousImage(FastctrError, LookupError):
    exit_code = 125


class StoreError(FastctrError):
    exit_code = 125


class InvalidReference(StoreError, ValueError):
    """Not an image reference Docker would accept; the message is Docker's
    (fastctr.image.reference)."""


class LayerError(FastctrError, ValueError):
    """A layer is malformed or unsafe; the message is one clear line."""


class RegistryError(FastctrError):
    exit_code = 125


class AuthError(RegistryError, PermissionError):
    """The registry refused our credentials, or wants some and we have none."""


class RegistryNotFound(RegistryError, LookupError):
    """The repository, tag, manifest or blob does not exist."""


class NetworkError(FastctrError):
    exit_code = 125


class VolumeInUse(FastctrError):
    exit_code = 125


class ContainerNotRunning(FastctrError):
    exit_code = 125


class AttachRefused(FastctrError, ConnectionError):
    """Nothing accepts on the attach socket: the container has exited, or
    it was not started detached."""


class UsageError(Exception):
    pass


_by_base = {}


def _spawn_class(err):
    base = type(OSError(err, ""))  # the builtin subclass Python picks for errno
    if base is OSError:
        return SpawnError
    cls = _by_base.get(base)
    if cls is None:
        cls = type("Spawn" + base.__name__, (SpawnError, base), {"__module__": __name__})
        _by_base[base] = cls
    return cls


def spawn_error(stage, err, message):
    """Build the exception for a (stage, errno, message) from csrc/."""
    if stage == "exec":
        cls = CommandNotFound if err == _errno.ENOENT else CommandNotExecutable
    else:
        cls = _spawn_class(err)
    exc = cls(err, message)
    exc.stage = stage
    return exc


def crash_point(name):
    """Fault injection for the crash tests: FASTCTR_CRASH_AT=NAME makes the
    command SIGKILL itself at the point called NAME, as a user's kill -9 or
    a farm's job timeout could; FASTCTR_CRASH_SIGNAL=INT|TERM sends that
    signal instead (a Ctrl-C at that very point).  One environment look-up
    where it is unset.  (Here, at the bottom of the house, so that every
    wing can use it.)"""
    if os.environ.get("FASTCTR_CRASH_AT") == name:
        import signal
        os.kill(os.getpid(), getattr(signal, "SIG" + os.environ.get("FASTCTR_CRASH_SIGNAL", "KILL")))
