"""-v HOST-PATH:CONTAINER-PATH[:ro|rw] and --tmpfs PATH[:OPTIONS] as OCI
mounts.  Imported only when a container has one (fastctr.engine.options.binds)."""
import os

from fastctr.errors import ConfigError


def _bind(src, dst, ro, where):
    if not os.path.isabs(src):
        raise ConfigError(f"{where}: {src!r}: named volumes are not supported yet; give an absolute host path")
    if not os.path.exists(src):
        raise ConfigError(f"{where}: bind source {src} does not exist")
    if not os.path.isabs(dst):
        raise ConfigError(f"{where}: container path {dst!r} must be absolute")
    mode = "rw"
    if ro:  # Docker 25+'s recursively read-only where the kernel can
        from fastctr.engine.runflags import readonly_option
        mode = readonly_option()
    return {"destination": dst, "type": "bind", "source": src, "options": ["rbind", mode]}


def parse_volume(spec):
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ConfigError(f"-v {spec}: use HOST-PATH:CONTAINER-PATH[:ro|rw]")
    opts = parts[2].split(",") if len(parts) == 3 else []
    if set(opts) - {"ro", "rw", "z", "Z"}:
        raise ConfigError(f"-v {spec}: unknown option {','.join(set(opts) - {'ro', 'rw', 'z', 'Z'})}")
    return _bind(parts[0], parts[1], "ro" in opts, f"-v {spec}")


def parse_tmpfs(spec):
    dst, _, opts = spec.partition(":")
    if not os.path.isabs(dst):
        raise ConfigError(f"--tmpfs {spec}: path must be absolute")
    options = ["nosuid", "nodev", "noexec"] + ([o for o in opts.split(",") if o] if opts else [])
    return {"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": options}
