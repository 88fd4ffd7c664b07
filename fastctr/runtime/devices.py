"""Device rules on cgroup v2: an eBPF program on the container's cgroup.

cgroup v2 has no devices.allow/deny files; runc and crun attach a
BPF_PROG_TYPE_CGROUP_DEVICE program that the kernel runs on every open and
mknod of a device node in the cgroup.  This one is made from the OCI rules
(linux.resources.devices, later rules win, default deny) followed by the
devices every container has, and attached with the bpf(2) syscall through ctypes
(loaded only on v2 hosts, only when a container is made).

The program sees struct bpf_cgroup_dev_ctx {u32 access_type; u32 major;
u32 minor;}: access_type is (access << 16) | type, type 1 block, 2 char;
access 1 mknod, 2 read, 4 write.  It returns 1 to allow."""
import ctypes
import os

from fastctr.errors import ConfigError

SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE = 15, 6
BPF_F_ALLOW_OVERRIDE = 1
TYPES = {"b": 1, "c": 2}
ACCESS = {"m": 1, "r": 2, "w": 4}
# What every container may use, as the v1 backend allows it (cgroups.DEFAULT_ALLOWED_DEVICES).
DEFAULT_RULES = [("c", None, None, "m"), ("b", None, None, "m"), ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"),
                 ("c", 1, 7, "rwm"), ("c", 5, 0, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"),
                 ("c", 5, 1, "rwm"), ("c", 136, None, "rwm"), ("c", 5, 2, "rwm"), ("c", 10, 200, "rwm")]


def _insn(code, dst=0, src=0, off=0, imm=0):
    return bytes([code, (src << 4) | dst]) + off.to_bytes(2, "little", signed=True) + \
        imm.to_bytes(4, "little", signed=True)


def _ldx_w(dst, src, off):
    return _insn(0x61, dst, src, off)          # dst = *(u32 *)(src + off)


def _mov_k(dst, imm):
    return _insn(0xb7, dst, imm=imm)


def _mov_x(dst, src):
    return _insn(0xbf, dst, src)


def _and_k(dst, imm):
    return _insn(0x57, dst, imm=imm)


def _rsh_k(dst, imm):
    return _insn(0x77, dst, imm=imm)


def _jne_k(dst, imm, off):
    return _insn(0x55, dst, off=off, imm=imm)  # if dst != imm: skip off instructions


EXIT = _insn(0x95)


def rules_of(devices):
    """OCI linux.resources.devices -> [(type, major, minor, access, allow)], in order."""
    out = []
    for d in devices or []:
        kind = d.get("type", "a")
        major, minor = d.get("major"), d.get("minor")
        out.append((kind, None if major is None or major < 0 else major,
                    None if minor is None or minor < 0 else minor, d.get("access") or "rwm", bool(d["allow"])))
    return out


def program(rules):
    """The BPF instructions for rules (last match wins; nothing matches: deny)."""
    code = [_ldx_w(2, 1, 0), _and_k(2, 0xFFFF),     # r2 = type
            _ldx_w(3, 1, 0), _rsh_k(3, 16),         # r3 = access
            _ldx_w(4, 1, 4), _ldx_w(5, 1, 8)]       # r4 = major, r5 = minor
    for kind, major, minor, access, allow in reversed(rules):
        checks = []
        if kind != "a":
            checks.append([_jne_k(2, TYPES[kind], 0)])
        mask = sum(ACCESS[a] for a in access)
        if mask != 7:  # asked for more than the rule gives: not this rule
            checks.append([_mov_x(1, 3), _and_k(1, ~mask & 0xFFFF), _jne_k(1, 0, 0)])
        if major is not None:
            checks.append([_jne_k(4, major, 0)])
        if minor is not None:
            checks.append([_jne_k(5, minor, 0)])
        verdict = [_mov_k(0, 1 if allow else 0), EXIT]
        body = [i for check in checks for i in check]
        # Each jump leaves the rule: past the rest of its checks and its verdict.
        fixed, remaining = [], len(body) + len(verdict)
        for ins in body:
            remaining -= 1
            if ins[0] == 0x55:
                ins = ins[:2] + remaining.to_bytes(2, "little", signed=True) + ins[4:]
            fixed.append(ins)
        code += fixed + verdict
        if not body:  # matches everything: what comes after it could never run (the verifier refuses that)
            return b"".join(code)
    code += [_mov_k(0, 0), EXIT]
    return b"".join(code)


def attach(cgroup_dir, devices):
    """Load the program for these OCI device rules and attach it to the cgroup."""
    if SYS_BPF is None:
        raise ConfigError(f"device rules on cgroup v2 are not supported on {os.uname().machine}")
    # The devices every container has come last, so no rule before them takes them away (as on v1).
    insns = program(rules_of(devices) + [(k, ma, mi, acc, True) for k, ma, mi, acc in DEFAULT_RULES])
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(insns)
    license_ = ctypes.create_string_buffer(b"Apache")
    log = ctypes.create_string_buffer(65536)
    attr = ctypes.create_string_buffer(128)
    # union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
    ctypes.memmove(attr, (BPF_PROG_TYPE_CGROUP_DEVICE).to_bytes(4, "little") + (len(insns) // 8).to_bytes(4, "little")
                   + ctypes.addressof(buf).to_bytes(8, "little") + ctypes.addressof(license_).to_bytes(8, "little")
                   + (1).to_bytes(4, "little") + len(log).to_bytes(4, "little")
                   + ctypes.addressof(log).to_bytes(8, "little"), 40)
    prog = libc.syscall(SYS_BPF, BPF_PROG_LOAD, attr, 128)
    if prog < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"load the cgroup v2 device program: {os.strerror(err)}: "
                           f"{log.value.decode(errors='replace').strip()[-300:]}")
    try:
        cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = ctypes.create_string_buffer(cg.to_bytes(4, "little") + prog.to_bytes(4, "little")
                                               + BPF_CGROUP_DEVICE.to_bytes(4, "little")
                                               + BPF_F_ALLOW_OVERRIDE.to_bytes(4, "little"), 128)
            if libc.syscall(SYS_BPF, BPF_PROG_ATTACH, attr, 128) < 0:
                err = ctypes.get_errno()
                raise OSError(err, f"attach the device program to {cgroup_dir}: {os.strerror(err)}")
        finally:
            os.close(cg)
    finally:
        os.close(prog)  # attached, it lives as long as the cgroup


