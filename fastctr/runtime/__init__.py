"""The OCI runtime as a library: `Runtime` (lifecycle: create, start, state,
kill, delete, run, exec, pause, resume, update), the bundle's config
checked into a flat plan (spec, plan), cgroups v1/v2, seccomp, hooks, state
on disk, and `fastctr-runc`, its runc-compatible CLI (runc_cli).  `_core`
is the one call into csrc/, from clone() to execve().

`from fastctr.runtime import Runtime` imports the lifecycle on first use:
the other modules of this wing stay cheap to import on their own."""


def __getattr__(name):
    if name in ("Runtime", "Container", "parse_signal", "wait_status"):
        from fastctr.runtime import lifecycle
        return getattr(lifecycle, name)
    raise AttributeError(f"module 'fastctr.runtime' has no attribute {name!r}")
