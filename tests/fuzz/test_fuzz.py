"""Every parser of outside input, fuzzed for a bounded time and replayed
on the inputs that once failed (regressions/<target>/).

FASTCTR_FUZZ_SECONDS (default 6) bounds each target's coverage-guided run;
0 replays only."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import targets

HERE = os.path.dirname(os.path.abspath(__file__))
SECONDS = int(os.environ.get("FASTCTR_FUZZ_SECONDS", "6"))


def _needs(name):
    if name in targets.NEEDS_ROOT and os.geteuid() != 0:
        pytest.skip("image targets unpack layers with their owners: needs root")


def _regressions():
    out = []
    base = os.path.join(HERE, "regressions")
    for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        for f in sorted(os.listdir(os.path.join(base, name))):
            out.append(pytest.param(name, os.path.join(base, name, f), id=f"{name}/{f}"))
    return out


@pytest.fixture(autouse=True, scope="module")
def scratch():
    yield
    targets.cleanup()


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_seeds_are_accepted(name):
    """The seeds are valid inputs: a target that rejects them tests nothing."""
    _needs(name)
    for data in targets.seeds(name):
        targets.TARGETS[name](data)


@pytest.mark.parametrize("name, path", _regressions())
def test_inputs_that_once_failed(name, path):
    _needs(name)
    with open(path, "rb") as f:
        assert targets.run(name, f.read())


@pytest.mark.skipif(SECONDS <= 0, reason="FASTCTR_FUZZ_SECONDS=0")
@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_fuzz(name, tmp_path):
    _needs(name)
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, data in enumerate(targets.seeds(name)):
        (corpus / f"seed{i}").write_bytes(data)
    artifacts = str(tmp_path) + "/"
    cmd = [sys.executable, os.path.join(HERE, "harness.py"), name, f"-max_total_time={SECONDS}",
           "-timeout=20", "-rss_limit_mb=3072", "-max_len=65536", f"-artifact_prefix={artifacts}",
           "-print_final_stats=1", str(corpus)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 120, cwd=str(tmp_path),
                       stdin=subprocess.DEVNULL, env=dict(os.environ, FASTCTR_FUZZ_WORK=str(tmp_path)))
    crashes = sorted(f for f in os.listdir(tmp_path) if f.startswith(("crash-", "timeout-", "oom-")))
    if crashes:
        keep = os.path.join(tempfile.gettempdir(), f"fastctr-fuzz-{name}-{crashes[0]}")
        shutil.copy(os.path.join(tmp_path, crashes[0]), keep)
        error = p.stderr.split("=== Uncaught Python exception: ===")[-1]
        pytest.fail(f"{name}: input {keep} fails (copy it to tests/fuzz/regressions/{name}/ once fixed):\n"
                    + error[:4000])
    assert p.returncode == 0, p.stderr[-4000:]
    runs = [line for line in p.stderr.splitlines() if "stat::number_of_executed_units" in line]
    assert runs and int(runs[-1].split(":")[-1]) > 0, p.stderr[-2000:]
