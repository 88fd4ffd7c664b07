import os

import pytest

IS_ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config, items):
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root and a real kernel")
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(skip)
