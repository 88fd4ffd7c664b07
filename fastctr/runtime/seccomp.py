"""Seccomp: Docker-format profiles -> OCI linux.seccomp -> classic BPF.

Three stages, so each can be cached or replaced on its own:

* default_profile() / load_profile(path): a profile in Docker's JSON format,
  with rules conditional on capabilities, arch and kernel version;
* to_oci(profile, caps): resolve those conditions for one container, giving
  the runtime-spec `linux.seccomp` object (what config.json carries);
* compile_bpf(oci) / bpf_for(oci, cache_dir): the BPF program, built by
  libseccomp through ctypes, with an in-process and an on-disk cache.

ctypes is imported only to compile: a cache hit on the container start path
costs a hash of the JSON and a file read.

One cohesive thing, with Docker's default profile as data at its end (its
own module would be one more import on every start).
"""
import errno
import os
import sys

from fastctr import jsonfast as json

from fastctr.errors import ConfigError

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS",
           "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW",
           "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")
# libseccomp's enum scmp_compare.
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
# libseccomp's SCMP_ACT_* values; ERRNO and TRACE carry a 16-bit datum.
_ACT_VALUE = {"SCMP_ACT_KILL": 0, "SCMP_ACT_KILL_THREAD": 0,
              "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
              "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
              "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000}
_WITH_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")

# uname -m -> the Go/Docker arch name that profiles' "arches" use.
_UNAME_ARCH = {"x86_64": "amd64", "i386": "x86", "i486": "x86", "i586": "x86",
               "i686": "x86", "aarch64": "arm64", "armv6l": "arm", "armv7l": "arm",
               "armv8l": "arm", "ppc": "ppc", "ppc64": "ppc64", "ppc64le": "ppc64le",
               "s390": "s390", "s390x": "s390x", "riscv64": "riscv64",
               "loongarch64": "loongarch64"}
# Docker arch name -> runtime-spec SCMP_ARCH_* (the archMap key).
_SCMP_ARCH = {"amd64": "X86_64", "x86": "X86", "x32": "X32", "arm64": "AARCH64",
              "arm": "ARM", "ppc": "PPC", "ppc64": "PPC64", "ppc64le": "PPC64LE",
              "s390": "S390", "s390x": "S390X", "riscv64": "RISCV64",
              "loongarch64": "LOONGARCH64", "mips": "MIPS", "mipsel": "MIPSEL",
              "mips64": "MIPS64", "mipsel64": "MIPSEL64", "mips64n32": "MIPS64N32",
              "mipsel64n32": "MIPSEL64N32"}

_CACHE_FORMAT = b"fastctr-seccomp-bpf/2\n"   # bump when compile_bpf's output changes
_MEMO_MAX = 64
_memo = {}      # cache key -> BPF bytes, for this process
_lib = None     # the loaded libseccomp, see _libseccomp()


# ---------------------------------------------------------------- profiles

def default_profile():
    """Docker's default profile (moby/profiles default.json), as a new dict."""
    d = _DockerDefault

    def rule(names, action="SCMP_ACT_ALLOW", **more):
        return {"names": names.split(), "action": action, **more}

    def arg(index, value, op):
        return {"index": index, "value": value, "valueTwo": 0, "op": op}

    sock_lo, sock_hi = d.SOCKET_DENIED
    rules = [rule(d.ALLOW), rule(d.PTRACE_MIN_KERNEL[1],
                                 includes={"minKernel": d.PTRACE_MIN_KERNEL[0]})]
    rules += [rule("socket", args=[arg(0, v, op)]) for v, op in (
        (sock_lo, "SCMP_CMP_LT"), (sock_lo + 1, "SCMP_CMP_EQ"), (sock_hi, "SCMP_CMP_GT"))]
    rules += [rule("personality", args=[arg(0, v, "SCMP_CMP_EQ")])
              for v in d.PERSONALITY_ALLOWED]
    rules += [rule(names, includes={"arches": list(arches)}) for arches, names in d.BY_ARCH]
    rules += [rule(names, includes={"caps": [cap]}) for cap, names in d.BY_CAP.items()]
    # s390 takes clone's flags as its second argument.
    rules += [rule("clone", args=[arg(0, d.CLONE_NS_FLAGS, "SCMP_CMP_MASKED_EQ")],
                   excludes={"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}),
              rule("clone", args=[arg(1, d.CLONE_NS_FLAGS, "SCMP_CMP_MASKED_EQ")],
                   includes={"arches": ["s390", "s390x"]}, excludes={"caps": ["CAP_SYS_ADMIN"]}),
              rule("clone3", "SCMP_ACT_ERRNO", errnoRet=d.CLONE3_ERRNO,
                   excludes={"caps": ["CAP_SYS_ADMIN"]})]
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EPERM,
            "archMap": [{"architecture": a, "subArchitectures": s} for a, s in d.ARCH_MAP],
            "syscalls": rules}


def load_profile(path):
    """Read a Docker-format seccomp profile; ConfigError names the file."""
    try:
        with open(path, "rb") as f:
            profile = json.loads(f.read())
    except OSError as e:
        raise ConfigError(f"seccomp profile {path}: {e.strerror or e}") from None
    except ValueError as e:  # JSONDecodeError and bad UTF-8 alike
        raise ConfigError(f"seccomp profile {path}: invalid JSON: {e}") from None
    _check_profile(profile, f"seccomp profile {path}")
    return profile


def _check_profile(p, where):
    """Validate the structure up front so errors name the profile and rule."""
    if not isinstance(p, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    _check_action(p.get("defaultAction"), p.get("defaultErrnoRet"), where, "defaultAction")
    if p.get("archMap") and p.get("architectures"):
        raise ConfigError(f"{where}: use either 'architectures' or 'archMap', not both")
    _check_str_list(p.get("architectures") or [], where, "architectures")
    for i, a in enumerate(_list(p.get("archMap"), where, "archMap")):
        if not isinstance(a, dict) or not isinstance(a.get("architecture"), str):
            raise ConfigError(f"{where}: archMap[{i}]: needs an 'architecture' name")
        _check_str_list(a.get("subArchitectures") or [], where, f"archMap[{i}].subArchitectures")
    for i, r in enumerate(_list(p.get("syscalls"), where, "syscalls")):
        _check_rule(r, where, f"syscalls[{i}]")


def _check_rule(r, where, at):
    if not isinstance(r, dict):
        raise ConfigError(f"{where}: {at}: expected an object")
    if r.get("name") and r.get("names"):
        raise ConfigError(f"{where}: {at}: use either 'name' or 'names', not both")
    if "name" in r and not isinstance(r["name"], str):
        raise ConfigError(f"{where}: {at}.name: expected a string")
    _check_str_list(r.get("names") or [], where, f"{at}.names")
    _check_action(r.get("action"), r.get("errnoRet"), where, f"{at}.action")
    _check_args(r.get("args"), where, at)
    for key in ("includes", "excludes"):
        cond = r.get(key) or {}
        if not isinstance(cond, dict):
            raise ConfigError(f"{where}: {at}.{key}: expected an object")
        _check_str_list(cond.get("caps") or [], where, f"{at}.{key}.caps")
        _check_str_list(cond.get("arches") or [], where, f"{at}.{key}.arches")
        if cond.get("minKernel"):
            _parse_kernel(cond["minKernel"], f"{where}: {at}.{key}.minKernel")


def _check_action(action, errno_ret, where, at):
    if action not in ACTIONS:
        raise ConfigError(f"{where}: {at}: unknown action {action!r}")
    if errno_ret is None:
        return
    if action not in _WITH_ERRNO:
        raise ConfigError(f"{where}: {at}: errnoRet is only valid with SCMP_ACT_ERRNO "
                          f"or SCMP_ACT_TRACE, not {action}")
    if not _is_int(errno_ret) or not 0 <= errno_ret <= 0xFFFF:
        raise ConfigError(f"{where}: {at}: errnoRet {errno_ret!r} is not in 0..65535")


def _check_args(args, where, at):
    for j, a in enumerate(_list(args, where, f"{at}.args")):
        here = f"{where}: {at}.args[{j}]"
        if not isinstance(a, dict):
            raise ConfigError(f"{here}: expected an object")
        if a.get("op") not in OPS:
            raise ConfigError(f"{here}: unknown op {a.get('op')!r}")
        if not _is_int(a.get("index")) or not 0 <= a["index"] <= 5:
            raise ConfigError(f"{here}: index {a.get('index')!r} is not in 0..5")
        for key in ("value", "valueTwo"):
            v = a.get(key, 0)
            if not _is_int(v) or not 0 <= v < 1 << 64:
                raise ConfigError(f"{here}: {key} {v!r} is not a 64-bit unsigned integer")


def _list(v, where, at):
    if v is None:
        return []
    if not isinstance(v, list):
        raise ConfigError(f"{where}: {at}: expected a list")
    return v


def _check_str_list(v, where, at):
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise ConfigError(f"{where}: {at}: expected a list of strings")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# ---------------------------------------------------------------- to OCI

def to_oci(profile, caps, arch=None, kernel=None, checked=False):
    """Resolve a Docker profile for one container: the OCI linux.seccomp.

    caps: the container's (bounding) capabilities, "CAP_SYS_ADMIN" or
    "SYS_ADMIN"; arch: Docker ("amd64") or uname ("x86_64") name, default
    the host's; kernel: release string or (major, minor), default running;
    checked: the profile is default_profile() or from load_profile(), whose
    structure is known good (validating Docker's ~0.5 ms of every start)."""
    if not checked:
        _check_profile(profile, "seccomp profile")
    arch = _docker_arch(arch or os.uname().machine)
    caps = {c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()
            for c in caps or ()}
    kver = _parse_kernel(kernel, "kernel") if kernel else _running_kernel()
    out = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arches = _architectures(profile, arch)
    if arches:
        out["architectures"] = arches
    for key in ("flags", "listenerPath", "listenerMetadata"):  # the runtime's business
        if profile.get(key):
            out[key] = profile[key]
    out["syscalls"] = [_oci_rule(r) for r in profile.get("syscalls") or ()
                       if _applies(r, arch, caps, kver)]
    return out


def _docker_arch(name):
    name = name.lower()
    if name.startswith("mips"):  # uname doesn't say the byte order
        return name.replace("mips", "mipsel" if sys.byteorder == "little" else "mips", 1)
    return _UNAME_ARCH.get(name, name)


def _architectures(profile, arch):
    if profile.get("architectures"):  # the old format lists them outright
        return list(profile["architectures"])
    native = "SCMP_ARCH_" + _SCMP_ARCH.get(arch, arch.upper())
    for entry in profile.get("archMap") or ():
        if entry["architecture"] == native:
            return [native] + list(entry.get("subArchitectures") or ())
    return []


def _applies(rule, arch, caps, kver):
    """Docker's rule: excludes match on any cap, includes need every cap."""
    exc, inc = rule.get("excludes") or {}, rule.get("includes") or {}
    if arch in (exc.get("arches") or ()) or caps & set(exc.get("caps") or ()):
        return False
    if exc.get("minKernel") and kver >= _parse_kernel(exc["minKernel"], "minKernel"):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if not caps.issuperset(inc.get("caps") or ()):
        return False
    return not inc.get("minKernel") or kver >= _parse_kernel(inc["minKernel"], "minKernel")


def _oci_rule(rule):
    names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
    out = {"names": list(names), "action": rule["action"]}
    if rule.get("errnoRet") is not None:
        out["errnoRet"] = rule["errnoRet"]
    if rule.get("args"):
        out["args"] = [{"index": a["index"], "value": a.get("value", 0),
                        "valueTwo": a.get("valueTwo", 0), "op": a["op"]} for a in rule["args"]]
    return out


def _parse_kernel(v, what):
    """"5.10" / "5.10.3-foo" / (5, 10) -> (5, 10); only major.minor counts."""
    if isinstance(v, (tuple, list)) and len(v) >= 2:
        return int(v[0]), int(v[1])
    parts = v.split(".", 2) if isinstance(v, str) else []
    minor = parts[1] if len(parts) > 1 else ""
    minor = minor[:len(minor) - len(minor.lstrip("0123456789"))]
    if len(parts) < 2 or not parts[0].isdigit() or not minor or (int(parts[0]), int(minor)) == (0, 0):
        raise ConfigError(f"{what}: invalid kernel version {v!r}, expected \"<major>.<minor>\"")
    return int(parts[0]), int(minor)


_kernel = None


def _running_kernel():
    global _kernel
    if _kernel is None:
        _kernel = _parse_kernel(os.uname().release, "running kernel")
    return _kernel


# ---------------------------------------------------------------- BPF

def compile_bpf(oci_seccomp):
    """The OCI linux.seccomp object as a classic BPF program (raw sock_filter
    array), built by libseccomp.  Loading it needs no_new_privs or
    CAP_SYS_ADMIN; the filter itself doesn't set no_new_privs."""
    default, rules, arches = _plan(oci_seccomp)
    lib = _libseccomp()
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise OSError(errno.EINVAL, f"seccomp_init({default:#x}) failed")
    unknown = {}
    try:
        _check_rc(lib.seccomp_attr_set(ctx, 3, 0), "seccomp_attr_set(CTL_NNP)")
        for arch in arches:
            _add_arch(lib, ctx, arch)
        for names, action, conds in rules:
            if action != default:  # libseccomp refuses those (EACCES): they're no-ops
                for name in _add_rule(lib, ctx, names, action, conds):
                    if not conds:
                        unknown.setdefault(name, action)
        return _native_prologue(unknown, default) + _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


# Syscalls newer than a libseccomp may know (2.5.4 knows none of these),
# by native number.  x86_64 and aarch64 share numbers from 424 on.
_NEW_SYSCALLS = {"statmount": 457, "listmount": 458, "lsm_get_self_attr": 459, "lsm_set_self_attr": 460,
                 "lsm_list_modules": 461, "mseal": 462, "setxattrat": 463, "getxattrat": 464,
                 "listxattrat": 465, "removexattrat": 466, "open_tree_attr": 467, "file_getattr": 468,
                 "file_setattr": 469}
_NATIVE = {"x86_64": (0xC000003E, dict(_NEW_SYSCALLS, uretprobe=335)), "aarch64": (0xC00000B7, _NEW_SYSCALLS)}
_X32_BIT = 0x40000000
_ENOSYS = 0x00050000 | errno.ENOSYS


def _native_prologue(unknown, default):
    """Classic BPF run before libseccomp's program, for the native arch:
    the profile's action for the syscalls libseccomp could not name, and
    ENOSYS (not the default EPERM) for numbers beyond all we know, so that
    userland falls back as on an older kernel (what runc does)."""
    import struct
    arch, numbers = _NATIVE.get(os.uname().machine, (None, {}))
    if arch is None:
        return b""
    table = sorted((numbers[n], action) for n, action in unknown.items() if n in numbers)
    highest = max(numbers.values())
    ld, jeq, jge, jgt, ret = 0x20, 0x15, 0x35, 0x25, 0x06
    body = [(ld, 0, 0, 0)]  # seccomp_data.nr
    for nr, action in table:
        body += [(jeq, 0, 1, nr), (ret, 0, 0, action)]
    if default != 0x7FFF0000:  # with a default of allow, unknown numbers pass anyway
        # x32 numbers carry bit 30 under the x86_64 arch: leave those to libseccomp
        body += [(jge, 2, 0, _X32_BIT), (jgt, 0, 1, highest), (ret, 0, 0, _ENOSYS)]
    # arch first (seccomp_data.arch at offset 4); any other arch goes straight on
    prologue = [(ld, 0, 0, 4), (jeq, 0, len(body), arch)] + body
    return b"".join(struct.pack("=HBBI", *insn) for insn in prologue)


def _plan(oci):
    """Validate and translate to libseccomp values before touching the library."""
    where = "linux.seccomp"
    if not isinstance(oci, dict):
        raise ConfigError(f"{where}: expected an object")
    default = _action_value(oci.get("defaultAction"), oci.get("defaultErrnoRet"),
                            where, "defaultAction")
    arches = oci.get("architectures") or []
    _check_str_list(arches, where, "architectures")
    rules = []
    for i, r in enumerate(_list(oci.get("syscalls"), where, "syscalls")):
        at = f"{where}: syscalls[{i}]"
        if not isinstance(r, dict):
            raise ConfigError(f"{at}: expected an object")
        _check_str_list(r.get("names"), at, "names")
        action = _action_value(r.get("action"), r.get("errnoRet"), at, "action")
        _check_args(r.get("args"), where, f"syscalls[{i}]")
        conds = [(a["index"], OPS[a["op"]], a.get("value", 0), a.get("valueTwo", 0))
                 for a in r.get("args") or ()]
        rules.append((r["names"], action, conds))
    return default, rules, arches


def _action_value(action, errno_ret, where, field):
    if action == "SCMP_ACT_NOTIFY":
        raise ConfigError(f"{where}: {field}: SCMP_ACT_NOTIFY is not supported")
    _check_action(action, errno_ret, where, field)
    if action in _WITH_ERRNO:  # runc's default datum for both
        return _ACT_VALUE[action] | (errno.EPERM if errno_ret is None else errno_ret)
    return _ACT_VALUE[action]


def _add_arch(lib, ctx, arch):
    token = lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
    if not token:
        raise ConfigError(f"linux.seccomp: architecture {arch!r} is unknown to libseccomp")
    rc = lib.seccomp_arch_add(ctx, token)
    if rc != -errno.EEXIST:  # the native arch is always in
        _check_rc(rc, f"seccomp_arch_add({arch})")


def _add_rule(lib, ctx, names, action, conds):
    # Several conditions on one argument would AND into an impossible match;
    # like runc, give each its own rule then (OR).
    indexes = [c[0] for c in conds]
    groups = [[c] for c in conds] if len(set(indexes)) < len(indexes) else [conds]
    arrays = [((lib.ArgCmp * len(g))(*g) if g else None, len(g)) for g in groups]
    unknown = []
    for name in names:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr == -1:  # __NR_SCMP_ERROR: unknown to this libseccomp (see _native_prologue)
            unknown.append(name)
            continue
        for array, count in arrays:
            _check_rc(lib.seccomp_rule_add_array(ctx, action, nr, count, array),
                      f"seccomp_rule_add_array({name})")
    return unknown


def _export(lib, ctx):
    # A memfd rather than a pipe: a big filter would fill the pipe and block.
    try:
        fd = os.memfd_create("fastctr-seccomp", os.MFD_CLOEXEC)
    except OSError:  # memfd_create filtered out (we may run in a container)
        import tempfile
        fd = os.dup(tempfile.TemporaryFile().fileno())
    try:
        _check_rc(lib.seccomp_export_bpf(ctx, fd), "seccomp_export_bpf")
        bpf = os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)
    if not bpf or len(bpf) % 8:
        raise OSError(errno.EIO, f"seccomp_export_bpf wrote {len(bpf)} bytes")
    return bpf


def _check_rc(rc, what):
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")


def _libseccomp():
    """Load libseccomp.so.2 once and declare the few functions used."""
    global _lib
    if _lib is not None:
        return _lib
    import ctypes

    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError as e:
        raise FileNotFoundError(errno.ENOENT, "libseccomp.so.2 is needed to compile "
                                f"seccomp filters (apt install libseccomp2): {e}") from None

    class ArgCmp(ctypes.Structure):  # struct scmp_arg_cmp
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]

    vp, u32, i = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    for name, res, args in (
            ("seccomp_init", vp, [u32]), ("seccomp_release", None, [vp]),
            ("seccomp_attr_set", i, [vp, i, u32]),
            ("seccomp_arch_resolve_name", u32, [ctypes.c_char_p]),
            ("seccomp_arch_add", i, [vp, u32]),
            ("seccomp_syscall_resolve_name", i, [ctypes.c_char_p]),
            ("seccomp_rule_add_array", i, [vp, u32, i, ctypes.c_uint, ctypes.POINTER(ArgCmp)]),
            ("seccomp_export_bpf", i, [vp, i])):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    lib.ArgCmp = ArgCmp
    _lib = lib
    return lib


# ---------------------------------------------------------------- cache

def bpf_for(oci_seccomp, cache_dir):
    """compile_bpf with caches: this process, then <cache_dir>/<key>.bpf.

    The key hashes the canonical JSON, so equal profiles share a program.
    cache_dir None: no file cache."""
    key = _cache_key(oci_seccomp)
    bpf = _memo.get(key)
    if bpf is not None:
        return bpf
    path = os.path.join(cache_dir, key + ".bpf") if cache_dir else None
    bpf = _read_cache(path) if path else None
    if bpf is None:
        bpf = compile_bpf(oci_seccomp)
        if path:
            _write_cache(path, bpf)
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    _memo[key] = bpf
    return bpf


def _sha256(data):
    try:
        from _sha256 import sha256  # built in: hashlib would load OpenSSL (~5 ms)
    except ImportError:
        from hashlib import sha256
    return sha256(data)


def _cache_key(oci):
    try:
        text = json.canonical(oci)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"linux.seccomp: not JSON data: {e}") from None
    # The native arch is always in the filter, so it is part of the key.
    h = _sha256(_CACHE_FORMAT + os.uname().machine.encode() + b"\n")
    h.update(text.encode())
    return h.hexdigest()


def _read_cache(path):
    try:
        with open(path, "rb") as f:
            bpf = f.read()
    except OSError:
        return None
    return bpf if bpf and len(bpf) % 8 == 0 else None  # else recompile over it


def _write_cache(path, bpf):
    """tmp + fsync + rename: readers see the whole program or none.  A cache
    that can't be written (read-only, full) only costs a compile next time."""
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(bpf)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# ----------------------------------------------------- the default profile

class _DockerDefault:
    """Docker's default seccomp profile, as data.

Mirrors moby/profiles seccomp/default.json: deny with EPERM by default, allow
the syscalls an ordinary program needs, and open the dangerous ones only when
the container holds the capability that already grants that power (the
kernel would check it anyway; seccomp closes the attack surface when it
doesn't).  default_profile() turns this into the JSON form."""

    # Unconditionally allowed.  Names a libseccomp build doesn't know (newer
    # syscalls, other arches' names) are skipped when the filter is compiled.
    ALLOW = """
    accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
    chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
    clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
    copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
    exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
    fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr
    flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64
    fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv
    futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid
    geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
    getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32
    getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
    gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init
    inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
    io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
    landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat
    listen listmount listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr
    lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore
    mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr
    mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
    mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock
    munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2
    pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll
    ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6
    pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv
    recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat
    rename renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction
    rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
    rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
    sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
    sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
    sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
    semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
    setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
    setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
    setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
    setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd
    signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64
    statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
    timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
    timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
    timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat
    uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid
    write writev
    """

    # Allowed only while the container holds the capability (Docker's groups).
    BY_CAP = {
        "CAP_DAC_READ_SEARCH": "open_by_handle_at",
        "CAP_SYS_ADMIN": """bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick
            lookup_dcookie lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount
            mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd
            setdomainname sethostname setns syslog umount umount2 unshare""",
        "CAP_SYS_BOOT": "reboot",
        "CAP_SYS_CHROOT": "chroot",
        "CAP_SYS_MODULE": "delete_module init_module finit_module",
        "CAP_SYS_PACCT": "acct",
        "CAP_SYS_PTRACE": "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
        "CAP_SYS_RAWIO": "iopl ioperm",
        "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
        "CAP_SYS_TTY_CONFIG": "vhangup",
        "CAP_SYS_NICE": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
        "CAP_SYSLOG": "syslog",
        "CAP_BPF": "bpf",
        "CAP_PERFMON": "perf_event_open",
    }

    # Allowed only on these arches (Docker/Go arch names).
    BY_ARCH = [
        (("ppc64le",), "sync_file_range2 swapcontext"),
        (("arm", "arm64"), "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint "
                           "cacheflush set_tls"),
        (("amd64", "x32"), "arch_prctl"),
        (("amd64", "x32", "x86"), "modify_ldt"),
        (("s390", "s390x"), "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"),
        (("riscv64",), "riscv_flush_icache"),
    ]

    # Since 4.8 the seccomp check runs after ptrace, so a tracer can no longer
    # use ptrace to slip past the filter; Docker allows these from then on.
    PTRACE_MIN_KERNEL = ("4.8", "process_vm_readv process_vm_writev ptrace")

    # socket(): every family but AF_ALG (38) and AF_VSOCK (40), which reach host
    # kernel code (crypto API, hypervisor transport) containers have no use for.
    SOCKET_DENIED = (38, 40)

    # personality(): Linux, UNAME26, LINUX32, LINUX32|UNAME26, and the query
    # value; the other flags (e.g. ADDR_NO_RANDOMIZE) weaken ASLR.
    PERSONALITY_ALLOWED = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

    # clone() without CAP_SYS_ADMIN: no new namespaces.
    CLONE_NS_FLAGS = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000  # NS CGROUP UTS IPC
                      | 0x10000000 | 0x20000000 | 0x40000000)           # USER PID NET

    # clone3 passes its flags in a struct seccomp can't look into: answer ENOSYS
    # so glibc falls back to clone(), whose flags are checked above.
    CLONE3_ERRNO = errno.ENOSYS

    ARCH_MAP = [
        ("SCMP_ARCH_X86_64", ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        ("SCMP_ARCH_AARCH64", ["SCMP_ARCH_ARM"]),
        ("SCMP_ARCH_MIPS64", ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"]),
        ("SCMP_ARCH_MIPS64N32", ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"]),
        ("SCMP_ARCH_MIPSEL64", ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"]),
        ("SCMP_ARCH_MIPSEL64N32", ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"]),
        ("SCMP_ARCH_S390X", ["SCMP_ARCH_S390"]),
        ("SCMP_ARCH_RISCV64", None),
        ("SCMP_ARCH_LOONGARCH64", None),
    ]
