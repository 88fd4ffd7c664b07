"""fastctr: a container engine for Linux with a C hot path.

The runtime API lives in fastctr.runtime (Runtime: create/start/state/kill/
delete/run/exec); fastctr.api has one-call helpers for benchmarks and CI
farms.  Submodules are imported on first use so the CLIs start fast."""
__version__ = "0.1.0"
