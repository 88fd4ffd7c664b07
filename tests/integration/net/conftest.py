"""The fixture of the bridge tests: a data directory with busybox as bb:1
(the tests run the CLI themselves, inside their own network namespace)."""
import os
import shutil
import tempfile

import pytest

import imagetools as it


@pytest.fixture
def world(tmp_path):
    d = tempfile.mkdtemp(prefix="fastctr-test-net-", dir="/var/tmp")
    os.chmod(d, 0o755)
    it.write_oci_layout(os.path.join(d, "layout"), [it.busybox_layer()], ref_name="bb:1")
    yield d
    shutil.rmtree(d, ignore_errors=True)
