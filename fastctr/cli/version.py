"""`fastctr --version` and `fastctr version`: the release and the build (the
first hex digits of the hash of the compiled core, so two builds of one
release differ).  Imported only for them."""
import hashlib
import os

from fastctr import __version__


def build_id():
    import fastctr.runtime
    folder = os.path.dirname(fastctr.runtime.__file__)
    for name in sorted(os.listdir(folder)):
        if name.startswith("_core") and name.endswith(".so"):
            with open(os.path.join(folder, name), "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()[:7]
    return "unknown"


def line():
    """Docker's `Docker version 28.2.2, build e6534b4`."""
    return f"fastctr version {__version__}, build {build_id()}"
