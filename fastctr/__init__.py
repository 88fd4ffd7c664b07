"""fastctr: a container engine for Linux with a C hot path.

One wing per concern, imports running one way (tests/unit/test_architecture.py
keeps them so):

    cli      the Docker-like command line            fastctr.cli.commands
    engine   Docker's semantics: containers from images, flags, volumes, monitor
    net      bridges, veths, IPAM, NAT               image   store, layers, drivers, registry
    runtime  the OCI runtime (Runtime, fastctr-runc) and the _core binding to csrc/
    errors, jsonfast, cliargs                        shared below everything

Submodules are imported on first use so the CLIs start fast."""
import os

__version__ = "0.1.0"


def data_path(name):
    """A program built with the package (csrc/): fastctr/data/NAME."""
    return os.path.join(os.path.dirname(__file__), "data", name)
