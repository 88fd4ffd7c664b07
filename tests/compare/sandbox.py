"""The place both engines run in: a private network, mount and PID namespace
made by this script, with a private /run, loopback up, a docker-registry on
127.0.0.1, Debian's dockerd (which starts its own containerd) with data, exec
and pid files of its own and container cgroups below ours, and fastctr with
its own data and state roots.  Nothing touches the machine's own network
namespace, /run or /var/lib/docker.  Teardown ends what it started by PID,
removes the containers, cgroups and directories it made; the namespaces go
with their last process (PID 1 of the PID namespace is this script, so any
straggler is killed by the kernel when it exits)."""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))  # imagetools

CGROUP_ROOT = "/sys/fs/cgroup"
REGISTRY_PORT = 5000  # free: the network namespace is ours
APART = "fctr-cmp-apart"


def reexec_in_namespace(argv):
    """Run this script again as PID 1 of new network, mount and PID namespaces,
    in a cgroup of its own below ours in every hierarchy."""
    cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
           sys.executable, os.path.join(HERE, "side_by_side.py"), "--inside", *argv]
    with own_cgroup():
        return subprocess.call(cmd)


@contextlib.contextmanager
def own_cgroup():
    """Move this process to fctr-cmp-PID below its cgroup in every v1
    hierarchy, and back (then remove it) at the end.  Test suites on a shared
    machine end every new `fastctr-*` cgroup below their own cgroup when a
    test is over; in a cgroup of our own our containers are not below theirs
    (unless they run in the root cgroup)."""
    name = f"fctr-cmp-{os.getpid()}"
    origin, made = {}, []
    with open("/proc/self/cgroup") as f:
        paths = {ctrls: path for _, ctrls, path in (line.rstrip("\n").split(":", 2) for line in f) if ctrls}
    for ctrls, path in paths.items():
        mnt = os.path.join(CGROUP_ROOT, ctrls.replace("name=", ""))
        if not os.path.exists(os.path.join(mnt, "cgroup.procs")):
            continue
        target = os.path.join(mnt, path.lstrip("/"), name)
        os.mkdir(target)
        made.append(target)
        if os.path.exists(os.path.join(target, "cpuset.cpus")):  # an empty cpuset takes no process
            for knob in ("cpuset.cpus", "cpuset.mems"):
                with open(os.path.join(os.path.dirname(target), knob)) as src, open(os.path.join(target, knob), "w") as dst:
                    dst.write(src.read())
        origin[target] = os.path.dirname(target)
        with open(os.path.join(target, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    try:
        yield name
    finally:
        for target, parent in origin.items():
            with open(os.path.join(parent, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        for target in made:
            remove_cgroup_tree(target)


def in_private_netns():
    """True when our network namespace is not PID 1's of the machine (we made it)."""
    try:
        return os.readlink("/proc/self/ns/net") != os.readlink("/proc/1/ns/net") or os.getpid() == 1
    except OSError:
        return False


def prepare_namespace():
    if os.getpid() != 1:
        raise SystemExit("--inside must run as PID 1 of a namespace the script made")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # /run private: dockerd, containerd and fastctr keep sockets and netns files there.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "fctr-cmp-run", "/run"], check=True)
    # A hybrid host's cgroup2 tree, unmounted in our mount namespace only: test
    # suites running beside us walk all of it and end each new `fastctr-*`
    # cgroup they find there, our containers' too.  Without it our containers
    # live in v1 hierarchies only, below our own cgroup (own_cgroup).
    if os.path.ismount(os.path.join(CGROUP_ROOT, "unified")):
        subprocess.run(["umount", "-l", os.path.join(CGROUP_ROOT, "unified")], check=True)


def own_cgroup_path():
    """The deepest cgroup v1 path of this process (the memory controller's on
    this machine); dockerd's --cgroup-parent is one path for every controller."""
    best = "/"
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers and len(path) > len(best):
                best = path
    return best


def cgroup_dirs_below(rel):
    """Every existing directory for the relative cgroup path rel, in each hierarchy."""
    out = []
    for name in sorted(os.listdir(CGROUP_ROOT)):
        d = os.path.join(CGROUP_ROOT, name, rel.lstrip("/"))
        if os.path.isdir(d):
            out.append(d)
    return out


def remove_cgroup_tree(path):
    """rmdir path and everything below it, deepest first (cgroup dirs hold only
    kernel files, so rmdir is how they go); end processes still in them."""
    if not os.path.isdir(path):
        return
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        for _ in range(20):
            try:
                os.rmdir(dirpath)
                break
            except OSError:
                try:
                    for pid in open(os.path.join(dirpath, "cgroup.procs")).read().split():
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
                time.sleep(0.1)


class Sandbox:
    """Per-engine directories, the registry and dockerd."""

    def __init__(self, with_docker, keep=False):
        self.with_docker = with_docker
        self.keep = keep
        self.base = tempfile.mkdtemp(prefix="fctr-cmp-", dir="/var/tmp")
        os.chmod(self.base, 0o755)
        self.run_dir = tempfile.mkdtemp(prefix="fctr-cmp-", dir="/tmp")
        self.procs = []
        self.netns = []
        self.docker_cgroup, self.cgroup_made = None, []
        self.docker_sock = os.path.join(self.run_dir, "docker.sock")

    def path(self, *parts):
        d = os.path.join(self.base, *parts)
        os.makedirs(d, exist_ok=True)
        return d

    # ------------------------------------------------------------ services
    def start_registry(self, prefix=(), name="registry"):
        """docker-registry on 127.0.0.1 of our namespace (or of the one prefix enters)."""
        if not shutil.which("docker-registry"):
            return None
        config = os.path.join(self.base, f"{name}.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.path(name)}\n"
                    f"http:\n  addr: 127.0.0.1:{REGISTRY_PORT}\n")
        log = open(os.path.join(self.base, f"{name}.log"), "wb")
        proc = subprocess.Popen([*prefix, "docker-registry", "serve", config], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        probe = [*prefix, sys.executable, "-c", f"import socket; socket.create_connection(('127.0.0.1', {REGISTRY_PORT}), 1)"]
        wait_for(lambda: subprocess.run(probe, capture_output=True).returncode == 0, proc, "docker-registry", log.name)
        return f"127.0.0.1:{REGISTRY_PORT}"

    def apart_netns(self):
        """--apart: a network namespace of fastctr's own inside ours (its bridges
        and NAT rules then cannot meet dockerd's); the prefix that enters it.
        Only the network namespace: fastctr's mounts must stay in ours."""
        subprocess.run(["ip", "netns", "add", APART], check=True)
        subprocess.run(["ip", "-n", APART, "link", "set", "lo", "up"], check=True)
        self.netns.append(APART)
        return ["nsenter", f"--net=/run/netns/{APART}"]

    def start_dockerd(self):
        parent = own_cgroup_path().rstrip("/") + "/fctr-cmp-docker"
        self.docker_cgroup, self.cgroup_made = parent, _missing_dirs(parent)
        log = open(os.path.join(self.base, "dockerd.log"), "wb")
        cmd = ["dockerd", "--data-root", self.path("docker-data"), "--exec-root", os.path.join(self.run_dir, "exec"),
               "--pidfile", os.path.join(self.run_dir, "docker.pid"), "-H", f"unix://{self.docker_sock}",
               "--cgroup-parent", parent, "--storage-driver", "overlay2", "--iptables=true"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        env = dict(os.environ, DOCKER_HOST=f"unix://{self.docker_sock}")
        wait_for(lambda: subprocess.run(["docker", "version"], env=env, capture_output=True).returncode == 0,
                 proc, "dockerd", log.name, timeout=60)

    # ------------------------------------------------------------ teardown
    def teardown(self, engines):
        for engine in engines:
            try:
                engine.remove_everything()
            except Exception as e:  # teardown goes on: what is left is reported below
                print(f"teardown of {engine.name}: {e}", file=sys.stderr)
        for proc in reversed(self.procs):  # dockerd first: it ends its containerd
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for name in self.netns:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.remove_docker_cgroups()
        if self.keep:
            print(f"kept {self.base} and {self.run_dir}", file=sys.stderr)
            return
        _unmount_below(self.base)
        _unmount_below(self.run_dir)
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


    def remove_docker_cgroups(self):
        """dockerd's cgroup parent with what is below it (ours: its processes
        are ended), then the empty parents runc made for it on the way (only
        rmdir: a directory someone else uses now is left alone)."""
        if not self.docker_cgroup:
            return
        for d in cgroup_dirs_below(self.docker_cgroup):
            remove_cgroup_tree(d)
        for made in self.cgroup_made:  # the topmost dirs that did not exist before dockerd
            for top in cgroup_dirs_below(made):
                for dirpath, _, _ in os.walk(top, topdown=False):
                    try:
                        os.rmdir(dirpath)
                    except OSError:
                        pass


def _missing_dirs(rel):
    """The topmost components of the cgroup path rel that do not exist in some
    hierarchy: what dockerd will create and teardown must remove."""
    parts = [p for p in rel.split("/") if p]
    made = set()
    for name in sorted(os.listdir(CGROUP_ROOT)):
        cur = ""
        for p in parts:
            cur += "/" + p
            if not os.path.isdir(os.path.join(CGROUP_ROOT, name, cur.lstrip("/"))):
                made.add(cur)
                break
    return sorted(made)


def _unmount_below(path):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for mnt in sorted((p for p in points if p.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def wait_for(ready, proc, what, log_path, timeout=20):
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(log_path, errors="replace") as f:
                raise SystemExit(f"{what} did not start:\n{f.read()[-3000:]}")
        time.sleep(0.1)


def busybox_image(path, tag="busybox:latest"):
    """A docker-archive of busybox with every applet linked, like Docker Hub's
    busybox (one layer, Cmd ["sh"]); both engines load this same file."""
    import imagetools as it
    from fastctr.runtime.bundle import find_busybox
    with open(find_busybox(), "rb") as f:
        bb = f.read()
    applets = subprocess.run([find_busybox(), "--list"], capture_output=True, text=True).stdout.split()
    entries = [("bin", "dir", None), ("bin/busybox", "file", (bb, 0o755))]
    # Hard links as in Docker Hub's busybox, each with the target's mode: Docker
    # applies a hard link's mode to the file it links to.
    for applet in sorted(set(applets) - {"busybox"}):
        info = tarfile.TarInfo(f"bin/{applet}")
        info.type, info.linkname, info.mode, info.mtime = tarfile.LNKTYPE, "bin/busybox", 0o755, 1700000000
        entries.append(("raw", "raw", (info, None)))
    entries += [("etc", "dir", None),
                ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
                                       b"app:x:1000:1000:app:/home/app:/bin/sh\n"
                                       b"nobody:x:65534:65534:nobody:/home:/bin/false\n"),
                ("etc/group", "file", b"root:x:0:\ndaemon:x:1:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n"),
                ("home", "dir", None), ("home/app", "dir", None), ("root", "dir", 0o700), ("tmp", "dir", 0o1777),
                ("usr", "dir", None), ("var", "dir", None)]
    it.write_docker_archive(path, [it.tar_bytes(entries)], repo_tags=(tag,), cmd=("sh",))
    return path
