"""Registry credentials in Docker's own file, so docker and fastctr share them.

    $DOCKER_CONFIG/config.json, else ~/.docker/config.json (mode 0600):
    {"auths": {"localhost:5000": {"auth": base64("user:password")}}, ...}

Docker Hub's entry is keyed "https://index.docker.io/v1/", every other
registry by its host[:port].  Other keys of the file (credsStore, proxies,
...) are kept as they are; credential helpers (credsStore, credHelpers)
are not run: a registry whose credentials live in one is logged in to
anonymously, and `login` refuses to write beside one."""
import base64
import json
import os

from fastctr.errors import RegistryError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


def config_path():
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def server_key(server):
    """The auths key Docker uses for a server name as a user writes it."""
    host = server
    for prefix in ("https://", "http://"):
        if host.startswith(prefix):
            host = host[len(prefix):]
    host = host.split("/", 1)[0]
    return DOCKER_HUB_KEY if not host or host in _HUB_NAMES else host


def _read():
    path = config_path()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise RegistryError(f"cannot read {path}: {e.strerror}") from None
    try:
        config = json.loads(data) if data.strip() else {}
    except ValueError as e:
        raise RegistryError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise RegistryError(f"{path} is not a JSON object")
    return config


def _entries(config, key):
    """The auths entries that may hold key's credentials (Docker accepts
    'https://host', 'http://host' and 'host/v2/' spellings too)."""
    auths = config.get("auths") if isinstance(config.get("auths"), dict) else {}
    return [name for name in auths if server_key(name) == key]


def lookup(server):
    """(user, password) saved for server, or None."""
    key = server_key(server)
    config = _read()
    auths = config.get("auths") or {}
    for name in [key] + _entries(config, key):
        entry = auths.get(name)
        if isinstance(entry, dict):
            found = _decode(entry)
            if found:
                return found
    return None


def _decode(entry):
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user, password) if sep else None
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return entry["username"], entry["password"]
    return None


def save(server, user, password):
    key = server_key(server)
    config = _read()
    if config.get("credsStore") or (config.get("credHelpers") or {}).get(key):
        raise RegistryError(f"{config_path()} names a credential helper, which fastctr does not run: "
                            "remove credsStore/credHelpers or log in with docker")
    auths = config.setdefault("auths", {})
    if not isinstance(auths, dict):
        raise RegistryError(f"{config_path()}: auths is not a JSON object")
    for name in _entries(config, key):
        del auths[name]
    auths[key] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write(config)
    return key


def erase(server):
    """Forget server's credentials; False if there were none."""
    key = server_key(server)
    config = _read()
    names = _entries(config, key)
    if not names:
        return False
    for name in names:
        del config["auths"][name]
    _write(config)
    return True


def _write(config):
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(config, f, indent="\t")
            f.write("\n")
        os.replace(tmp, path)  # a crash leaves the old file, never half a new one
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
