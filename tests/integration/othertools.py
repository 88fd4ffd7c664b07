"""Other tools that fastctr's images must work with: docker-registry on
loopback, buildah in a private storage, and listings of file trees to compare
a fastctr container with an unpacked image.

Shared by the image and build tests, so each tool is started one way only:
docker-registry on 127.0.0.1 and nowhere else; buildah with its storage, run
state, temp files and network config all below one temp dir, so that it
leaves nothing in /var/lib/containers, /etc or /run."""
import base64
import contextlib
import ctypes
import ctypes.util
import http.client
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time

import pytest

# ---------------------------------------------------------------- docker-registry


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(port, path="/v2/", user=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    headers = {"Authorization": "Basic " + base64.b64encode(":".join(user).encode()).decode()} if user else {}
    try:
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def bcrypt(password):
    """A bcrypt hash ($2b$) from libcrypt, which docker-registry's htpasswd wants."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt_gensalt.restype = lib.crypt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$2b$", 5, None, 0)
    hashed = lib.crypt(password.encode(), salt) if salt else None
    if not hashed or not hashed.startswith(b"$2b$"):
        pytest.skip("this libcrypt makes no bcrypt hashes")
    return hashed.decode()


@contextlib.contextmanager
def docker_registry(tmp, users=None):
    """docker-registry on 127.0.0.1; with users ({name: password}) it asks for Basic auth (htpasswd)."""
    if not shutil.which("docker-registry"):
        pytest.skip("needs docker-registry (apt-get install docker-registry)")
    port = free_port()
    auth = ""
    if users:
        (tmp / "htpasswd").write_text("".join(f"{u}:{bcrypt(p)}\n" for u, p in users.items()))
        auth = f"auth:\n  htpasswd:\n    realm: fastctr-test\n    path: {tmp / 'htpasswd'}\n"
    config = tmp / "registry.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                      f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'storage'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n{auth}")
    with open(tmp / "registry.log", "wb") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while status_of(port) not in (200, 401):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"docker-registry did not start: {(tmp / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.05)
        yield port
    finally:
        end(proc)


def end(proc, grace=10):
    """SIGTERM to a helper daemon we started, SIGKILL after grace seconds; reaped."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """docker-registry on 127.0.0.1 for one test module: its port.  Import
    it into a test module to use it there."""
    with docker_registry(tmp_path_factory.mktemp("registry")) as port:
        yield port


# ---------------------------------------------------------------- buildah


def umount_under(top):
    """Unmount anything below top (deepest first); a crashed buildah may leave its mounts."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(top + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


@contextlib.contextmanager
def private_buildah(prefix="fastctr-buildah-"):
    """A `buildah(*args, cwd=None)` runner whose storage (vfs), run state,
    temp files and network config are all below one temp dir, removed at the
    end with whatever buildah made there.  Yields (buildah, tmp).

    Skips when buildah is missing or cannot run a chroot-isolated RUN here.
    Chroot isolation runs RUN with no OCI runtime and no cgroup; it makes no
    network namespace (RUN shares buildah's) but sets nothing up in it; for a
    RUN with no network, wrap buildah in `unshare --net` (wrap=...)."""
    if not shutil.which("buildah"):
        pytest.skip("needs buildah (apt-get install buildah)")
    tmp = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    os.chmod(tmp, 0o755)
    root, runroot = os.path.join(tmp, "storage"), os.path.join(tmp, "run")
    conf = os.path.join(tmp, "containers.conf")
    os.makedirs(os.path.join(tmp, "tmp"))
    # CONTAINERS_CONF replaces every containers.conf: without it buildah makes
    # /etc/cni/net.d, /etc/containers/networks and /run/containers/networks.
    with open(conf, "w") as f:
        f.write(f'[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "{tmp}/cni"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDAH_", "CONTAINERS_", "REGISTRY_AUTH"))}
    env.update(CONTAINERS_CONF=conf, TMPDIR=os.path.join(tmp, "tmp"))
    base_cmd = ["buildah", "--root", root, "--runroot", runroot, "--storage-driver", "vfs"]

    def buildah(*args, cwd=None, timeout=120, wrap=()):
        return subprocess.run([*wrap, *base_cmd, *args], capture_output=True, text=True, timeout=timeout,
                              env=env, cwd=cwd, stdin=subprocess.DEVNULL)

    try:
        yield buildah, tmp
    finally:
        buildah("rm", "--all")
        buildah("rmi", "--all", "--force")
        umount_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def buildah_can_run(buildah, image):
    """Can this machine run buildah at all (mount namespaces, chroot)?  Tried
    twice; skips the test with buildah's reason if not."""
    for _ in range(2):
        probe = buildah("from", "--pull=never", "--name", "fastctr-probe", image)
        if probe.returncode == 0:
            probe = buildah("run", "--isolation", "chroot", "fastctr-probe", "--", "/bin/true")
        buildah("rm", "--all")
        if probe.returncode == 0:
            return
    pytest.skip(f"buildah cannot run here: `{' '.join(probe.args[7:])}` failed "
                f"({probe.returncode}): {probe.stderr.strip()[-300:]}")


# ---------------------------------------------------------------- file-tree listings

# Run in a container: every entry of its root file system as path|mode(hex)|uid|gid|size, then its links.
LIST = ("find / -xdev -exec stat -c '%n|%f|%u|%g|%s' {} +; echo LINKS; "
        "find / -xdev -type l -exec readlink -n {} ';' -exec echo ' <- {}' ';'")
# The runtime's mount points; /etc/resolv.conf: every container has one, as in Docker.
ADDED = {"/", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys", "/dev"}


def host_listing(root):
    """{path: (mode, uid, gid, size of a regular file)}, {path: link target} of the tree at root."""
    entries, links = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames + ([""] if dirpath == root else []):
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            rel = "/" + os.path.relpath(path, root) if path != root else "/"
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            entries[rel] = (st.st_mode, st.st_uid, st.st_gid, size)
            if stat.S_ISLNK(st.st_mode):
                links[rel] = os.readlink(path)
    return entries, links


def container_listing(text):
    """host_listing's result from LIST's output."""
    entries, links = {}, {}
    body, _, link_text = text.partition("LINKS\n")
    for line in body.splitlines():
        path, mode, uid, gid, size = line.rsplit("|", 4)
        mode = int(mode, 16)
        entries[path] = (mode, int(uid), int(gid), int(size) if stat.S_ISREG(mode) else 0)
    for line in link_text.splitlines():
        target, _, path = line.partition(" <- ")
        links[path] = target
    return entries, links


def assert_same_tree(got, got_links, reference):
    """The container shows exactly the reference tree (umoci unpack), apart
    from the runtime's own mount points."""
    want, want_links = host_listing(reference)
    # /dev, /proc, /sys hold the runtime's own mounts: compare the image's content.
    for path in ("/dev", "/proc", "/sys"):
        want.pop(path, None)
    missing = {p: m for p, m in want.items() if p not in got}
    assert not missing, f"missing from the container: {sorted(missing)[:10]}"
    differ = {p: (want[p], got[p]) for p in want if p in got and want[p] != got[p] and p not in ADDED}
    assert not differ, f"different: {dict(list(differ.items())[:10])}"
    extra = set(got) - set(want) - ADDED
    assert not extra, f"not in the image: {sorted(extra)[:10]}"
    assert got_links == want_links
