"""An Engine made ahead of its command, in the same process.

A parked `fastctr serve` worker (fastctr.server.parked) prepares a pooled
container with an Engine of the server's settings; keep() leaves that
engine for the command the worker is handed, whose made() takes it when
its settings resolve to the same ones: the store is then already open and
the storage driver known (~1.5 ms of a pooled run).  Anywhere else made()
is just Engine(...)."""
import os

_kept = {}  # settings key -> Engine


def _key(data_root, state_root, driver, cgroup_parent):
    """Engine arguments as they resolve in this environment."""
    from fastctr.image.store import DEFAULT_ROOT
    return (os.path.abspath(data_root or os.environ.get("FASTCTR_ROOT") or DEFAULT_ROOT),
            os.path.abspath(state_root or os.environ.get("FASTCTR_STATE_ROOT") or "/run/fastctr"),
            driver or os.environ.get("FASTCTR_STORAGE_DRIVER") or "", cgroup_parent or "")


def made(data_root=None, state_root=None, driver=None, cgroup_parent=None):
    """The kept engine for these settings (once), else a new one."""
    from fastctr.engine.core import Engine
    engine = _kept.pop(_key(data_root, state_root, driver, cgroup_parent), None) if _kept else None
    if engine is None:
        return Engine(data_root=data_root, state_root=state_root, driver=driver, cgroup_parent=cgroup_parent)
    engine.default_network = os.environ.get("FASTCTR_DEFAULT_NETWORK") or "bridge"  # as a new one reads it
    return engine


def keep(engine, data_root=None, state_root=None, driver=None, cgroup_parent=None):
    """Keep `engine`, made with these settings, for the next made() of them."""
    engine.driver  # noqa: B018 (the store opened and the driver resolved now, off the command's clock)
    _kept[_key(data_root, state_root, driver, cgroup_parent)] = engine
