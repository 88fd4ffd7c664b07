"""`fastctr info` and `fastctr version` as Docker's: the objects the docker
CLI formats (system.Info with its ClientInfo, and version's Client/Server),
printed in Docker's text layout or through --format.  There is no daemon:
the "server" is this host's engine.  Imported only for them."""
import os
import platform
import sys
import time

from fastctr import __version__
from fastctr.cli import template
from fastctr.cli.common import flags

API_VERSION = "1.50"  # the Engine API version of the docker CLI fastctr follows (28.x)
INFO_FLAGS = flags("-f/--format=")
VERSION_FLAGS = flags("-f/--format=")


def client_info(build):
    return {"Debug": False, "Version": __version__, "DefaultAPIVersion": API_VERSION, "GitCommit": build,
            "GoVersion": "python" + platform.python_version(), "Os": "linux", "Arch": _arch(),
            "BuildTime": "", "Context": "default", "Plugins": [], "Warnings": None}


def _arch():
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(os.uname().machine, os.uname().machine)


def info(engine, extra):
    """system.Info's keys (those fastctr can fill), fastctr's own after."""
    from fastctr.runtime import cgroups
    containers = engine.ps(all=True)
    state = [c["status"] for c in containers]
    uname = os.uname()
    doc = {
        "ID": "", "Containers": len(containers), "ContainersRunning": state.count("running"),
        "ContainersPaused": state.count("paused"),
        "ContainersStopped": len(containers) - state.count("running") - state.count("paused"),
        "Images": len(engine.store.image_ids()), "Driver": engine.driver.name,
        "DriverStatus": [["Backing Filesystem", extra.get("BackingFilesystem", "")]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": None,
                    "Log": ["json-file", "none"]},
        "MemoryLimit": True, "SwapLimit": os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
        "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True, "PidsLimit": True,
        "IPv4Forwarding": (extra.get("Networking") or {}).get("ip_forward") == "1", "Debug": False, "OomKillDisable": True,
        "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()) + _zone(),
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": str(cgroups.host_version()),
        "KernelVersion": uname.release, "OperatingSystem": _os_name(), "OSVersion": _os_release("VERSION_ID"),
        "OSType": "linux", "Architecture": uname.machine, "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(),
        "DockerRootDir": engine.store.root, "Name": uname.nodename, "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": __version__, "DefaultRuntime": "fastctr", "Runtimes": {"fastctr": {"path": "fastctr-runc"}},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "fastctr-init",
        "SecurityOptions": ["name=seccomp,profile=builtin"] + (["name=cgroupns"] if cgroups.host_version() == 2 else []),
        "Warnings": None,
    }
    doc.update(extra)
    return doc


def _zone():
    offset = time.localtime().tm_gmtoff
    if offset == 0:
        return "Z"
    sign = "+" if offset > 0 else "-"
    return f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"


def _os_release(key):
    try:
        with open("/etc/os-release") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k == key:
                    return v.strip('"')
    except OSError:
        pass
    return ""


def _os_name():
    return _os_release("PRETTY_NAME") or "Linux"


def _mem_total():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def show_info(engine, extra, build, fmt, out=sys.stdout):
    doc = info(engine, extra)
    if fmt:
        data = dict(doc, ClientInfo=client_info(build), ServerErrors=None)
        out.write(template.render(_list_format(fmt), data) + "\n")
        return
    from fastctr.cli.units import bytes_size
    lines = ["Client:", f" Version:    {__version__}", " Context:    default", " Debug Mode: false", "",
             "Server:",
             f" Containers: {doc['Containers']}", f"  Running: {doc['ContainersRunning']}",
             f"  Paused: {doc['ContainersPaused']}", f"  Stopped: {doc['ContainersStopped']}",
             f" Images: {doc['Images']}", f" Server Version: {doc['ServerVersion']}",
             f" Storage Driver: {doc['Driver']}"]
    lines += [f"  {k}: {v}" for k, v in doc["DriverStatus"]]
    lines += [f" Logging Driver: {doc['LoggingDriver']}", f" Cgroup Driver: {doc['CgroupDriver']}",
              f" Cgroup Version: {doc['CgroupVersion']}", f" Default Runtime: {doc['DefaultRuntime']}",
              " Security Options:"] + [f"  {o.split(',')[0][5:]}" for o in doc["SecurityOptions"]]
    lines += [f" Kernel Version: {doc['KernelVersion']}", f" Operating System: {doc['OperatingSystem']}",
              f" OSType: {doc['OSType']}", f" Architecture: {doc['Architecture']}", f" CPUs: {doc['NCPU']}",
              f" Total Memory: {bytes_size(doc['MemTotal'])}", f" Name: {doc['Name']}",
              f" Docker Root Dir: {doc['DockerRootDir']}", " Debug Mode: false",
              f" Experimental: {str(doc['ExperimentalBuild']).lower()}",
              f" Live Restore Enabled: {str(doc['LiveRestoreEnabled']).lower()}", ""]
    out.write("\n".join(lines) + "\n")


def _list_format(fmt):
    """info and version take `json` for `{{json .}}`, as the docker CLI."""
    return "{{json .}}" if fmt == "json" else fmt


def version_doc(build):
    uname = os.uname()
    server = {"Platform": {"Name": "fastctr"},
              "Components": [{"Name": "Engine", "Version": __version__,
                              "Details": {"ApiVersion": API_VERSION, "Arch": _arch(), "BuildTime": "",
                                          "Experimental": "false", "GitCommit": build,
                                          "GoVersion": "python" + platform.python_version(),
                                          "KernelVersion": uname.release, "MinAPIVersion": "1.24", "Os": "linux"}}],
              "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": "1.24", "GitCommit": build,
              "GoVersion": "python" + platform.python_version(), "Os": "linux", "Arch": _arch(),
              "KernelVersion": uname.release, "BuildTime": ""}
    client = client_info(build)
    client = {"Platform": {"Name": ""}, "Version": client["Version"], "ApiVersion": API_VERSION,
              "DefaultAPIVersion": API_VERSION, "GitCommit": build, "GoVersion": client["GoVersion"],
              "Os": "linux", "Arch": _arch(), "BuildTime": "", "Context": "default"}
    return {"Client": client, "Server": server}


def show_version(build, fmt, out=sys.stdout):
    doc = version_doc(build)
    if fmt:
        out.write(template.render(_list_format(fmt), doc) + "\n")
        return
    c, s = doc["Client"], doc["Server"]
    lines = ["Client:", f" Version:           {c['Version']}", f" API version:       {c['ApiVersion']}",
             f" Python version:    {c['GoVersion'][6:]}", f" Git commit:        {c['GitCommit']}",
             f" OS/Arch:           {c['Os']}/{c['Arch']}", f" Context:           {c['Context']}", "",
             f"Server: {s['Platform']['Name']}", " Engine:", f"  Version:          {s['Version']}",
             f"  API version:      {s['ApiVersion']} (minimum version {s['MinAPIVersion']})",
             f"  Git commit:       {s['GitCommit']}", f"  OS/Arch:          {s['Os']}/{s['Arch']}",
             f"  Kernel version:   {s['KernelVersion']}", ""]
    out.write("\n".join(lines) + "\n")
