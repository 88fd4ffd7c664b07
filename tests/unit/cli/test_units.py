"""Docker's words for durations, sizes and times (go-units, Go's time),
and the daemon's status line of a container, from stored rows."""
import pytest

from fastctr.cli import listing, units


@pytest.mark.parametrize("seconds, words", [
    (0, "Less than a second"), (0.9, "Less than a second"), (1, "1 second"), (59.9, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"),
    (3600, "About an hour"), (5399, "About an hour"), (5400, "2 hours"), (47 * 3600, "47 hours"),
    (48 * 3600, "2 days"), (13 * 86400, "13 days"), (14 * 86400, "2 weeks"), (59 * 86400, "8 weeks"),
    (60 * 86400, "2 months"), (729 * 86400, "24 months"), (730 * 86400, "2 years"), (3 * 365 * 86400, "3 years"),
])
def test_human_duration_as_go_units(seconds, words):
    assert units.human_duration(seconds) == words


@pytest.mark.parametrize("size, text", [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (1234, "1.23kB"), (4_261_000, "4.26MB"), (1_990_000, "1.99MB"),
    (2_007_040, "2.01MB"), (999_500, "1e+03kB"), (77_800_000, "77.8MB"), (1.5e12, "1.5TB"),
])
def test_human_size_as_go_units(size, text):
    assert units.human_size(size) == text


def test_bytes_size_and_times():
    assert units.bytes_size(24_680_000_000) == "22.99GiB" and units.bytes_size(512) == "512B"
    assert units.parse_time("2024-01-02T03:04:05Z") == 1704164645
    assert units.parse_time("2024-01-02T03:04:05.5+01:00") == 1704164645 - 3600 + 0.5
    assert units.parse_time("0001-01-01T00:00:00Z") is None and units.parse_time("") is None
    assert units.ago("2024-01-02T03:04:05Z", now=1704164645 + 125) == "2 minutes ago"
    assert units.ellipsis("sh -c sleep 1000; echo done", 20) == "sh -c sleep 1000; e…"
    assert units.ellipsis("short", 20) == "short"


NOW = 1704164645.0


def row(status, started=None, finished=None, exit_code=None, **more):
    stamp = lambda t: None if t is None else units.rfc3339(NOW - t).replace("+00:00", "Z")  # noqa: E731
    return dict(status=status, started=stamp(started), finished=stamp(finished), exit_code=exit_code, **more)


@pytest.mark.parametrize("c, text", [
    (row("running", started=5), "Up 5 seconds"),
    (row("running", started=90), "Up About a minute"),
    (row("paused", started=180), "Up 3 minutes (Paused)"),
    (row("exited", started=10, finished=2, exit_code=3), "Exited (3) 2 seconds ago"),
    (row("created"), "Created"),
    (row("dead"), "Dead"),
    (row("running", started=5, health="healthy"), "Up 5 seconds (healthy)"),
    (row("restarting", started=10, finished=4, exit_code=1), "Restarting (1) 4 seconds ago"),
])
def test_status_as_the_daemon_words_it(c, text, monkeypatch):
    assert listing.status_text(c, NOW) == text


def test_filters_as_moby_matches_them():
    assert listing.match([], "anything") and listing.match(["web"], "myweb1") and listing.match(["^web$"], "web")
    assert not listing.match(["^web$"], "web1") and listing.match(["[bad"], "[bad")
    assert listing.match_labels(["a", "b=2"], {"a": "x", "b": "2"}) and not listing.match_labels(["b=3"], {"b": "2"})
    assert not listing.match_labels(["a"], {}) and listing.match_labels([], {})
    assert listing.parse_filters(["name=a", "name=b", "status=exited"], listing.FILTERS) == \
        {"name": ["a", "b"], "status": ["exited"]}
    from fastctr.cliargs import UsageError
    from fastctr.errors import FastctrError
    with pytest.raises(FastctrError, match="invalid filter 'bogus'"):
        listing.parse_filters(["bogus=1"], listing.FILTERS)
    with pytest.raises(UsageError, match="not supported"):
        listing.parse_filters(["is-task=true"], listing.FILTERS, listing.NOT_HERE)


def test_ports_text_as_the_docker_cli_groups_them():
    assert listing.ports_text([["", 8080, 80, "tcp"], ["127.0.0.1", 53, 53, "udp"]]) == \
        "127.0.0.1:53->53/udp, 0.0.0.0:8080->80/tcp"
    assert listing.ports_text([["", 81, 81, "tcp"], ["", 80, 80, "tcp"], ["", 90, 90, "tcp"]]) == \
        "0.0.0.0:80-81->80-81/tcp, 0.0.0.0:90->90/tcp"
