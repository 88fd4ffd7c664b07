"""`fastctr rmi` with Docker's rules (daemon/images/image_delete.go).

By name: that name goes; if it was the repository's last tag, the
repository's digest names go too; the image itself goes with its last
name.  By ID: every name goes if they are all of one repository (with at
most one tag), else the user must force it.  An image a container uses
keeps its layers: without -f its last name is refused, with -f only the
names go (the container still needs the layers)."""
from fastctr import events
from fastctr.errors import FastctrError


def _conflict(message):
    return FastctrError(f"conflict: {message}")


def _repository(name):
    """busybox:latest / busybox@sha256:... -> busybox."""
    base = name.split("@", 1)[0]
    colon = base.rfind(":")
    return base[:colon] if colon > base.rfind("/") else base


def _name_of_image(store, ref, names):
    """The store key ref spells, if it is one of this image's names."""
    if not isinstance(ref, str) or ref.startswith("sha256:"):
        return None
    try:
        key = store_key(ref)
    except ValueError:
        return None
    return key if key in names else None


def store_key(ref):
    from fastctr.image.store import normalize_name
    return normalize_name(ref)


def remove(engine, ref, force):
    store = engine.store
    image_id = store.resolve(ref)
    image = store.image(image_id)
    names = image["tags"] + image["digests"]
    users = store.containers_using(image_id)
    key = _name_of_image(store, ref, names)
    out = []
    if key:
        if users and not force and len(names) == 1:
            raise _conflict(f'unable to remove repository reference "{ref}" (must force) - container '
                            f"{users[0]} is using its referenced image {image_id[7:19]}")
        out += _untag(engine, image_id, [key])
        left = [n for n in names if n != key]
        if "@" not in key and not any("@" not in n and _repository(n) == _repository(key) for n in left):
            out += _untag(engine, image_id, [n for n in left if "@" in n and _repository(n) == _repository(key)])
        if len(out) < len(names) or users:
            return out  # names are left, or a container needs the layers: done
    else:
        single = len(image["tags"]) <= 1 and len({_repository(n) for n in names}) <= 1
        if not single and not force:
            raise _conflict(f"unable to delete {image_id[7:19]} (must be forced) - image is referenced in "
                            "multiple repositories")
        if users and not force:
            raise _conflict(f"unable to delete {image_id[7:19]} (must be forced) - image is being used by "
                            f"container {users[0]}")
        out += _untag(engine, image_id, names)
        if users:
            return out
    return engine.delete_image(image, out)


def _untag(engine, image_id, names):
    out = []
    for name in names:
        engine.store.untag(name)
        events.image(engine.store.root, image_id, "untag")
        out.append(f"Untagged: {name}")
    return out
