"""Docker's run/create flags that need more than the OCI spec: the working
directory made in the writable layer, --pid/--ipc container:X joined at
start, --cidfile, --label-file, --platform and -a/--attach.

Imported only when one of them is used: `run IMAGE true` never loads it."""
import os
import stat

from fastctr.errors import ConfigError, FastctrError

SYMLINK_HOPS = 40  # the kernel's MAXSYMLINKS


def readonly_option(recursive=True):
    """Docker 25+'s read-only bind: recursively read-only ("rro") where
    the kernel can (5.12, mount_setattr), else only the top mount ("ro")."""
    if not recursive:
        return "ro"
    release = os.uname().release.split(".")
    try:
        new_enough = (int(release[0]), int(release[1].split("-")[0])) >= (5, 12)
    except (ValueError, IndexError):
        new_enough = False
    return "rro" if new_enough else "ro"


# ------------------------------------------------------- working directory

def make_workdir(driver, cid, chain, rootfs, path):
    """Docker's SetupWorkingDirectory: a missing -w (or image WORKDIR)
    directory is made at create, in the container's writable layer, 0755
    and owned by root as Docker makes it (only what is new); a file there is
    an error."""
    layers = getattr(driver, "layer_dir", None)
    if driver.name == "overlay2" and _dir_in_layers([layers(c) + "/diff" for c in reversed(chain)], path):
        return  # already there: no mount of the merged view needed
    with driver.mounted(cid, chain) as root:
        mkdir_in_root(root, path)


def _dir_in_layers(layer_dirs, path):
    """Whether `path` is a directory in the merged view of layer_dirs (top
    first), without mounting them: each component must be a plain directory
    in the topmost layer that has it (whiteouts and symlinks say no, and the
    caller then looks in the merged view); an opaque directory hides the
    layers below it."""
    visible = list(layer_dirs)
    rel = ""
    for name in [p for p in path.split("/") if p and p != "."]:
        if name == "..":
            return False
        rel = os.path.join(rel, name)
        for i, layer in enumerate(visible):
            full = os.path.join(layer, rel)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                return False
            if _opaque(full):
                visible = visible[:i + 1]
            break
        else:
            return False
    return True


def _opaque(path):
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def mkdir_in_root(root, path, mode=0o755):
    """mkdir -p of `path` inside `root` as the container sees it: symlinks
    are followed within root (an absolute target starts again at root), so
    no link of the image can make us write outside it."""
    fds = [os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)]
    parts = [p for p in path.split("/") if p and p != "."]
    hops = 0
    try:
        while parts:
            name = parts.pop(0)
            if name == "..":
                if len(fds) > 1:
                    os.close(fds.pop())
                continue
            here = fds[-1]
            try:
                st = os.stat(name, dir_fd=here, follow_symlinks=False)
            except FileNotFoundError:
                os.mkdir(name, mode, dir_fd=here)
                os.chmod(name, mode, dir_fd=here)  # not the umask's
                st = os.stat(name, dir_fd=here, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > SYMLINK_HOPS:
                    raise ConfigError(f"Cannot mkdir: {path}: too many levels of symbolic links")
                target = os.readlink(name, dir_fd=here)
                if target.startswith("/"):
                    while len(fds) > 1:
                        os.close(fds.pop())
                parts = [p for p in target.split("/") if p and p != "."] + parts
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise ConfigError(f"Cannot mkdir: {path} is not a directory")
            fds.append(os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=here))
    finally:
        for fd in fds:
            os.close(fd)


# ------------------------------------------------- --pid/--ipc container:X

def resolve_peers(engine, peers):
    """{namespace: container ID} of {namespace: X} (--pid/--ipc
    container:X); X must exist (its name becomes its ID, as the daemon
    records it)."""
    return {kind: engine.container(ref)["id"] for kind, ref in peers.items()}


def join_peers(engine, cdir, config):
    """Point the bundle at the namespaces of the containers it shares them
    with, as their processes are now (they must run): --network, --pid and
    --ipc container:X.  IPC needs a shareable donor (--ipc shareable or
    host), whose /dev/shm the container then uses, as Docker's."""
    from fastctr import jsonfast as json
    if config.get("ipc_mode") == "shareable":
        ensure_shm(cdir)
    peers = dict(config.get("namespace_peers") or {})
    if config.get("network_peer"):
        peers["network"] = config["network_peer"]
    if not peers:
        return
    path = os.path.join(cdir, "config.json")
    with open(path) as f:
        spec = json.load(f)
    joins = {}
    for kind, ref in peers.items():
        peer = _running_peer(engine, ref, kind)
        pid = engine.runtime.state(peer["id"])["pid"]
        joins[kind] = f"/proc/{pid}/ns/{'net' if kind == 'network' else kind}"
        if kind == "ipc":
            _share_ipc(engine, spec, peer)
        if kind == "network" and not peer["config"].get("network_joined"):
            engine._set_config(peer["id"], network_joined=True)  # its veths outlive its exit: engine.networking.detach
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] not in joins] + \
        [{"type": kind, "path": p} for kind, p in joins.items()]
    with open(path, "w") as f:
        json.dump(spec, f)


def _running_peer(engine, ref, kind):
    flag = {"network": "--network", "pid": "--pid", "ipc": "--ipc"}[kind]
    peer = engine.container(ref)
    if engine.live_status(peer) != "running":
        raise ConfigError(f"{flag} container:{peer['name']}: container {peer['name']} is not running")
    return peer


def _share_ipc(engine, spec, peer):
    mode = peer["config"].get("ipc_mode")
    if mode not in ("shareable", "host"):
        raise ConfigError(f"container {peer['id']}: non-shareable IPC (hint: use IpcMode:shareable for the donor "
                          "container)")
    shm = "/dev/shm" if mode == "host" else _shm_dir(engine.driver_for_container(peer).container_dir(peer["id"]))
    _bind_shm(spec, shm)


def _shm_dir(cdir):
    return os.path.join(cdir, "shm")


def _bind_shm(spec, source):
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/dev/shm"] + \
        [{"destination": "/dev/shm", "type": "bind", "source": source, "options": ["rbind", "rprivate"]}]


def shareable_shm(spec, cdir):
    """--ipc shareable, as Docker's: /dev/shm is a tmpfs mounted on the
    host in the container's directory (with --shm-size's size), outside its
    mount namespace, so that the containers joining its IPC namespace can
    bind it too; unmounted when the container is removed."""
    shm = next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")
    options = ",".join(o for o in shm["options"] if o.startswith(("size=", "mode=")))
    path = _shm_dir(cdir)
    os.makedirs(path, mode=0o700, exist_ok=True)
    with open(path + ".options", "w") as f:
        f.write(options)
    ensure_shm(cdir)
    _bind_shm(spec, path)


def ensure_shm(cdir):
    path = _shm_dir(cdir)
    if os.path.ismount(path):
        return
    with open(path + ".options") as f:
        options = f.read().strip()
    _libc_call("mount", b"shm", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.encode(),
               what=f"mount tmpfs on {path}")


def release_shm(cdir):
    unmount(_shm_dir(cdir))


def mount_tmpfs(path, options):
    _libc_call("mount", b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.encode(),
               what=f"mount tmpfs on {path}")


def unmount(path):
    _libc_call("umount2", path.encode(), MNT_DETACH, what=f"unmount {path}")


MS_NOSUID, MS_NODEV, MS_NOEXEC, MNT_DETACH = 2, 4, 8, 2


def _libc_call(name, *args, what):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


# ------------------------------------------------------------- files

class CidFile:
    """--cidfile: refused when the file exists (as the docker CLI does),
    made before the container and removed again if it is not made."""

    def __init__(self, path):
        self.path = path
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            raise ConfigError("container ID file found, make sure the other container isn't running or delete "
                              f"{path}") from None
        except OSError as e:
            raise ConfigError(f"failed to create the container ID file: {e.strerror}: {path}") from None

    def write(self, cid):
        try:
            os.write(self.fd, cid.encode())
        finally:
            os.close(self.fd)

    def discard(self):
        os.close(self.fd)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def read_label_files(paths):
    """--label-file: KEY=VALUE lines (KEY alone: an empty value), blank
    lines and # comments skipped, as the docker CLI reads them."""
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ConfigError(f"open {path}: {e.strerror.lower()}") from None
        for n, raw in enumerate(data.split(b"\n"), 1):
            try:
                line = raw.decode("utf-8").lstrip(" \t\r")
            except UnicodeDecodeError:
                shown = " ".join(str(b) for b in raw)  # Go's printing of the line's bytes
                raise ConfigError(f"invalid env file ({path}): invalid utf8 bytes at line {n}: [{shown}]") from None
            line = line.rstrip("\r")
            if not line or line.startswith("#"):
                continue
            key = line.partition("=")[0]
            if any(c in key for c in " \t"):
                raise ConfigError(f"invalid env file ({path}): variable '{key}' contains whitespaces")
            out.append(line)
    return out


# ----------------------------------------------------------- --platform

_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
         "i386": "386", "i686": "386"}


def parse_platform(text):
    """os[/arch[/variant]] (or arch alone) -> (os, arch, variant), normalized
    as containerd's platforms package does."""
    parts = text.lower().split("/")
    if not text or len(parts) > 3 or not all(parts):
        raise ConfigError(f"error parsing specified platform: \"{text}\": cannot parse platform specifier: "
                          "invalid argument")
    if len(parts) == 1:
        if parts[0] in ("linux", "windows", "darwin", "freebsd"):
            parts = [parts[0], _host_arch()]
        else:
            parts = ["linux", parts[0]]
    os_name, arch = parts[0], _ARCH.get(parts[1], parts[1])
    variant = parts[2] if len(parts) == 3 else ""
    if arch == "arm64" and variant == "v8":
        variant = ""  # arm64's default
    return os_name, arch, variant


def _host_arch():
    return _ARCH.get(os.uname().machine, os.uname().machine)


def platform_mismatch(image_config, platform, ref):
    """--platform against the image found: Docker's error (dockerd 20.10's
    words) when they differ, else None."""
    want = parse_platform(platform)
    have = parse_platform("/".join(x for x in (image_config.get("os") or "linux",
                                               image_config.get("architecture") or _host_arch(),
                                               image_config.get("variant")) if x))
    if want[:2] != have[:2] or (want[2] and want[2] != have[2]):
        return FastctrError(f"image with reference {ref} was found but does not match the specified platform: "
                            f"wanted {_fmt(want)}, actual: {_fmt(have)}")
    return None


def platform_image(engine, ref, image, opts):
    """The ID of the image for --platform: the one found when it matches;
    else, as the docker CLI does with --pull missing, that platform's image
    pulled (and checked again); with --pull never, Docker's error."""
    error = platform_mismatch(image["config"], opts.platform, ref)
    if error is None:
        return image["id"]
    if getattr(opts, "pull", "missing") != "missing":
        raise error
    from fastctr.engine import imagepull  # "Unable to find image" then the pull, as the docker CLI on NotFound
    image_id = imagepull.for_run(engine, ref, "missing", quiet=opts.quiet, platform=opts.platform)
    error = platform_mismatch(engine.store.image(image_id)["config"], opts.platform, ref)
    if error:
        raise error
    return image_id


def _fmt(p):
    return "/".join(x for x in p if x)


# ------------------------------------------------------------ -a/--attach

def attach_streams(names, detach=False):
    """-a stdin|stdout|stderr -> the set of streams attached (all without -a)."""
    if not names:
        return {"stdin", "stdout", "stderr"}
    if detach:
        raise ConfigError("conflicting options: cannot specify both --attach and --detach")
    out = set()
    for name in names:
        if name.lower() not in ("stdin", "stdout", "stderr"):
            raise ConfigError(f"invalid argument \"{name}\" for \"-a, --attach\" flag: valid streams are STDIN, "
                              "STDOUT and STDERR")
        out.add(name.lower())
    return out
