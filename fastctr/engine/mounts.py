"""--mount type=bind|volume|tmpfs with Docker's options, and --volumes-from.

Parsed as the docker CLI parses --mount (opts/mount.go), checked as the
daemon checks it (volume/mounts/linux_parser.go), then made into OCI
mounts.  Volumes are the local driver's: named or anonymous directories of
fastctr.engine.volumes; a volume made with volume-opt (type/device/o)
keeps its options beside its data (opts.json) and is mounted as they say:
`type=tmpfs` as a tmpfs on the host at the volume's _data (as the local
driver does; one tmpfs for every container using it, unmounted with
`volume rm` — Docker's unmounts it when its last container stops), `o=bind`
with `device=PATH` as a bind of PATH.  Imported only when --mount or
--volumes-from is given."""
import os

from fastctr import jsonfast as json
from fastctr.engine.runflags import readonly_option
from fastctr.errors import ConfigError

BOOLEAN_KEYS = {"readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-src"}  # may come alone
PROPAGATIONS = {"private", "rprivate", "shared", "rshared", "slave", "rslave"}
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


class MountSpec:
    """One --mount, as Docker's mount.Mount."""

    def __init__(self):
        self.type, self.source, self.target, self.readonly = "volume", "", "", False
        self.bind = {}  # propagation, nonrecursive, readonly_recursive, create_src
        self.volume = {}  # nocopy, subpath, labels, driver, options
        self.tmpfs = {}  # size, mode


def parse(text):
    """--mount's comma-separated key=value list -> MountSpec, checked as
    the docker CLI 28 checks it (its words, as a flag error)."""
    where = f'invalid argument "{text}" for "--mount" flag'
    m = MountSpec()
    for field in _csv_fields(text, where):
        key, eq, val = field.partition("=")
        key = key.lower()
        if not eq:
            if key not in BOOLEAN_KEYS:
                raise ConfigError(f"{where}: invalid field '{field}' must be a key=value pair")
            val = "true"
        _set(m, key, val, where, field)
    _cli_check(m, where)
    return m


def _cli_check(m, where):
    def fail(message):
        raise ConfigError(f"{where}: {message}")
    if not m.type:
        fail("type is required")
    if not m.target:
        fail("target is required")
    for kind, options in (("volume", m.volume), ("bind", m.bind), ("tmpfs", m.tmpfs)):
        if options and m.type != kind:
            fail(f"cannot mix '{kind}-*' options with mount type '{m.type}'")
    recursive = m.bind.get("recursive")
    if recursive in ("writable", "readonly") and not m.readonly:
        fail(f"option 'bind-recursive={recursive}' requires 'readonly' to be specified in conjunction")
    if recursive == "readonly" and m.bind.get("propagation") != "rprivate":
        fail("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction")


def _csv_fields(text, where):
    import csv
    try:
        fields = next(csv.reader([text]))
        if not fields:
            raise StopIteration
        return fields
    except StopIteration:
        raise ConfigError(f"{where}: EOF") from None  # Go's csv reader on nothing
    except csv.Error as e:
        raise ConfigError(f"{where}: {e}") from None


def _bool(key, val, where):
    """Go's strconv.ParseBool."""
    if val in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if val in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ConfigError(f'{where}: invalid value for {key}: {val}')


def _set(m, key, val, where, field):
    if key == "type":
        m.type = val.lower()
    elif key in ("source", "src"):
        m.source = os.path.abspath(val) if val.startswith(".") else val
    elif key in ("target", "dst", "destination"):
        m.target = val
    elif key in ("readonly", "ro"):
        m.readonly = _bool(key, val, where)
    elif key == "consistency":
        pass  # macOS's caching modes: nothing to do on Linux, as Docker's
    elif key == "bind-propagation":
        m.bind["propagation"] = val.lower()
    elif key == "bind-nonrecursive":  # deprecated: bind-recursive=disabled
        if _bool(key, val, where):
            m.bind["recursive"] = "disabled"
    elif key == "bind-recursive":
        if val not in ("enabled", "disabled", "writable", "readonly"):
            raise ConfigError(f'{where}: invalid value for {key}: {val} (must be "enabled", "disabled", '
                              '"writable", or "readonly")')
        m.bind["recursive"] = val
    elif key == "bind-create-src":  # newer than the docker CLI 28: what its HEAD does
        m.bind["create_src"] = _bool(key, val, where)
    elif key == "volume-subpath":
        m.volume["subpath"] = val
    elif key == "volume-nocopy":
        m.volume["nocopy"] = _bool(key, val, where)
    elif key == "volume-label":
        k, _, v = val.partition("=")
        if k:
            m.volume.setdefault("labels", {})[k] = v
    elif key == "volume-driver":
        m.volume["driver"] = val
    elif key == "volume-opt":
        k, _, v = val.partition("=")
        if k:
            m.volume.setdefault("options", {})[k] = v
    elif key == "tmpfs-size":
        m.tmpfs["size"] = _ram_bytes(val, where, key)
    elif key == "tmpfs-mode":
        try:
            m.tmpfs["mode"] = int(val, 8)
        except ValueError:
            raise ConfigError(f"{where}: invalid value for {key}: {val}") from None
    else:
        raise ConfigError(f"{where}: unexpected key '{key}' in '{field}'")


def _ram_bytes(val, where, key):
    """go-units RAMInBytes: 64m, 1g, 512k, 100 (binary units, b/ib optional)."""
    text = val.strip().lower()
    for suffix in ("ib", "b"):
        if text.endswith(suffix) and len(text) > len(suffix) and not text[:-len(suffix)][-1:].isdigit():
            text = text[:-len(suffix)]
            break
    unit = text[-1:] if text[-1:].isalpha() else ""
    try:
        n = float(text[:-1] if unit else text)
        return int(n * _UNITS[unit])
    except (ValueError, KeyError):
        raise ConfigError(f"{where}: invalid value for {key}: {val}") from None


# ------------------------------------------------------------ checking

def _check(m):
    """The daemon's validateMountConfig."""
    def fail(message):
        raise ConfigError(f'invalid mount config for type "{m.type}": {message}')
    if m.type not in ("bind", "volume", "tmpfs"):
        fail("mount type unknown")
    for kind, options in (("bind", m.bind), ("volume", m.volume), ("tmpfs", m.tmpfs)):
        if options and m.type != kind:
            fail(f"field {kind.capitalize()}Options must not be specified")
    if not m.target:
        fail("field Target must not be empty")
    if os.path.normpath(m.target) == "/":
        fail("invalid specification: destination can't be '/'")
    if not m.target.startswith("/"):
        fail(f"invalid mount path: '{m.target}' mount path must be absolute")
    if m.type == "bind":
        if not m.source:
            fail("field Source must not be empty")
        if not m.source.startswith("/"):
            fail(f"invalid mount path: '{m.source}' mount path must be absolute")
        if m.bind.get("propagation") and m.bind["propagation"] not in PROPAGATIONS:
            fail(f"invalid propagation mode: {m.bind['propagation']}")
        if not os.path.exists(m.source) and not m.bind.get("create_src"):
            fail(f"bind source path does not exist: {m.source}")
        if m.bind.get("recursive") == "readonly" and readonly_option() != "rro":
            fail("rro is not supported: kernel is older than 5.12")
    elif m.type == "volume":
        sub = m.volume.get("subpath")
        if sub is not None:
            if not m.source:
                fail("must not set Subpath when using anonymous volumes")
            if sub.startswith("/") or ".." in sub.split("/") or not sub:
                fail("subpath must be a relative path within the volume")
        if m.volume.get("driver", "local") != "local":
            raise ConfigError(f"error looking up volume plugin {m.volume['driver']}: plugin "
                              f"\"{m.volume['driver']}\" not found")
        _check_volume_options(m.volume.get("options") or {})
    elif m.source:
        fail("field Source must not be specified")


def _check_volume_options(opts):
    """The local driver's validateOpts, and what fastctr can mount."""
    for key in opts:
        if key not in ("type", "o", "device", "size"):
            raise ConfigError(f'invalid option: "{key}"')
    for key, needs in (("device", ["type"]), ("type", ["device"]), ("o", ["device", "type"])):
        if key in opts:
            for need in needs:
                if need not in opts:
                    raise ConfigError(f'missing required option: "{need}"')
    if "size" in opts:
        raise ConfigError("quota size requested but no quota support")
    if opts and not _is_tmpfs(opts) and not _is_bind(opts):
        raise ConfigError(f"volume-opt type={opts.get('type')}: only tmpfs and bind (o=bind) local volumes "
                          "are supported")


def _is_tmpfs(opts):
    return opts.get("type") == "tmpfs"


def _is_bind(opts):
    return "bind" in (opts.get("o") or "").split(",") or "rbind" in (opts.get("o") or "").split(",")


# -------------------------------------------------------- to OCI mounts

def _bind_options(m):
    recursive = m.bind.get("recursive", "enabled")
    return ["rbind" if recursive != "disabled" else "bind",
            readonly_option(recursive != "writable") if m.readonly else "rw", m.bind.get("propagation") or "rprivate"]


def _tmpfs(target, readonly, size=None, mode=None):
    options = ["nosuid", "nodev", "noexec"] + (["ro"] if readonly else [])
    if mode is not None:
        options.append(f"mode={mode:o}")
    if size:
        options.append(f"size={size}")
    return {"destination": target, "type": "tmpfs", "source": "tmpfs", "options": options}


class Resolved:
    """OCI mounts of --mount and --volumes-from, with the volumes they use,
    the anonymous ones made and the new ones to fill from the image."""

    def __init__(self):
        self.mounts, self.used, self.made, self.fresh = [], [], [], []


def resolve(engine, volumes, opts):
    """opts.mounts and opts.volumes_from -> Resolved; anonymous volumes
    made here are removed again if a later one fails."""
    out = Resolved()
    try:
        for text in opts.mounts:
            m = parse(text)
            _check(m)
            out.mounts.append(_to_oci(m, volumes, out))
        taken = {x["destination"] for x in out.mounts} | _volume_targets(opts.volumes)
        for ref in opts.volumes_from:
            _volumes_from(engine, ref, taken, out)
    except BaseException:
        for name in out.made:
            volumes.remove(name, force=True)
        raise
    return out


def _volume_targets(specs):
    out = set()
    for spec in specs:
        parts = spec.split(":")
        out.add(parts[0] if len(parts) == 1 else parts[1])
    return out


def _to_oci(m, volumes, out):
    if m.type == "bind":
        if not os.path.exists(m.source):  # bind-create-src
            os.makedirs(m.source, mode=0o755)
        return {"destination": m.target, "type": "bind", "source": m.source, "options": _bind_options(m)}
    if m.type == "tmpfs":
        return _tmpfs(m.target, m.readonly, m.tmpfs.get("size"), m.tmpfs.get("mode"))
    return _volume(m, volumes, out)


def _volume(m, volumes, out):
    name = m.source or None
    meta = {"Labels": m.volume.get("labels") or {}, "Options": m.volume.get("options") or {}}
    if name is None or not volumes.exists(name):
        name = volumes.create(name)
        if name != m.source:
            out.made.append(name)
        if meta["Labels"] or meta["Options"]:
            _write_meta(volumes, name, meta)
        if not m.volume.get("nocopy") and not meta["Options"]:
            out.fresh.append((name, m.target))
    else:
        meta = _read_meta(volumes, name)
    out.used.append(name)
    options = meta.get("Options") or {}
    if _is_tmpfs(options) and not os.path.ismount(volumes.data_path(name)):
        from fastctr.engine.runflags import mount_tmpfs
        mount_tmpfs(volumes.data_path(name), options.get("o") or "")
    source = options["device"] if _is_bind(options) else volumes.data_path(name)
    if m.volume.get("subpath"):
        source = os.path.join(source, m.volume["subpath"])
        if not os.path.realpath(source).startswith(os.path.realpath(volumes.data_path(name)) + "/") \
                and not _is_bind(options):
            raise ConfigError(f"volume-subpath {m.volume['subpath']}: outside the volume")
        if not os.path.exists(source):
            raise ConfigError(f"cannot access path {source}: no such file or directory")
    if not os.path.exists(source):
        raise ConfigError(f"volume {name}: device {source} does not exist")
    return {"destination": m.target, "type": "bind", "source": source,
            "options": ["rbind", readonly_option() if m.readonly else "rw", "rprivate"]}


def _meta_path(volumes, name):
    return os.path.join(volumes.root, name, "opts.json")


def _write_meta(volumes, name, meta):
    with open(_meta_path(volumes, name), "w") as f:
        json.dump(meta, f)


def _read_meta(volumes, name):
    try:
        with open(_meta_path(volumes, name), "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


# ------------------------------------------------------- --volumes-from

def _volumes_from(engine, ref, taken, out):
    """Every volume and bind of container REF (REF[:ro|rw]: all read-only
    or read-write, else each as it is there); a target already mounted by
    -v/--mount keeps that mount."""
    name, _, mode = ref.partition(":")
    if mode not in ("", "ro", "rw"):
        raise ConfigError(f"invalid mode: {mode}")
    peer = engine.container(name)
    for m in peer["config"].get("user_mounts") or []:
        if m["destination"] in taken:
            continue
        m = dict(m, options=list(m.get("options") or []))
        if mode:
            m["options"] = [o for o in m["options"] if o not in ("ro", "rro", "rw")] + \
                [readonly_option() if mode == "ro" else "rw"]
        out.mounts.append(m)
        taken.add(m["destination"])
    out.used.extend(v for v in peer["config"].get("volumes") or [] if v not in out.used)
