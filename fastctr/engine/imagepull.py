"""`run`/`create` of an image the store lacks: pull it first, as Docker does,
with Docker's lines on stderr (stdout is the container's)."""
import sys

from fastctr.errors import ImageNotFound


def for_run(engine, ref, policy, err=None, quiet=False, platform=None):
    """-q/--quiet: no lines at all (Docker's run -q); --platform: that
    platform's image of a multi-platform index."""
    from fastctr.image import loading, progress, reference
    err = err or sys.stderr
    if quiet:
        import io
        err = io.StringIO()
    name = reference.parse_normalized(ref).docker_ref()
    if policy == "never":
        raise ImageNotFound(name.familiar())
    if policy == "missing":
        err.write(f"Unable to find image '{name.familiar()}' locally\n")
        err.flush()
    return loading.pull(engine.store, engine.driver, ref, report=progress.PullReport(err), platform=platform)
