import os
import signal

import pytest

IS_ROOT = os.geteuid() == 0

# Docker's default network is a bridge made on first use.  Outside a network
# namespace of their own, tests and benchmarks must not make one in the
# machine's namespace: they run with dockerd's `--bridge=none` equivalent,
# and the network tests ask for bridges inside `unshare --net` explicitly.
os.environ["FASTCTR_DEFAULT_NETWORK"] = "none"

# A shell without job control starts background commands with SIGINT
# ignored, and an ignored signal stays ignored across exec: the Ctrl-C tests'
# fastctr processes would never see theirs.  A handler here is reset to the
# default in every child.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items):
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root and a real kernel")
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(skip)
