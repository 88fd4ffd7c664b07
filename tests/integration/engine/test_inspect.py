"""`inspect` returns Docker's objects: ContainerJSON, ImageInspect,
NetworkResource and Volume, with Docker's keys, order, types and defaults.

The reference key lists are docker 28's (moby v28.5.2 api/types: container
InspectResponse, State, HostConfig with Resources, Config, NetworkSettings,
network.EndpointSettings and Inspect, image.InspectResponse, volume.Volume),
without the `omitempty` keys an unset value leaves out."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

import imagetools as it

ZERO_TIME = "0001-01-01T00:00:00Z"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")

CONTAINER_KEYS = ["Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath", "HostsPath",
                  "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel",
                  "AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "Mounts", "Config", "NetworkSettings"]
STATE_KEYS = ["Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error",
              "StartedAt", "FinishedAt"]
# HostConfig of `docker create busybox true` (docker 28 CLI): every key, its default.
HOST_CONFIG_DEFAULTS = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "none",
    "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False,
    "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None, "CapDrop": None,
    "CgroupnsMode": "per cgroup version", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None,
    "IpcMode": "private", "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
    "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
    "ShmSize": 67108864, "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
    "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
    "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0,
    "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
    "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
    "MemorySwappiness": None, "OomKillDisable": "per cgroup version", "PidsLimit": None, "Ulimits": [],
    "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    "MaskedPaths": "a list", "ReadonlyPaths": "a list"}
CONFIG_KEYS = ["Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin",
               "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels"]
NETWORK_SETTINGS_KEYS = ["Bridge", "SandboxID", "SandboxKey", "Ports", "HairpinMode", "LinkLocalIPv6Address",
                         "LinkLocalIPv6PrefixLen", "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID",
                         "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen",
                         "IPv6Gateway", "MacAddress", "Networks"]
ENDPOINT_KEYS = ["IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts", "GwPriority", "NetworkID",
                 "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address",
                 "GlobalIPv6PrefixLen", "DNSNames"]
IMAGE_KEYS = ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion", "Author", "Config",
              "Architecture", "Os", "Size", "GraphDriver", "RootFS", "Metadata"]
IMAGE_CONFIG_KEYS = ["Cmd", "Entrypoint", "Env", "Labels", "OnBuild", "User", "Volumes", "WorkingDir"]
NETWORK_KEYS = ["Name", "Id", "Created", "Scope", "Driver", "EnableIPv4", "EnableIPv6", "IPAM", "Internal",
                "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels"]
VOLUME_KEYS = ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]


@pytest.fixture
def fc(fcli):
    return fcli


def inspect(fc, *args):
    p = fc("inspect", *args)
    assert p.returncode == 0, p.stderr
    docs = json.loads(p.stdout)
    return docs[0] if len(docs) == 1 else docs


def fmt(fc, template, *refs):
    p = fc("inspect", "-f", template, *refs)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def _cgroup_version():
    return 2 if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else 1


# ------------------------------------------------------------ containers

def test_a_created_container_has_every_key_docker_prints_with_its_defaults(fc):
    cid = fc("create", "--name", "shape", "bb:1", "true").stdout.strip()
    try:
        doc = inspect(fc, "shape")
        assert list(doc) == CONTAINER_KEYS
        assert (doc["Id"], doc["Name"], doc["Platform"], doc["RestartCount"], doc["ExecIDs"]) == \
            (cid, "/shape", "linux", 0, None)
        assert doc["Image"].startswith("sha256:") and len(doc["Image"]) == 71
        assert RFC3339.match(doc["Created"]) and doc["Path"] == "true" and doc["Args"] == []
        assert list(doc["State"]) == STATE_KEYS
        assert doc["State"] == {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
                                "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                                "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME}
        host = doc["HostConfig"]
        assert list(host) == list(HOST_CONFIG_DEFAULTS)
        for key, default in HOST_CONFIG_DEFAULTS.items():
            if key == "OomKillDisable":  # Docker: false where cgroup v1 has the switch, null on v2
                assert host[key] is (False if _cgroup_version() == 1 else None)
            elif key == "CgroupnsMode":  # Docker's default: the host's on cgroup v1, a private one on v2
                assert host[key] == ("host" if _cgroup_version() == 1 else "private")
            elif key in ("MaskedPaths", "ReadonlyPaths"):
                assert "/proc/kcore" in host["MaskedPaths"] and "/proc/sys" in host["ReadonlyPaths"]
            else:
                assert host[key] == default and type(host[key]) is type(default), key
        assert list(doc["Config"]) == CONFIG_KEYS
        assert doc["Config"]["Cmd"] == ["true"] and doc["Config"]["Entrypoint"] is None
        assert doc["Config"]["Image"] == "bb:1" and doc["Config"]["Hostname"] == cid[:12]
        assert (doc["Config"]["AttachStdout"], doc["Config"]["AttachStderr"], doc["Config"]["AttachStdin"]) == \
            (True, True, False)
        assert doc["Config"]["Labels"] == {} and doc["Config"]["Env"][0].startswith("PATH=")
        assert list(doc["NetworkSettings"]) == NETWORK_SETTINGS_KEYS
        assert doc["NetworkSettings"]["Ports"] == {} and doc["NetworkSettings"]["SandboxKey"] == ""
        assert list(doc["NetworkSettings"]["Networks"]) == ["none"]
        assert list(doc["NetworkSettings"]["Networks"]["none"]) == ENDPOINT_KEYS
        assert doc["Mounts"] == []
        graph = doc["GraphDriver"]
        assert graph["Name"] == doc["Driver"] and graph["Data"]["ID"] == cid
        if doc["Driver"] == "overlay2":
            assert list(graph["Data"]) == ["ID", "LowerDir", "MergedDir", "UpperDir", "WorkDir"]
            assert os.path.isdir(graph["Data"]["UpperDir"])
            assert all(os.path.isdir(d) for d in graph["Data"]["LowerDir"].split(":"))
        assert os.path.isfile(doc["HostsPath"]) and os.path.isfile(doc["HostnamePath"])
        # The same document by ID prefix, with --type, and as compact JSON.
        assert inspect(fc, "--type", "container", cid[:10])["Id"] == cid
        assert json.loads(fc("inspect", "-f", "json", "shape").stdout)[0]["Id"] == cid
        assert fc("container", "inspect", "-f", "{{.Name}}", "shape").stdout == "/shape\n"
    finally:
        fc("rm", "-f", cid)


def test_state_goes_from_created_to_running_to_exited_with_times_and_exit_code(fc):
    cid = fc("create", "--name", "life", "bb:1", "sh", "-c",
             "trap 'exit 3' TERM; touch /ready; while :; do sleep 0.1; done").stdout.strip()
    try:
        assert fmt(fc, "{{.State.Status}} {{.State.Pid}} {{.State.StartedAt}}", "life") == f"created 0 {ZERO_TIME}"
        assert fc("start", "life").returncode == 0
        running = inspect(fc, "life")["State"]
        assert (running["Status"], running["Running"], running["ExitCode"]) == ("running", True, 0)
        assert running["Pid"] > 0 and os.path.exists(f"/proc/{running['Pid']}")
        for _ in range(200):  # its TERM trap set: `stop` then ends it with exit 3
            if os.path.exists(f"/proc/{running['Pid']}/root/ready"):
                break
            time.sleep(0.05)
        assert RFC3339.match(running["StartedAt"]) and running["FinishedAt"] == ZERO_TIME
        assert fc("pause", "life").returncode == 0
        assert fmt(fc, "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "life") == "paused true true"
        assert fc("unpause", "life").returncode == 0
        assert fc("stop", "life").returncode == 0
        exited = inspect(fc, "life")
        state = exited["State"]
        assert (state["Status"], state["Running"], state["Pid"], state["ExitCode"]) == ("exited", False, 0, 3)
        assert state["StartedAt"] == running["StartedAt"] and RFC3339.match(state["FinishedAt"])
        assert state["FinishedAt"] >= state["StartedAt"] >= exited["Created"]
        assert os.path.isfile(exited["LogPath"])  # started detached: its monitor kept the log
    finally:
        fc("rm", "-f", cid)


def test_state_error_tells_why_the_command_could_not_run(fc):
    assert fc("run", "--name", "err-a", "bb:1", "nope").returncode == 127
    fc("run", "-d", "--name", "err-d", "bb:1", "nope")
    try:
        for name in ("err-a", "err-d"):
            state = inspect(fc, name)["State"]
            assert (state["Status"], state["ExitCode"]) == ("exited", 127)
            assert "nope" in state["Error"] and "not found" in state["Error"]
    finally:
        fc("rm", "-f", "err-a", "err-d")


def test_config_keeps_the_entrypoint_command_split_and_what_the_flags_asked(fc):
    cid = fc("create", "--name", "asked", "-i", "--init", "--entrypoint", "sh", "-w", "/tmp", "-u", "1:2",
             "-h", "myhost", "-e", "A=1", "-l", "team=x", "--stop-signal", "SIGUSR1", "--stop-timeout", "7",
             "-v", "/anon", "bb:1", "-c", "exit 0").stdout.strip()
    try:
        doc = inspect(fc, "asked")
        cfg = doc["Config"]
        assert (doc["Path"], doc["Args"]) == ("sh", ["-c", "exit 0"])  # --init's program is not the command
        assert (cfg["Entrypoint"], cfg["Cmd"]) == (["sh"], ["-c", "exit 0"])
        assert (cfg["WorkingDir"], cfg["User"], cfg["Hostname"]) == ("/tmp", "1:2", "myhost")
        assert (cfg["OpenStdin"], cfg["AttachStdin"], cfg["StdinOnce"]) == (True, True, True)
        assert "A=1" in cfg["Env"] and not any(e.startswith("HOSTNAME=") for e in cfg["Env"])
        assert cfg["Labels"] == {"team": "x"} and cfg["Volumes"] == {"/anon": {}}
        assert (cfg["StopSignal"], cfg["StopTimeout"]) == ("SIGUSR1", 7)
        assert doc["HostConfig"]["Init"] is True and doc["HostConfig"]["Binds"] is None
        anon = doc["Mounts"]
        assert len(anon) == 1 and anon[0]["Type"] == "volume" and anon[0]["Destination"] == "/anon"
        assert re.fullmatch(r"[0-9a-f]{64}", anon[0]["Name"]) and os.path.isdir(anon[0]["Source"])
        vol = inspect(fc, "--type", "volume", anon[0]["Name"])
        assert vol["Labels"] == {"com.docker.volume.anonymous": ""} and vol["Mountpoint"] == anon[0]["Source"]
    finally:
        fc("rm", "-f", "-v", cid)
    cid = fc("run", "-d", "bb:1", "true").stdout.strip()
    fc("wait", cid)
    cfg = inspect(fc, cid)["Config"]
    assert (cfg["AttachStdin"], cfg["AttachStdout"], cfg["AttachStderr"], cfg["Cmd"]) == (False, False, False,
                                                                                          ["true"])
    fc("rm", cid)


def test_mounts_show_binds_volumes_and_tmpfs_as_docker_does(fc):
    host = tempfile.mkdtemp(prefix="fastctr-test-bind-", dir="/var/tmp")
    cid = fc("create", "-v", f"{host}:/b:ro", "-v", "insp-vol:/v", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
             "--mount", f"type=bind,source={host},target=/m", "--tmpfs", "/run:size=2m", "bb:1", "true").stdout.strip()
    try:
        doc = inspect(fc, cid)
        by_dest = {m["Destination"]: m for m in doc["Mounts"]}
        assert sorted(by_dest) == ["/b", "/m", "/t", "/v"]  # --tmpfs is HostConfig.Tmpfs only
        assert by_dest["/b"] == {"Type": "bind", "Source": host, "Destination": "/b", "Mode": "ro", "RW": False,
                                 "Propagation": "rprivate"}
        assert by_dest["/m"] == {"Type": "bind", "Source": host, "Destination": "/m", "Mode": "", "RW": True,
                                 "Propagation": "rprivate"}
        volume = by_dest["/v"]
        assert (volume["Type"], volume["Name"], volume["Driver"], volume["Mode"], volume["RW"]) == \
            ("volume", "insp-vol", "local", "z", True)
        assert by_dest["/t"] == {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": True,
                                 "Propagation": ""}
        hc = doc["HostConfig"]
        assert hc["Binds"] == [f"{host}:/b:ro", "insp-vol:/v"] and hc["Tmpfs"] == {"/run": "size=2m"}
        assert hc["Mounts"] == [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20}},
                                {"Type": "bind", "Source": host, "Target": "/m"}]
        vol = inspect(fc, "insp-vol")  # found as a volume after container, image and network
        assert list(vol) == VOLUME_KEYS
        assert (vol["Name"], vol["Driver"], vol["Scope"], vol["Labels"], vol["Options"]) == \
            ("insp-vol", "local", "local", {}, {})
        assert vol["Mountpoint"] == volume["Source"] and RFC3339.match(vol["CreatedAt"])
        p = fc("volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "insp-vol", "nope")
        assert (p.returncode, p.stdout, p.stderr.strip()) == (1, "insp-vol local\n", "Error: No such volume: nope")
    finally:
        fc("rm", "-f", cid)
        fc("volume", "rm", "insp-vol")
        shutil.rmtree(host)


def test_host_config_shows_the_limits_the_container_got(fc):
    cid = fc("create", "-m", "64m", "--memory-swap", "96m", "--memory-reservation", "32m", "--cpus", "0.5",
             "-c", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "--ulimit", "nofile=100:200",
             "--oom-score-adj", "100", "--shm-size", "32m", "--read-only", "--cap-add", "NET_ADMIN",
             "--cap-drop", "MKNOD", "--rm", "bb:1", "true").stdout.strip()
    try:
        hc = inspect(fc, cid)["HostConfig"]
        assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"]) == (64 << 20, 96 << 20, 32 << 20)
        assert (hc["NanoCpus"], hc["CpuPeriod"], hc["CpuQuota"], hc["CpuShares"]) == (500_000_000, 0, 0, 512)
        assert (hc["CpusetCpus"], hc["PidsLimit"], hc["OomScoreAdj"], hc["ShmSize"]) == ("0", 50, 100, 32 << 20)
        assert hc["Ulimits"] == [{"Name": "nofile", "Hard": 200, "Soft": 100}]
        assert (hc["ReadonlyRootfs"], hc["AutoRemove"], hc["CapAdd"], hc["CapDrop"]) == \
            (True, True, ["NET_ADMIN"], ["MKNOD"])
    finally:
        fc("rm", "-f", cid)
    cid = fc("create", "--cpu-period", "50000", "--cpu-quota", "25000", "bb:1", "true").stdout.strip()
    assert fmt(fc, "{{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.NanoCpus}}", cid) == \
        "50000 25000 0"
    assert fc("update", "--memory", "48m", cid).returncode == 0  # the bundle's limits, as they are now
    assert fmt(fc, "{{.HostConfig.Memory}}", cid) == str(48 << 20)
    fc("rm", cid)


def test_host_config_shows_the_namespace_device_and_cgroup_flags(fc, tmp_path):
    cidfile = str(tmp_path / "cid")
    cid = fc("create", "--oom-kill-disable", "-m", "32m", "--memory-swappiness", "10", "--device",
             "/dev/null:/dev/mynull:r", "--device-cgroup-rule", "c 1:3 r", "--pid", "host", "--ipc", "host",
             "--group-add", "10", "--domainname", "example.org", "--cidfile", cidfile, "--privileged",
             "bb:1", "true").stdout.strip()
    try:
        doc = inspect(fc, cid)
        hc = doc["HostConfig"]
        assert (hc["OomKillDisable"], hc["MemorySwappiness"], hc["DeviceCgroupRules"]) == (True, 10, ["c 1:3 r"])
        assert hc["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull",
                                  "CgroupPermissions": "r"}]
        assert (hc["PidMode"], hc["IpcMode"], hc["UTSMode"], hc["GroupAdd"]) == ("host", "host", "", ["10"])
        assert (hc["ContainerIDFile"], doc["Config"]["Domainname"], hc["Privileged"]) == (cidfile, "example.org", True)
        assert hc["MaskedPaths"] is None and hc["ReadonlyPaths"] is None  # --privileged: nothing masked
    finally:
        fc("rm", "-f", cid)
    cid = fc("create", "--uts", "host", "bb:1", "true").stdout.strip()
    assert fmt(fc, "{{.HostConfig.UTSMode}}", cid) == "host"
    fc("rm", cid)


def test_restart_policy_and_count(fc):
    cid = fc("run", "-d", "--restart", "on-failure:2", "bb:1", "sh", "-c", "exit 3").stdout.strip()
    try:
        for _ in range(600):  # two restarts after the first run, then exited for good
            state = inspect(fc, cid)
            if state["State"]["Status"] == "exited" and state["RestartCount"] == 2:
                break
            time.sleep(0.05)
        assert (state["State"]["Status"], state["State"]["ExitCode"], state["RestartCount"]) == ("exited", 3, 2)
        assert state["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    finally:
        fc("rm", "-f", cid)


OOM_ONCE = "if [ -e /ran ]; then exit 0; fi; touch /ran; x=0123456789; while :; do x=$x$x; done"


def test_oom_killed_is_true_after_an_oom_kill_attached_and_detached_and_false_after_a_clean_run(fc):
    p = fc("run", "--name", "oom-a", "-m", "8m", "--memory-swap", "8m", "bb:1", "sh", "-c", OOM_ONCE)
    try:
        assert p.returncode == 137, p.stderr
        assert fmt(fc, "{{.State.OOMKilled}} {{.State.ExitCode}} {{.State.Status}}", "oom-a") == "true 137 exited"
        assert fc("start", "-a", "oom-a").returncode == 0  # the second run ends cleanly
        assert fmt(fc, "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom-a") == "false 0"
    finally:
        fc("rm", "-f", "oom-a")
    cid = fc("run", "-d", "--name", "oom-d", "-m", "8m", "--memory-swap", "8m", "bb:1", "sh", "-c",
             OOM_ONCE).stdout.strip()
    try:
        assert fc("wait", cid).stdout.strip() == "137"
        assert fmt(fc, "{{.State.OOMKilled}} {{.State.ExitCode}}", cid) == "true 137"
        assert fc("start", cid).returncode == 0
        assert fc("wait", cid).stdout.strip() == "0"
        assert fmt(fc, "{{.State.OOMKilled}} {{.State.ExitCode}}", cid) == "false 0"
    finally:
        fc("rm", "-f", cid)


# ------------------------------------------------------- other objects

def test_image_inspect_is_dockers_image_inspect(fc):
    doc = inspect(fc, "bb:1")  # no container of that name: the image
    assert list(doc) == IMAGE_KEYS
    assert doc["Id"].startswith("sha256:") and doc["RepoTags"] == ["bb:1"] and doc["RepoDigests"] == []
    assert list(doc["Config"]) == IMAGE_CONFIG_KEYS  # the keys docker 28 always prints, sorted as Go's map
    assert doc["Config"]["Cmd"] == ["/bin/sh"] and doc["Config"]["Entrypoint"] is None
    assert (doc["Os"], doc["Architecture"], doc["Parent"]) == ("linux", "amd64", "")
    assert doc["RootFS"]["Type"] == "layers" and all(x.startswith("sha256:") for x in doc["RootFS"]["Layers"])
    assert doc["Metadata"] == {"LastTagTime": ZERO_TIME} and doc["Size"] > 0
    if doc["GraphDriver"]["Name"] == "overlay2":
        assert list(doc["GraphDriver"]["Data"]) == ["MergedDir", "UpperDir", "WorkDir"]  # one layer: no LowerDir
        assert os.path.isdir(doc["GraphDriver"]["Data"]["UpperDir"])
    assert "History" not in doc
    same = json.loads(fc("image", "inspect", "bb:1").stdout)[0]
    assert same == doc
    assert fc("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", "bb:1").stdout == "linux/amd64\n"


def test_inspect_tries_container_image_network_volume_and_names_the_missing(fc):
    cid = fc("create", "--name", "first", "bb:1", "true").stdout.strip()
    try:
        assert fmt(fc, "{{.Id}}", "first") == cid
        assert fmt(fc, "{{.Driver}} {{.Scope}}", "none") == "null local"  # Docker's built-in networks
        assert fmt(fc, "{{.Driver}}", "host") == "host"
        listed = fc("network", "ls", "-q", "--no-trunc").stdout.split()
        assert fmt(fc, "{{.Id}}", "none") in listed and fmt(fc, "{{.Id}}", "host") in listed  # the same objects
        p = fc("inspect", "-f", "{{.Name}}", "first", "nosuch")
        assert (p.returncode, p.stdout, p.stderr.strip()) == (1, "/first\n", "Error: No such object: nosuch")
        p = fc("inspect", "nosuch")
        assert (p.returncode, p.stdout.strip()) == (1, "[]")
        p = fc("inspect", "--type", "container", "bb:1")
        assert (p.returncode, p.stderr.strip()) == (1, "Error: No such container: bb:1")
        p = fc("inspect", "--type", "image", "first")
        assert (p.returncode, p.stderr.strip()) == (1, "Error: No such image: first")
        p = fc("inspect", "--type", "frob", "first")
        assert p.returncode == 125 and "--type" in p.stderr
        p = fc("inspect", "-s", "first")
        assert p.returncode == 0 and json.loads(p.stdout)[0]["SizeRw"] >= 0
        doc = json.loads(p.stdout)[0]
        assert doc["SizeRootFs"] >= doc["SizeRw"]
        p = fc("network", "inspect", "none", "nosuch")
        assert p.returncode == 1 and p.stderr.strip() == "Error: No such network: nosuch"
        none = json.loads(p.stdout)[0]
        assert list(none) == NETWORK_KEYS and none["Containers"] == {}
    finally:
        fc("rm", "-f", cid)


# --------------------------------------------------------- networking

CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")


@pytest.fixture
def world():
    if not (shutil.which("nft") and shutil.which("unshare") and shutil.which("ip")):
        pytest.skip("needs nft, unshare and ip")
    d = tempfile.mkdtemp(prefix="fastctr-test-inspect-net-", dir="/var/tmp")
    os.chmod(d, 0o755)
    it.write_oci_layout(os.path.join(d, "layout"), [it.busybox_layer()], ref_name="bb:1")
    it.write_oci_layout(os.path.join(d, "layout-web"), [it.busybox_layer()], ref_name="web:1", cmd=("60",),
                        Entrypoint=["sleep"], ExposedPorts={"443/tcp": {}}, Labels={"org.example.tier": "web"})
    yield d
    shutil.rmtree(d, ignore_errors=True)


def in_netns(world, script, timeout=120):
    """The script in a network (and mount) namespace of its own, as the host."""
    prelude = f"""
        set -eu
        ip link set lo up
        export FASTCTR_CGROUP_PARENT=self FASTCTR_DEFAULT_NETWORK=bridge FASTCTR_NETD_IDLE=20
        trap '{sys.executable} -c "from fastctr.net import netd; netd.stop()"' EXIT
        F="{CLI} --data-root {world}/data --state-root {world}/state"
        $F load -i {world}/layout >/dev/null
    """
    return subprocess.run(["unshare", "--net", "--mount", "sh", "-c", prelude + script], capture_output=True,
                          text=True, timeout=timeout)


def test_network_settings_ports_and_network_objects_in_a_private_netns(world):
    out = os.path.join(world, "out")
    p = in_netns(world, f"""
        mkdir {out}
        $F network create --subnet 10.77.0.0/24 appnet >/dev/null
        $F load -i {world}/layout-web >/dev/null
        $F run -d --name web --network appnet -p 8080:80 -p 127.0.0.1::81/udp -l run=1 web:1 >/dev/null
        $F run -d --name plain bb:1 sleep 60 >/dev/null
        $F inspect web > {out}/web.json
        $F image inspect web:1 > {out}/image.json
        $F inspect plain > {out}/plain.json
        $F network inspect appnet bridge > {out}/networks.json
        PID=$($F inspect -f '{{{{.State.Pid}}}}' web)
        nsenter -t $PID -n ip -o link show eth0 | sed 's|.*link/ether \\([0-9a-f:]*\\).*|\\1|' > {out}/mac
        $F stop -t 1 web plain >/dev/null
        $F inspect web > {out}/stopped.json
        $F rm web plain >/dev/null
        $F network rm appnet >/dev/null
        echo "links: $(ip -br link | grep -v -e '^lo ' -e '^fastctr0 ' | wc -l)"
    """)
    assert p.returncode == 0, p.stderr
    assert "links: 0" in p.stdout  # every veth gone (the default bridge stays, as docker0)
    web = json.load(open(os.path.join(out, "web.json")))[0]
    mac = open(os.path.join(out, "mac")).read().strip()
    assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", mac), p.stderr
    settings = web["NetworkSettings"]
    assert list(settings) == NETWORK_SETTINGS_KEYS
    assert settings["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
    [udp] = settings["Ports"]["81/udp"]
    assert udp["HostIp"] == "127.0.0.1" and int(udp["HostPort"]) > 0
    assert web["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                                 "81/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert settings["Ports"]["443/tcp"] is None  # the image's EXPOSE, published by nobody
    assert list(settings["Ports"]) == ["443/tcp", "80/tcp", "81/udp"]  # Go's map order
    assert web["Config"]["ExposedPorts"] == {"443/tcp": {}, "80/tcp": {}, "81/udp": {}}
    assert (web["Path"], web["Args"], web["Config"]["Entrypoint"], web["Config"]["Cmd"]) == \
        ("sleep", ["60"], ["sleep"], ["60"])  # the image's ENTRYPOINT and CMD
    assert web["Config"]["Labels"] == {"org.example.tier": "web", "run": "1"}  # the image's and the flags'
    assert web["Config"]["Image"] == "web:1"
    image = json.load(open(os.path.join(out, "image.json")))[0]
    assert list(image["Config"]) == ["Cmd", "Entrypoint", "Env", "ExposedPorts", "Labels", "OnBuild", "User",
                                     "Volumes", "WorkingDir"]  # sorted as Go prints the map
    assert (image["Config"]["Entrypoint"], image["Config"]["ExposedPorts"]) == (["sleep"], {"443/tcp": {}})
    assert web["Image"] == image["Id"]
    assert web["HostConfig"]["NetworkMode"] == "appnet"
    endpoint = settings["Networks"]["appnet"]
    assert list(endpoint) == ENDPOINT_KEYS
    assert (endpoint["IPAddress"], endpoint["IPPrefixLen"], endpoint["Gateway"], endpoint["MacAddress"]) == \
        ("10.77.0.2", 24, "10.77.0.1", mac)
    assert endpoint["DNSNames"] == ["web", web["Id"][:12]] and re.fullmatch(r"[0-9a-f]{64}", endpoint["EndpointID"])
    assert settings["IPAddress"] == "" and settings["SandboxKey"] == f"/proc/{web['State']['Pid']}/ns/net"
    plain = json.load(open(os.path.join(out, "plain.json")))[0]["NetworkSettings"]
    # The default bridge fills Docker's deprecated top-level fields too; no DNS names on it.
    assert (plain["IPAddress"], plain["IPPrefixLen"], plain["Gateway"]) == ("172.17.0.2", 16, "172.17.0.1")
    assert plain["Networks"]["bridge"]["DNSNames"] is None and plain["Ports"] == {}
    appnet, bridge = json.load(open(os.path.join(out, "networks.json")))
    assert list(appnet) == NETWORK_KEYS and appnet["Name"] == "appnet" and appnet["Driver"] == "bridge"
    assert endpoint["NetworkID"] == appnet["Id"]
    assert appnet["IPAM"] == {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.77.0.0/24",
                                                                              "Gateway": "10.77.0.1"}]}
    assert appnet["Containers"] == {web["Id"]: {"Name": "web", "EndpointID": endpoint["EndpointID"],
                                                "MacAddress": mac, "IPv4Address": "10.77.0.2/24",
                                                "IPv6Address": ""}}
    assert bridge["Options"]["com.docker.network.bridge.default_bridge"] == "true"
    assert [c["IPv4Address"] for c in bridge["Containers"].values()] == ["172.17.0.2/16"]
    stopped = json.load(open(os.path.join(out, "stopped.json")))[0]
    assert stopped["NetworkSettings"]["Ports"] == {}
    assert stopped["NetworkSettings"]["Networks"]["appnet"]["IPAddress"] == ""
    assert stopped["HostConfig"]["PortBindings"] == web["HostConfig"]["PortBindings"]


def test_network_flags_show_in_the_endpoint_and_host_config(world):
    out = os.path.join(world, "flags.json")
    p = in_netns(world, f"""
        $F network create --subnet 10.78.0.0/24 flagnet >/dev/null
        $F run -d --name db --network flagnet --ip 10.78.0.50 --network-alias store --mac-address 02:00:00:00:00:aa \\
            --expose 9000 --dns 10.0.0.1 --dns-search example.org --dns-option ndots:2 --add-host h:192.0.2.9 \\
            bb:1 sleep 60 >/dev/null
        $F inspect db > {out}
        $F rm -f db >/dev/null
        $F network rm flagnet >/dev/null
    """)
    assert p.returncode == 0, p.stderr
    doc = json.load(open(out))[0]
    endpoint = doc["NetworkSettings"]["Networks"]["flagnet"]
    assert endpoint["IPAMConfig"] == {"IPv4Address": "10.78.0.50"} and endpoint["IPAddress"] == "10.78.0.50"
    assert endpoint["Aliases"] == ["store"] and endpoint["DNSNames"] == ["db", "store", doc["Id"][:12]]
    assert endpoint["MacAddress"] == "02:00:00:00:00:aa"
    assert doc["Config"]["ExposedPorts"] == {"9000/tcp": {}} and doc["NetworkSettings"]["Ports"] == {"9000/tcp": None}
    hc = doc["HostConfig"]
    assert (hc["Dns"], hc["DnsSearch"], hc["DnsOptions"], hc["ExtraHosts"]) == \
        (["10.0.0.1"], ["example.org"], ["ndots:2"], ["h:192.0.2.9"])
