"""`--output` values as docker build takes them."""
import pytest

from fastctr.build.output import parse


@pytest.mark.parametrize("spec,expected", [
    ("out", ("local", "out")),
    ("type=local,dest=/tmp/x", ("local", "/tmp/x")),
    ("type=tar,dest=files.tar", ("tar", "files.tar")),
    ("-", ("tar", "-")),
    ("type=docker", ("image", None)),
    ("type=image", ("image", None)),
])
def test_forms(spec, expected):
    assert parse(spec) == expected


@pytest.mark.parametrize("spec,message", [
    ("type=registry", "not supported"),
    ("type=tar", "needs dest=PATH"),
    ("type=local,dest=x,compression=gzip", "unknown compression"),
    ("type=local,dest", "want key=value"),
])
def test_what_cannot_work_is_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        parse(spec)
