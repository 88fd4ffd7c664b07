"""Docker's security defaults and flags, and what an attacker inside a
container would try: every attempt must fail, and the flags that lift a
restriction must lift exactly it."""
import json
import os
import socket
import tempfile

import pytest

DOCKER_CAPS = 0xa80425fb  # CAP_CHOWN ... CAP_SETFCAP: Docker's 14
# The host's python, for raw syscalls (busybox cannot make them).
PYTHON = ["-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro"]
PROBE = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return "ok" if r >= 0 else os.strerror(ctypes.get_errno())
CALLS = {"keyctl": (250, 0, -3, 0), "add_key": (248, 0, 0, 0, 0, 0), "bpf": (321, 0, 0, 0),
         "kexec_load": (246, 0, 0, 0, 0), "open_by_handle_at": (304, 0, 0, 0), "init_module": (175, 0, 0, 0),
         "finit_module": (313, 0, 0, 0), "delete_module": (176, 0, 0), "mount": (165, 0, 0, 0, 0, 0),
         "umount2": (166, 0, 0), "unshare": (272, 0x20000), "setns": (308, 0, 0), "clone3": (435, 0, 0),
         "getpid": (39,), "reboot": (169, 0, 0, 0, 0), "swapon": (167, 0, 0), "mseal": (462, 0, 0, 0),
         "statmount": (457, 0, 0, 0, 0), "nr999": (999,)}
print(" ".join(f"{name}={call(*args)}".replace(" ", "_") for name, args in CALLS.items()))
"""
pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs the host's /usr/bin/python3")


@pytest.fixture
def fc(fcli):
    return fcli


def _status(fc, *flags, field):
    p = fc("run", "--rm", *flags, "bb:1", "grep", f"^{field}:", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    return p.stdout.split()[1]


def _probe(fc, *flags):
    with tempfile.NamedTemporaryFile("w", suffix=".py", dir="/var/tmp") as f:
        f.write(PROBE)
        f.flush()
        os.chmod(f.name, 0o644)
        p = fc("run", "--rm", *PYTHON, "-v", f"{f.name}:/probe.py:ro", *flags, "bb:1", "/usr/bin/python3", "/probe.py")
    assert p.returncode == 0, p.stderr
    return dict(item.split("=", 1) for item in p.stdout.split())


def _own_bounding_set():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))


# ------------------------------------------------------------ capabilities

def test_default_capabilities_are_dockers(fc):
    assert int(_status(fc, field="CapEff"), 16) == DOCKER_CAPS
    assert int(_status(fc, field="CapBnd"), 16) == DOCKER_CAPS
    assert _status(fc, field="NoNewPrivs") == "0"


def test_cap_add_and_cap_drop(fc):
    assert int(_status(fc, "--cap-drop", "ALL", "--cap-add", "chown", field="CapEff"), 16) == 1
    no_kill = int(_status(fc, "--cap-drop", "KILL", field="CapEff"), 16)
    assert no_kill == DOCKER_CAPS & ~(1 << 5)
    assert int(_status(fc, "--cap-add", "CAP_NET_ADMIN", field="CapEff"), 16) == DOCKER_CAPS | (1 << 12)
    # what the capability allows, in the container's own network namespace
    p = fc("run", "--rm", "--network", "none", "bb:1", "busybox", "ip", "link", "set", "lo", "down")
    assert p.returncode != 0 and "not permitted" in p.stderr, p.stderr
    p = fc("run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN", "bb:1", "busybox", "ip", "link", "set", "lo", "down")
    assert p.returncode == 0, p.stderr


def test_privileged_lifts_caps_seccomp_paths_and_devices(fc):
    script = ("grep -E '^(CapEff|Seccomp):' /proc/self/status; grep -E ' /(sys|proc/sys) ' /proc/mounts; "
              "ls /dev | wc -l")
    p = fc("run", "--rm", "--privileged", "bb:1", "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert int(lines[0].split()[1], 16) == _own_bounding_set()
    assert lines[1].split()[1] == "0"
    assert not any(" ro," in line or line.split()[3].startswith("ro") for line in lines[2:-1])
    assert int(lines[-1]) > 20  # the host's devices, not Docker's six
    p = fc("run", "--rm", "bb:1", "sh", "-c", "ls /dev | wc -l")
    assert int(p.stdout) < 20


def test_exec_gets_the_containers_restrictions_unless_privileged(fc):
    cid = fc("run", "-d", "bb:1", "sleep", "60").stdout.strip()
    try:
        p = fc("exec", cid, "grep", "-E", "^(CapEff|Seccomp):", "/proc/self/status")
        assert p.stdout.split()[1::2] == [f"{DOCKER_CAPS:016x}", "2"]
        p = fc("exec", "--privileged", cid, "grep", "^CapEff:", "/proc/self/status")
        assert int(p.stdout.split()[1], 16) == _own_bounding_set()
    finally:
        fc("rm", "-f", cid)


def test_no_new_privileges(fc):
    assert _status(fc, "--security-opt", "no-new-privileges", field="NoNewPrivs") == "1"
    assert _status(fc, "--security-opt", "no-new-privileges=false", field="NoNewPrivs") == "0"
    assert _status(fc, "--security-opt", "no-new-privileges", field="Seccomp") == "2"


def test_no_new_privileges_stops_a_setuid_binary(fc):
    # A setuid-root copy of the host's python in a volume, run as uid 1000.
    real = os.path.realpath("/usr/bin/python3")
    vol = ["-v", "nnp-test:/vol"] + PYTHON
    p = fc("run", "--rm", *vol, "bb:1", "sh", "-c", f"cp {real} /vol/py && chmod 4755 /vol/py")
    assert p.returncode == 0, p.stderr
    euid = ["/vol/py", "-c", "import os; print(os.geteuid())"]
    try:
        assert fc("run", "--rm", "-u", "1000", *vol, "bb:1", *euid).stdout.strip() == "0"
        p = fc("run", "--rm", "-u", "1000", "--security-opt", "no-new-privileges", *vol, "bb:1", *euid)
        assert p.stdout.strip() == "1000", p.stderr
    finally:
        fc("volume", "rm", "nnp-test")


# ----------------------------------------------------------------- seccomp

def test_default_seccomp_profile_blocks_what_dockers_blocks(fc):
    got = _probe(fc)
    for name in ("keyctl", "add_key", "bpf", "kexec_load", "open_by_handle_at", "init_module", "finit_module",
                 "delete_module", "mount", "umount2", "unshare", "setns", "reboot", "swapon"):
        assert got[name] == "Operation_not_permitted", (name, got[name])
    assert got["clone3"] == "Function_not_implemented"  # so that glibc falls back to clone
    assert got["getpid"] == "ok"
    # allowed by Docker's profile though this libseccomp may not know them
    # (the kernel then says what it says about the null arguments)
    assert got["mseal"] != "Operation_not_permitted" and got["statmount"] != "Operation_not_permitted", got
    assert got["nr999"] == "Function_not_implemented"  # beyond every known syscall: ENOSYS, not EPERM


def test_seccomp_unconfined_and_cap_sys_admin(fc):
    got = _probe(fc, "--security-opt", "seccomp=unconfined")
    assert got["keyctl"] == "ok" and got["clone3"] != "Function_not_implemented"
    assert got["add_key"] != "Operation_not_permitted"
    got = _probe(fc, "--cap-add", "SYS_ADMIN")  # Docker's profile then allows the namespace calls
    assert got["unshare"] == "ok" and got["keyctl"] == "Operation_not_permitted"


def test_custom_seccomp_profile(fc, tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    p = fc("run", "--rm", "--security-opt", f"seccomp={profile}", "bb:1", "sh", "-c", "mkdir /tmp/x; echo $?")
    assert "Permission denied" in p.stderr and p.stdout.strip() == "1"
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
    for opt in (f"seccomp={bad}", f"seccomp={tmp_path}/missing.json", "apparmor=myprofile", "nonsense"):
        p = fc("run", "--rm", "--security-opt", opt, "bb:1", "true")
        assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1, (opt, p.stderr)
    assert fc("ps", "-a", "-q").stdout == ""


def test_bad_security_flags_leave_nothing(fc):
    for flags in (["--cap-add", "NOPE"], ["--cap-drop", "CAP_"], ["--device", "/dev/nonexistent"],
                  ["--device", "relative"], ["--device", "/etc/hostname"],
                  ["--security-opt", "no-new-privileges=maybe"]):
        p = fc("run", "--rm", *flags, "bb:1", "true")
        assert p.returncode == 125, (flags, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("fastctr: "), p.stderr
    assert fc("ps", "-a", "-q").stdout == ""


# ----------------------------------------------------------------- devices

def test_device_flag_makes_the_node_and_allows_it(fc):
    script = "ls -l /dev/mynull; echo hi > /dev/mynull && echo written"
    p = fc("run", "--rm", "--device", "/dev/null:/dev/mynull:rw", "bb:1", "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("crw") and "1,   3" in p.stdout.splitlines()[0] and "written" in p.stdout


@pytest.mark.skipif(not os.path.exists("/dev/fuse"), reason="needs /dev/fuse on the host")
def test_device_cgroup_allows_only_given_devices(fc):
    # /dev/fuse (10:229) is not among Docker's default devices: without the
    # flag a node made by mknod cannot be opened (the devices cgroup).
    check = "grep -c 'c 10:229' /sys/fs/cgroup/devices/devices.list; exec 3<>/dev/fuse && echo opened"
    p = fc("run", "--rm", "bb:1", "sh", "-c", "mknod /dev/fuse c 10 229; " + check)
    assert "opened" not in p.stdout and "not permitted" in p.stderr, (p.stdout, p.stderr)
    p = fc("run", "--rm", "--device", "/dev/fuse", "bb:1", "sh", "-c", check)
    assert p.stdout.split() == ["1", "opened"], (p.stdout, p.stderr)


# ------------------------------------------------------ what attackers try

def test_proc_sys_and_sys_are_read_only(fc):
    targets = ["/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches", "/sys/kernel/mm/ksm/run",
               "/sys/fs/cgroup/pids/pids.max", "/proc/sysrq-trigger"]
    p = fc("run", "--rm", "bb:1", "sh", "-c", "; ".join(f"echo 1 > {t} && echo WROTE {t}" for t in targets) + "; true")
    assert "WROTE" not in p.stdout, p.stdout
    assert p.stderr.count("Read-only file system") >= 4, p.stderr  # sysrq-trigger may not exist here


def test_masked_paths_give_nothing(fc):
    p = fc("run", "--rm", "bb:1", "sh", "-c",
           "for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do "
           "echo $f $(cat $f 2>/dev/null | wc -c); done; ls /sys/firmware | wc -l")
    lines = p.stdout.split("\n")
    assert all(line.split()[1] == "0" for line in lines[:4]), p.stdout
    assert lines[4] == "0"


def test_mount_and_kernel_modules_are_refused(fc):
    p = fc("run", "--rm", "bb:1", "sh", "-c", "mount -t tmpfs none /tmp && echo MOUNTED; "
                                               "mount -o remount,rw /proc/sys && echo REMOUNTED; true")
    assert "MOUNTED" not in p.stdout and "REMOUNTED" not in p.stdout
    got = _probe(fc)
    assert got["init_module"] == got["finit_module"] == "Operation_not_permitted"


def test_hostname_of_the_host_cannot_change(fc):
    before = socket.gethostname()
    p = fc("run", "--rm", "bb:1", "hostname", "evil")
    assert p.returncode != 0 and "not permitted" in p.stderr
    # with the capability, only the container's own UTS namespace changes
    p = fc("run", "--rm", "--cap-add", "SYS_ADMIN", "bb:1", "sh", "-c", "hostname evil && hostname")
    assert p.stdout.strip() == "evil"
    assert socket.gethostname() == before


def test_no_host_file_descriptor_leaks_into_the_container(fc, tmp_path):
    # Open fds of the caller (a directory: the classic escape via openat "..")
    # must not reach the container's process.
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    dir_fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    file_fd = os.open(secret, os.O_RDONLY)
    try:
        p = fc("run", "--rm", "bb:1", "sh", "-c", "ls /proc/1/fd; cat /proc/1/fd/*/etc/hostname 2>/dev/null; true",
               pass_fds=(dir_fd, file_fd))
    finally:
        os.close(dir_fd)
        os.close(file_fd)
    assert p.stdout.split() == ["0", "1", "2"], p.stdout


def test_runtime_binary_is_out_of_reach_through_proc_exe(fc):
    """CVE-2019-5736: a process joining the container (exec) runs the host's
    runtime binary until its execve; a container process that opens its
    /proc/PID/exe then could overwrite it.  Here the container reads every
    other process's exe link in a tight loop while execs come in."""
    cid = fc("run", "-d", "bb:1", "sh", "-c",
             "while :; do for p in /proc/[0-9]*; do readlink $p/exe; done; done > /tmp/seen 2>/dev/null").stdout.strip()
    try:
        for _ in range(40):
            assert fc("exec", cid, "true").returncode == 0
        seen = set(fc("exec", cid, "sort", "-u", "/tmp/seen").stdout.split())
    finally:
        fc("rm", "-f", cid)
    assert seen and seen <= {"/bin/busybox", "/bin/sh", "/bin/true", "/bin/sort", "/bin/readlink"}, seen
    assert "python" not in " ".join(seen)
