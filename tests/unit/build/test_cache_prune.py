"""Which build cache rows `builder prune --filter until=` and
`--keep-storage` take: least recently used first."""
from fastctr.build.cache import _doomed, _epoch_ns, _now

ROWS = [("a", 100, "2026-01-01T00:00:00.000000001Z"), ("b", 5000, "2026-01-02T00:00:00.000000000Z"),
        ("c", 10, "2026-01-03T00:00:00.5Z")]


def test_without_limits_everything_goes():
    assert _doomed(ROWS, None, None) == ["a", "b", "c"]


def test_until_takes_what_was_not_used_since():
    assert _doomed(ROWS, _epoch_ns("2026-01-02T00:00:00Z"), None) == ["a"]
    assert _doomed(ROWS, _epoch_ns("2026-01-03T00:00:00.6Z"), None) == ["a", "b", "c"]


def test_keep_storage_takes_the_oldest_until_the_rest_fits():
    assert _doomed(ROWS, None, 6000) == []
    assert _doomed(ROWS, None, 5010) == ["a"]
    assert _doomed(ROWS, None, 0) == ["a", "b", "c"]
    assert _doomed(ROWS, _epoch_ns("2026-01-02T00:00:00Z"), 10) == ["a", "b"]


def test_stamps_sort_as_they_happened_and_read_back():
    first, second = _now(), _now()
    assert len(first) == len(second) == 30 and first <= second
    assert abs(_epoch_ns(first) - _epoch_ns(second)) < 10 ** 9
    assert _epoch_ns("garbage") == 0 and _epoch_ns("2026-01-01T00:00:00Z") == 1767225600 * 10 ** 9
