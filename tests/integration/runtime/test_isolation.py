"""Checks made from inside real containers: namespaces, file system,
devices, masking, capabilities, limits."""
import os


def test_pid1_is_the_command_and_ps_sees_only_the_container(run_capture):
    status, out = run_capture(["sh", "-c", "echo self=$$; ps -o pid,args; true"])
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0] == "self=1"
    procs = [line.split(None, 1) for line in lines[2:]]
    assert [p[0] for p in procs] == ["1", "2"], out  # the shell and ps, nothing of the host


def test_hostname_and_domainname(run_capture):
    status, out = run_capture(["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"],
                              hostname="box1", domainname="example.test")
    assert status == 0, out
    assert out.split() == ["box1", "example.test"]


def test_mounts_devices_and_symlinks(run_capture):
    script = r"""
    for m in /proc /dev /dev/pts /dev/shm /dev/mqueue /sys /sys/fs/cgroup; do
        grep -q " $m " /proc/self/mountinfo && echo "mount $m" ; done
    for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo "dev $d $(stat -c %a /dev/$d)"; done
    for l in fd stdin stdout stderr ptmx core; do echo "link $l $(readlink /dev/$l)"; done
    echo hello > /dev/null && echo "null writable"
    head -c 4 /dev/zero | od -An -tx1 | tr -d ' \n'; echo
    """
    status, out = run_capture(["sh", "-c", script])
    assert status == 0, out
    for m in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"):
        assert f"mount {m}" in out
    for d in ("null", "zero", "full", "random", "urandom", "tty"):
        assert f"dev {d} 666" in out
    assert "link fd /proc/self/fd" in out and "link stdin /proc/self/fd/0" in out
    assert "link stdout /proc/self/fd/1" in out and "link stderr /proc/self/fd/2" in out
    assert "link ptmx pts/ptmx" in out and "link core /proc/kcore" in out
    assert "null writable" in out and "00000000" in out


def test_masked_and_readonly_paths(run_capture):
    script = """
    echo "kcore=$(head -c 16 /proc/kcore | wc -c)"
    echo "keys=$(cat /proc/keys | wc -c)"
    echo "firmware=$(ls /sys/firmware | wc -l)"
    echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo "procsys writable" || echo "procsys ro"
    echo x > /proc/sysrq-trigger 2>/dev/null && echo "sysrq writable" || echo "sysrq ro"
    touch /newfile 2>/dev/null && echo "root writable" || echo "root ro"
    echo 1 > /sys/kernel/profiling 2>/dev/null && echo "sys writable" || echo "sys ro"
    """
    status, out = run_capture(["sh", "-c", script])
    assert "kcore=0" in out and "keys=0" in out and "firmware=0" in out, out
    assert "procsys ro" in out and "sysrq ro" in out and "root ro" in out and "sys ro" in out, out


def test_capabilities_rlimits_no_new_privs(run_capture):
    status, out = run_capture(["sh", "-c", "grep -E '^(CapBnd|CapEff|CapAmb|NoNewPrivs)' /proc/self/status; ulimit -n"])
    assert status == 0, out
    fields = dict(line.split(":\t") for line in out.splitlines()[:4])
    expected = (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE, KILL, NET_BIND_SERVICE
    assert int(fields["CapBnd"], 16) == expected
    assert int(fields["CapEff"], 16) == expected
    assert int(fields["CapAmb"], 16) == 0  # not inheritable: skipped like runc
    assert fields["NoNewPrivs"].strip() == "1"
    assert out.splitlines()[4] == "1024"


def test_user_cwd_env_and_groups(run_capture):
    def edit(spec):
        spec["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 20]}
        spec["process"]["cwd"] = "/tmp"
        spec["process"]["env"].append("GREETING=hi there")
    status, out = run_capture(["sh", "-c", 'id -u; id -g; id -G; pwd; echo "$GREETING"'], edit=edit)
    assert status == 0, out
    assert out.splitlines() == ["1000", "1000", "1000 5 20", "/tmp", "hi there"]


def test_network_namespace_has_only_loopback(run_capture):
    status, out = run_capture(["sh", "-c", "ls /sys/class/net"])
    assert status == 0, out
    assert out.split() == ["lo"]


def test_user_namespace_maps_root_to_unprivileged_uid(rt, bundle, tmp_path):
    def edit(spec):
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    b = bundle(["sh", "-c", "id -u; cat /proc/self/uid_map; sleep 30"], edit=edit)
    out = tmp_path / "out"
    with open(out, "w") as f:
        c = rt.create("userns", b, stdio=(-1, f.fileno(), f.fileno()))
    try:
        with open(f"/proc/{c.pid}/status") as st:
            uids = [line.split()[1:] for line in st if line.startswith("Uid:")][0]
        assert uids == ["200000"] * 4  # root inside is uid 200000 on the host
        rt.start("userns")
        for _ in range(200):
            if "65536" in out.read_text():
                break
            import time
            time.sleep(0.01)
        lines = out.read_text().split("\n")
        assert lines[0] == "0"
        assert lines[1].split() == ["0", "200000", "65536"]
    finally:
        rt.delete("userns", force=True)


def test_sysctl_and_oom_score_adj(run_capture):
    def edit(spec):
        spec["linux"]["sysctl"] = {"kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"}
        spec["process"]["oomScoreAdj"] = 123
    status, out = run_capture(["sh", "-c", "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_forward "
                                           "/proc/self/oom_score_adj"], edit=edit)
    assert status == 0, out
    assert out.split() == ["1234", "1", "123"]


def test_bind_and_tmpfs_mounts(run_capture, tmp_path):
    src = tmp_path / "shared"
    src.mkdir()
    (src / "file.txt").write_text("from the host\n")
    def edit(spec):
        spec["mounts"] += [
            {"destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
            {"destination": "/scratch/deep", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        ]
    status, out = run_capture(["sh", "-c", "cat /data/file.txt; touch /data/x 2>/dev/null || echo data-ro; "
                                           "touch /scratch/deep/y && echo tmpfs-rw"], edit=edit)
    assert status == 0, out
    assert out.splitlines() == ["from the host", "data-ro", "tmpfs-rw"]
    assert not (src / "x").exists()


def test_no_pivot_uses_chroot(rt, bundle, tmp_path):
    b = bundle(["sh", "-c", "ls /; echo ok"])
    out = tmp_path / "o"
    with open(out, "w") as f:
        assert rt.run("nopivot", b, no_pivot=True, stdio=(-1, f.fileno(), f.fileno())) == 0
    assert "ok" in out.read_text() and "bin" in out.read_text()
