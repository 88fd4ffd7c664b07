"""Volumes: directories under <data root>/volumes/NAME/_data, bind-mounted
into containers, as Docker's `local` driver.

Named volumes (-v NAME:/path, `volume create`) outlive their containers;
anonymous ones (-v /path, the image's VOLUME) are removed with the
container by `rm -v` or `--rm`."""
import os

from fastctr.errors import ConfigError, VolumeInUse

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def valid_name(name):
    return bool(name) and name[0].isalnum() and set(name) <= _NAME_CHARS


class Volumes:
    def __init__(self, store):
        self.store = store
        self.root = os.path.join(store.root, "volumes")

    def data_path(self, name):
        return os.path.join(self.root, name, "_data")

    def exists(self, name):
        return os.path.isdir(self.data_path(name))

    def create(self, name=None):
        """A new volume (an anonymous one without a name); an existing
        named volume is returned as it is, as Docker does."""
        if name is None:
            name = os.urandom(32).hex()
        elif not valid_name(name):
            raise ConfigError(f"invalid volume name {name!r}: use letters, digits and _ . - "
                              "(starting with a letter or digit)")
        new = not self.exists(name)
        os.makedirs(self.data_path(name), mode=0o755, exist_ok=True)
        if new:
            from fastctr import events
            events.emit(self.store.root, "volume", "create", name, {"driver": "local"})
        return name

    def names(self):
        try:
            return sorted(n for n in os.listdir(self.root) if self.exists(n))
        except FileNotFoundError:
            return []

    def users(self, name):
        """Containers whose record names the volume."""
        from fastctr import jsonfast as json
        out = []
        for cid, config in self.store.db.execute("SELECT id, config FROM containers").fetchall():
            if name in (json.loads(config) if config else {}).get("volumes", []):
                out.append(cid)
        return out

    def remove(self, name, force=False):
        if not self.exists(name):
            raise ConfigError(f"no such volume: {name}")
        users = self.users(name)
        if users and not force:
            raise VolumeInUse(f"volume {name} is in use by container {users[0][:12]}")
        if os.path.ismount(self.data_path(name)):  # a tmpfs volume (volume-opt type=tmpfs)
            from fastctr.engine.runflags import unmount
            unmount(self.data_path(name))
        import shutil
        shutil.rmtree(os.path.join(self.root, name))
        from fastctr import events
        events.emit(self.store.root, "volume", "destroy", name, {"driver": "local"})

    def size(self, name):
        return tree_size(self.data_path(name))


def tree_size(path):
    from fastctr.image.tmpwork import tree_size as du  # one du for system df
    return du(path)


def resolve(volumes, specs, image_volumes, other_targets):
    """-v specs -> (specs with host paths, names used, anonymous names
    made, [(name, target)] of the volumes made now, which Docker fills with
    the image's files at target).  Image VOLUMEs nobody mounts over get
    anonymous volumes too."""
    out, used, made, fresh = [], [], [], []
    try:
        for spec in specs:
            parts = spec.split(":")
            if len(parts) == 1 and os.path.isabs(parts[0]):  # -v /data: anonymous
                parts = [None, parts[0]]
            elif os.path.isabs(parts[0]) or len(parts) not in (2, 3):
                out.append(spec)  # a bind mount (or a bad spec, for parse_volume to refuse)
                continue
            name = parts[0]
            if name is None or not volumes.exists(name):
                name = volumes.create(name)
                fresh.append((name, parts[1]))
                if parts[0] is None:
                    made.append(name)
            used.append(name)
            out.append(":".join([volumes.data_path(name)] + parts[1:]))
        targets = {s.split(":")[1] for s in out if ":" in s} | set(other_targets)
        for path in image_volumes or {}:
            if path not in targets:
                name = volumes.create()
                fresh.append((name, path))
                made.append(name)
                used.append(name)
                out.append(f"{volumes.data_path(name)}:{path}")
    except BaseException:
        for name in made:
            volumes.remove(name, force=True)
        raise
    return out, used, made, fresh
