"""fastctr.seccomp: Docker profiles -> OCI -> BPF, checked by loading the
filters into forked children and making real syscalls."""
import ctypes
import errno
import json
import os
import signal
import subprocess
import sys

import pytest

from fastctr.runtime import seccomp
from fastctr.errors import ConfigError

DOCKER_CAPS = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
CLONE_NEWNS, CLONE_NEWUSER = 0x20000, 0x10000000
AF_UNIX, AF_VSOCK, SOCK_STREAM = 1, 40, 1
SENTINEL = errno.ENOTUNIQ  # a denial errno no syscall here returns on its own


def unconditional(oci):
    """Names the OCI object allows whatever the arguments."""
    return {n for r in oci["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
            for n in r["names"]}


def docker_oci(caps=DOCKER_CAPS, **kw):
    return seccomp.to_oci(seccomp.default_profile(), caps, **kw)


# ---------------------------------------------------------------- to_oci

def test_default_profile_shape():
    p = seccomp.default_profile()
    assert (p["defaultAction"], p["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", errno.EPERM)
    assert p is not seccomp.default_profile()  # callers may change their copy
    names = {n for r in p["syscalls"] for n in r["names"]}
    for absent in ("kexec_load", "keyctl", "add_key", "request_key", "userfaultfd"):
        assert absent not in names


def test_to_oci_checks_a_profile_unless_told_it_is_checked():
    # The engine passes checked=True for default_profile() and load_profile()'s
    # result: the default must pass the check that it skips.
    seccomp._check_profile(seccomp.default_profile(), "default")
    bad = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOPE"}]}
    with pytest.raises(ConfigError, match="unknown action"):
        seccomp.to_oci(bad, [])
    default = seccomp.default_profile()
    assert seccomp.to_oci(default, DOCKER_CAPS, checked=True) == seccomp.to_oci(default, DOCKER_CAPS)


def test_docker_caps_exclude_admin_syscalls():
    allowed = unconditional(docker_oci())
    for name in ("read", "openat", "getpid", "uname", "chroot", "arch_prctl", "ptrace"):
        assert name in allowed
    for name in ("mount", "umount2", "unshare", "setns", "bpf", "clone", "clone3",
                 "perf_event_open", "reboot", "init_module", "open_by_handle_at",
                 "syslog", "iopl", "settimeofday"):
        assert name not in allowed


def test_cap_sys_admin_allows_them():
    allowed = unconditional(docker_oci(DOCKER_CAPS | {"CAP_SYS_ADMIN"}))
    for name in ("mount", "umount2", "unshare", "setns", "bpf", "clone", "clone3", "syslog"):
        assert name in allowed
    # Without SYS_ADMIN clone is masked and clone3 answers ENOSYS; with it,
    # neither conditional rule is left.
    oci = docker_oci(DOCKER_CAPS | {"SYS_ADMIN"})  # the CAP_ prefix is optional
    assert not [r for r in oci["syscalls"] if r["names"] in (["clone"], ["clone3"])]


def test_conditional_rules_without_admin():
    rules = {tuple(r["names"]): r for r in docker_oci()["syscalls"]}
    assert rules[("clone3",)] == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO",
                                  "errnoRet": errno.ENOSYS}
    (clone_arg,) = rules[("clone",)]["args"]
    assert clone_arg["op"] == "SCMP_CMP_MASKED_EQ" and clone_arg["value"] & CLONE_NEWUSER


def test_arch_and_kernel_conditions():
    oci = docker_oci(arch="x86_64")
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    arm = docker_oci(arch="aarch64")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "cacheflush" in unconditional(arm) and "arch_prctl" not in unconditional(arm)
    assert "ptrace" not in unconditional(docker_oci(kernel="4.4.0-generic"))
    assert "ptrace" in unconditional(docker_oci(kernel=(4, 8)))


def test_old_format_architectures_and_name():
    old = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [{"name": "read", "action": "SCMP_ACT_ALLOW", "args": []}]}
    oci = seccomp.to_oci(old, [])
    assert oci["architectures"] == ["SCMP_ARCH_X86_64"]
    assert oci["syscalls"] == [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]


def test_excludes_any_cap_includes_all_caps():
    p = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_X", "CAP_Y"]}},
        {"names": ["b"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_X", "CAP_Z"]}},
        {"names": ["c"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "3.0"}}]}
    assert unconditional(seccomp.to_oci(p, ["CAP_X"])) == set()
    assert unconditional(seccomp.to_oci(p, ["CAP_X", "CAP_Y"])) == {"a"}
    assert unconditional(seccomp.to_oci(p, [], kernel="2.6")) == {"b", "c"}


# ---------------------------------------------------------------- load_profile

def write(tmp_path, text):
    path = tmp_path / "profile.json"
    path.write_text(text if isinstance(text, str) else json.dumps(text))
    return str(path)


def test_load_profile_roundtrip(tmp_path):
    path = write(tmp_path, seccomp.default_profile())
    assert seccomp.load_profile(path) == seccomp.default_profile()


RULE = {"names": ["read"], "action": "SCMP_ACT_ALLOW"}


@pytest.mark.parametrize("profile, message", [
    ("{not json", "invalid JSON"),
    ([], "expected a JSON object"),
    ({"defaultAction": "SCMP_ACT_MAYBE"}, "unknown action 'SCMP_ACT_MAYBE'"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}, "syscalls: expected a list"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [dict(RULE, action="ALLOW")]},
     r"syscalls\[0\].action: unknown action"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [dict(RULE, names="read")]},
     "names: expected a list of strings"),
    ({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [dict(RULE, args=[{"index": 0, "value": 1, "op": "SCMP_CMP_ISH"}])]},
     "unknown op 'SCMP_CMP_ISH'"),
    ({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [dict(RULE, args=[{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}])]},
     "index 6 is not in 0..5"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [dict(RULE, errnoRet=1)]},
     "errnoRet is only valid"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [dict(RULE, includes={"minKernel": "4"})]},
     "invalid kernel version"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
      "archMap": [{"architecture": "SCMP_ARCH_X86", "subArchitectures": None}]}, "not both"),
])
def test_load_profile_errors(tmp_path, profile, message):
    path = write(tmp_path, profile)
    with pytest.raises(ConfigError, match=message) as exc:
        seccomp.load_profile(path)
    assert path in str(exc.value) and "\n" not in str(exc.value)


def test_load_profile_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.json"):
        seccomp.load_profile(str(tmp_path / "nope.json"))


# ---------------------------------------------------------------- compile_bpf

def test_compile_default_profile():
    bpf = seccomp.compile_bpf(docker_oci())
    assert len(bpf) > 800 and len(bpf) % 8 == 0


@pytest.mark.parametrize("oci, message", [
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "not supported"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}, "not supported"),
    ({"defaultAction": "SCMP_ACT_WHATEVER"}, "unknown action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action":
      "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_APPROX"}]}]},
     "unknown op"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}, "VAX"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]},
     "names"),
])
def test_compile_rejects_bad_profiles(oci, message):
    with pytest.raises(ConfigError, match=message):
        seccomp.compile_bpf(oci)


def test_unknown_syscall_names_are_skipped():
    oci = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["no_such_syscall", "getppid"], "action": "SCMP_ACT_ERRNO"}]}
    assert len(seccomp.compile_bpf(oci)) % 8 == 0


def test_missing_libseccomp_is_an_oserror(monkeypatch):
    ctypes_cdll = ctypes.CDLL

    def fail(name, *a, **kw):
        if "seccomp" in name:
            raise OSError(f"{name}: cannot open shared object file")
        return ctypes_cdll(name, *a, **kw)

    monkeypatch.setattr(seccomp, "_lib", None)
    monkeypatch.setattr(ctypes, "CDLL", fail)
    with pytest.raises(FileNotFoundError, match="libseccomp.so.2 is needed") as exc:
        seccomp.compile_bpf({"defaultAction": "SCMP_ACT_ALLOW"})
    assert exc.value.errno == errno.ENOENT


# ------------------------------------------- loading filters in real children

def nr(name):
    n = seccomp._libseccomp().seccomp_syscall_resolve_name(name.encode())
    assert n >= 0, name
    return n


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def run_filtered(bpf, calls):
    """Fork, load `bpf` in the child, make each (syscall, args) call there;
    return [errno or 0] or, if the child died, -signal."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p,
                           ctypes.c_ulong, ctypes.c_ulong]
    calls = [(nr(name), [ctypes.c_ulong(a) for a in args]) for name, args in calls]
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = SockFprog(len(bpf) // 8, ctypes.addressof(buf))
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery, report through the pipe
        try:
            os.close(rfd)
            if libc.prctl(38, 1, None, 0, 0) or libc.prctl(22, 2, ctypes.byref(prog), 0, 0):
                os._exit(100 + ctypes.get_errno())
            out = []
            for number, args in calls:
                ctypes.set_errno(0)
                rc = libc.syscall(ctypes.c_long(number), *args)
                out.append(ctypes.get_errno() if rc == -1 else 0)
            os.write(wfd, json.dumps(out).encode())
            os._exit(0)
        finally:
            os._exit(99)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    assert os.WEXITSTATUS(status) == 0, f"child exit {os.WEXITSTATUS(status)}"
    return json.loads(data)


def test_default_profile_in_a_child():
    oci = docker_oci()
    oci["defaultErrnoRet"] = SENTINEL  # so denials are provably the filter's
    denied = [("keyctl", [0, (1 << 64) - 3, 0]), ("add_key", [0, 0, 0, 0, 0]),
              ("request_key", [0, 0, 0, 0]), ("bpf", [0, 0, 0]), ("kexec_load", [0, 0, 0, 0]),
              ("open_by_handle_at", [0, 0, 0]), ("init_module", [0, 0, 0]),
              ("mount", [0, 0, 0, 0, 0]), ("umount2", [0, 0]), ("unshare", [CLONE_NEWNS]),
              ("setns", [0, 0]), ("userfaultfd", [0]), ("perf_event_open", [0, 0, 0, 0, 0]),
              ("personality", [0x0040000]), ("socket", [AF_VSOCK, SOCK_STREAM, 0]),
              ("clone", [CLONE_NEWUSER, 0, 0, 0, 0])]
    utsname, root = ctypes.create_string_buffer(6 * 65), ctypes.create_string_buffer(b"/")
    allowed = [("getpid", []), ("uname", [ctypes.addressof(utsname)]),
               ("openat", [(1 << 64) - 100, ctypes.addressof(root), os.O_RDONLY, 0]),
               ("write", [1, ctypes.addressof(root), 0]), ("personality", [0xFFFFFFFF]),
               ("socket", [AF_UNIX, SOCK_STREAM, 0])]
    got = run_filtered(seccomp.compile_bpf(oci), denied + allowed + [("clone3", [0, 0])])
    assert dict(zip((name for name, _ in denied), got)) == {name: SENTINEL for name, _ in denied}
    assert got[len(denied):] == [0] * len(allowed) + [errno.ENOSYS]  # clone3: glibc uses clone


def test_default_profile_denies_with_eperm():
    # unshare(0) is a no-op that succeeds unfiltered; the profile denies it.
    calls = [("unshare", [0]), ("getppid", [])]
    assert run_filtered(seccomp.compile_bpf({"defaultAction": "SCMP_ACT_ALLOW"}), calls) == [0, 0]
    assert run_filtered(seccomp.compile_bpf(docker_oci()), calls) == [errno.EPERM, 0]


def test_allow_by_default_with_rules():
    oci = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES},
        # same index twice: either value matches (one rule each, as runc does)
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 0x20000, "op": "SCMP_CMP_EQ"}]},
        {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV, "args": [
            {"index": 0, "value": CLONE_NEWUSER, "valueTwo": CLONE_NEWUSER,
             "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}  # = default: skipped
    got = run_filtered(seccomp.compile_bpf(oci), [
        ("getppid", []), ("getpid", []), ("personality", [8]), ("personality", [0x20000]),
        ("personality", [0xFFFFFFFF]), ("unshare", [CLONE_NEWUSER | CLONE_NEWNS]),
        ("unshare", [0])])
    assert got == [errno.EACCES, 0, errno.EPERM, errno.EPERM, 0, errno.EXDEV, 0]


def test_personality_only_value_zero():
    oci = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}]}
    got = run_filtered(seccomp.compile_bpf(oci), [("personality", [0]),
                                                  ("personality", [0xFFFFFFFF])])
    assert got == [0, errno.EPERM]


def test_kill_process_action():
    oci = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}
    assert run_filtered(seccomp.compile_bpf(oci), [("getppid", [])]) == -signal.SIGSYS


# ---------------------------------------------------------------- bpf_for

def test_bpf_for_file_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache" / "seccomp"
    oci = docker_oci()
    monkeypatch.setattr(seccomp, "_memo", {})
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append((a, b)), real_replace(a, b)))
    bpf = seccomp.bpf_for(oci, str(cache))
    assert bpf == seccomp.compile_bpf(oci)
    (path,) = cache.iterdir()  # one file, no temporary left behind
    assert path.name.endswith(".bpf") and path.read_bytes() == bpf
    assert renames and renames[0][1] == str(path) and os.path.dirname(renames[0][0]) == str(cache)
    assert oct(cache.stat().st_mode & 0o777) == "0o700"

    def boom(_):
        raise AssertionError("compiled again")

    monkeypatch.setattr(seccomp, "compile_bpf", boom)
    monkeypatch.setattr(seccomp, "_memo", {})  # a new process, as it were
    assert seccomp.bpf_for(json.loads(json.dumps(oci)), str(cache)) == bpf
    assert seccomp.bpf_for(oci, str(cache)) == bpf  # and now from memory
    path.unlink()
    assert seccomp.bpf_for(oci, str(cache)) == bpf


def test_bpf_for_recompiles_a_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setattr(seccomp, "_memo", {})
    oci = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}
    bpf = seccomp.bpf_for(oci, str(tmp_path))
    (path,) = tmp_path.iterdir()
    path.write_bytes(bpf[:-3])
    monkeypatch.setattr(seccomp, "_memo", {})
    assert seccomp.bpf_for(oci, str(tmp_path)) == bpf and path.read_bytes() == bpf


def test_bpf_for_without_file_cache(monkeypatch):
    monkeypatch.setattr(seccomp, "_memo", {})
    oci = {"defaultAction": "SCMP_ACT_ALLOW"}
    assert seccomp.bpf_for(oci, None) == seccomp.compile_bpf(oci)


def test_cache_hit_does_not_import_ctypes(tmp_path, monkeypatch):
    oci = docker_oci()
    monkeypatch.setattr(seccomp, "_memo", {})  # earlier tests may have it in memory: write the file
    seccomp.bpf_for(oci, str(tmp_path))
    code = ("import json, sys; from fastctr.runtime import seccomp; "
            f"bpf = seccomp.bpf_for(json.loads({json.dumps(json.dumps(oci))}), {str(tmp_path)!r}); "
            "assert 'ctypes' not in sys.modules, 'ctypes imported'; print(len(bpf))")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(seccomp.__file__))))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(seccomp.bpf_for(oci, None))
