"""Coverage-guided fuzzing of one target with atheris (libFuzzer):

    python3 tests/fuzz/harness.py TARGET [libFuzzer flags] CORPUS_DIR...

e.g. -max_total_time=60 -artifact_prefix=/tmp/ /tmp/corpus.  An input
that makes the target raise anything but fastctr's own errors is written
to <artifact_prefix>crash-<sha1>; keep it in regressions/TARGET/ once fixed.
test_fuzz.py runs this for a bounded time per target."""
import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
with atheris.instrument_imports(include=["fastctr"]):
    import fastctr.runtime.cgroups  # noqa: F401  (instrumented before the targets import them)
    import fastctr.image.loading  # noqa: F401
    import fastctr.image.registry  # noqa: F401
    import fastctr.runtime.seccomp  # noqa: F401
    import fastctr.runtime.spec  # noqa: F401
    import fastctr.cli.template  # noqa: F401
    import fastctr.net.ports  # noqa: F401
    import fastctr.engine  # noqa: F401
    import fastctr.image.layers  # noqa: F401
    import fastctr.jsonfast  # noqa: F401
    import fastctr.runtime.state  # noqa: F401
import targets  # noqa: E402


def main():
    name = sys.argv.pop(1)
    target = targets.TARGETS[name]

    def one_input(data):
        try:
            target(data)
        except targets.EXPECTED:
            pass

    atheris.Setup(sys.argv, one_input)
    try:
        atheris.Fuzz()
    finally:
        targets.cleanup()


if __name__ == "__main__":
    main()
