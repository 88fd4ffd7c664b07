"""fastctr.build.builder's history times, as BuildKit (Go) writes them."""
from fastctr.build.builder import go_time


def test_created_times_are_gos_rfc3339nano():
    assert go_time(1_700_000_000_434_814_720) == "2023-11-14T22:13:20.43481472Z"
    assert go_time(1_700_000_000_500_000_000) == "2023-11-14T22:13:20.5Z"
    assert go_time(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert go_time(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"
