"""Docker's semantics on top of the runtime: containers from images and
flags (core: Engine; options: the flags and the OCI spec made from them),
detached containers under their monitors (supervise, attach, logs, tty),
operations on running ones (operate), networking glue (networking), volumes,
resource and security flags."""
from fastctr.errors import ContainerNotFoundError, NameInUse
from fastctr.engine.options import RunOptions, make_spec, merge_env, parse_env, resolve_user, validate_name
from fastctr.engine.core import Engine

__all__ = ["ContainerNotFoundError", "Engine", "NameInUse", "RunOptions", "make_spec", "merge_env",
           "parse_env", "resolve_user", "validate_name"]
