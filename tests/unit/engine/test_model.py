"""fastctr.engine.model_host and model_objects' pure parts: HostConfig from a
bundle and a record, the --mount and --device texts as Docker's objects."""
from fastctr.engine import model_host
from fastctr.engine.model_objects import IMAGE_CONFIG_ALWAYS

# docker 28's HostConfig keys in the order it prints them (moby v28.5.2
# api/types/container HostConfig with Resources inlined), without omitempty ones.
HOST_CONFIG_KEYS = [
    "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove",
    "VolumeDriver", "VolumesFrom", "ConsoleSize", "CapAdd", "CapDrop", "CgroupnsMode", "Dns", "DnsOptions",
    "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj", "PidMode", "Privileged",
    "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "UTSMode", "UsernsMode", "ShmSize", "Runtime", "Isolation",
    "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota",
    "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices", "DeviceCgroupRules",
    "DeviceRequests", "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable", "PidsLimit",
    "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "MaskedPaths", "ReadonlyPaths"]


def container(**config):
    return {"id": "c" * 64, "config": config}


def test_an_empty_record_and_bundle_give_every_key_with_dockers_default():
    doc = model_host.host_config(container(), {}, cgroup_version=2)
    assert list(doc) == HOST_CONFIG_KEYS
    assert (doc["NetworkMode"], doc["IpcMode"], doc["CgroupnsMode"], doc["PidMode"]) == ("none", "host", "host", "host")
    assert (doc["OomKillDisable"], doc["MemorySwappiness"], doc["PidsLimit"], doc["ShmSize"]) == \
        (None, None, None, 64 << 20)
    assert model_host.host_config(container(), {}, cgroup_version=1)["OomKillDisable"] is False


def test_the_omitempty_keys_come_in_dockers_place_when_set():
    spec = {"linux": {"sysctl": {"net.core.somaxconn": "1024"}, "namespaces": [{"type": t} for t in
                                                                             ("pid", "ipc", "uts", "cgroup")]}}
    c = container(init=True, mount_texts=["type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770"],
                  request={"Tmpfs": {"/run": "size=1m"}})
    doc = model_host.host_config(c, spec, cgroup_version=1)
    keys = list(doc)
    assert keys.index("Tmpfs") == keys.index("SecurityOpt") + 1 and keys.index("Sysctls") == keys.index("ShmSize") + 1
    assert keys[-4:] == ["Mounts", "MaskedPaths", "ReadonlyPaths", "Init"]
    assert doc["Mounts"] == [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}}]
    assert (doc["IpcMode"], doc["PidMode"], doc["CgroupnsMode"]) == ("private", "", "private")


def test_resources_are_read_back_from_the_bundle():
    spec = {"process": {"oomScoreAdj": 5, "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 2 ** 64 - 1}]},
            "linux": {"resources": {"memory": {"limit": 1 << 26, "swap": -1, "swappiness": 0},
                                    "cpu": {"period": 100000, "quota": 150000, "shares": 10},
                                    "pids": {"limit": -1}}}}
    doc = model_host.host_config(container(request={"NanoCpus": 1_500_000_000}), spec, cgroup_version=1)
    assert (doc["Memory"], doc["MemorySwap"], doc["MemorySwappiness"], doc["PidsLimit"]) == (1 << 26, -1, 0, None)
    assert (doc["NanoCpus"], doc["CpuPeriod"], doc["CpuQuota"], doc["CpuShares"]) == (1_500_000_000, 0, 0, 10)
    assert doc["Ulimits"] == [{"Name": "nofile", "Hard": -1, "Soft": 10}] and doc["OomScoreAdj"] == 5
    # the same quota from --cpu-period/--cpu-quota (no --cpus asked): Docker shows those
    doc = model_host.host_config(container(request={}), spec, cgroup_version=1)
    assert (doc["NanoCpus"], doc["CpuPeriod"], doc["CpuQuota"]) == (0, 100000, 150000)


def test_restart_policy_and_devices_as_docker_writes_them():
    assert model_host.restart_policy({"restart_policy": {"Name": "always", "MaximumRetryCount": 0}}) == \
        {"Name": "always", "MaximumRetryCount": 0}
    assert model_host.restart_policy({"restart_policy": "on-failure:3"}) == {"Name": "on-failure",
                                                                               "MaximumRetryCount": 3}
    assert model_host.restart_policy({}) == {"Name": "no", "MaximumRetryCount": 0}
    assert model_host._device("/dev/fuse") == {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse",
                                               "CgroupPermissions": "rwm"}
    assert model_host._device("/dev/null:r") == {"PathOnHost": "/dev/null", "PathInContainer": "/dev/null",
                                                 "CgroupPermissions": "r"}
    assert model_host._mount_spec("type=bind,src=/a,dst=/b,readonly,bind-propagation=rshared") == \
        {"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True, "BindOptions": {"Propagation": "rshared"}}


def test_image_config_always_has_the_keys_docker_28_prints():
    assert sorted(IMAGE_CONFIG_ALWAYS) == ["Cmd", "Entrypoint", "Env", "Labels", "OnBuild", "User", "Volumes",
                                           "WorkingDir"]
