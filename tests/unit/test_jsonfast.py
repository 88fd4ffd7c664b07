"""jsonfast writes what the json package writes (`fastctr-runc state` prints
its document indented without importing json)."""
import json

import pytest

from fastctr import jsonfast

DOCS = [
    {}, [], "x", 3, 1.5, None, True, [[[]]], (1, 2),
    {"ociVersion": "1.1.0", "id": "web", "status": "running", "pid": 42, "bundle": "/b",
     "rootfs": "/b/rootfs", "created": "2026-12-01T00:00:00.000000000Z", "annotations": {}, "owner": ""},
    {"a": 1, "b": [1, 2, {"c": None, "d": "é\"\\x\n"}], "e": {}, "f": [], "g": -0.0, "h": False},
    {"a": {"b": {"c": [1, [2, {}]]}}},
    {"a": [{1: 2, "x": [3]}]},  # a key that is not a string: json's own rules
    {"inf": float("inf")},
]


@pytest.mark.parametrize("doc", DOCS, ids=range(len(DOCS)))
@pytest.mark.parametrize("indent", [0, 2, 4])
def test_indented_text_is_jsons(doc, indent):
    assert jsonfast.dumps(doc, indent=indent) == json.dumps(doc, indent=indent)


def test_indented_refuses_what_json_refuses():
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonfast.dumps({"a": object()}, indent=2)
