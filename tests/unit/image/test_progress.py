"""The lines `pull` and `push` print, as Docker's CLI prints them."""
import io

from fastctr.image import progress
from fastctr.image.reference import parse_normalized

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


class Terminal(io.StringIO):
    def isatty(self):
        return True


def pull(stream, quiet=False):
    report = progress.PullReport(stream, quiet=quiet)
    report.begin(parse_normalized("busybox").with_default_tag())
    report.exists(A)
    report(B, 0, 2_000_000)
    report(B, 1_000_000, 2_000_000)
    report(B, 2_000_000, 2_000_000)
    report.installed("sha256:" + "c" * 64, "busybox:latest", "docker.io/library/busybox:latest", new=True)
    return stream.getvalue()


def test_pull_lines_off_a_terminal_have_no_progress():
    assert pull(io.StringIO()).splitlines() == [
        "latest: Pulling from library/busybox", "aaaaaaaaaaaa: Already exists", "bbbbbbbbbbbb: Pulling fs layer",
        "bbbbbbbbbbbb: Verifying Checksum", "bbbbbbbbbbbb: Download complete", "bbbbbbbbbbbb: Pull complete",
        "Digest: sha256:" + "c" * 64, "Status: Downloaded newer image for busybox:latest"]


def test_pull_on_a_terminal_redraws_the_download_in_place():
    out = pull(Terminal())
    assert "bbbbbbbbbbbb: Downloading [" + "=" * 25 + ">" + " " * 25 + "]      1MB/2MB" in out
    assert "\r\x1b[2Kbbbbbbbbbbbb: Verifying Checksum\n" in out  # the progress line is replaced, not kept


def test_quiet_pull_prints_nothing():
    assert pull(io.StringIO(), quiet=True) == ""


def test_push_lines():
    out = io.StringIO()
    report = progress.PushReport(out)
    report.begin(parse_normalized("localhost:5000/a:b"))
    report.layer(A, "Preparing")
    report.layer(A, "Pushed")
    report.done("b", B, 527)
    assert out.getvalue().splitlines() == ["The push refers to repository [localhost:5000/a]",
                                           "aaaaaaaaaaaa: Preparing", "aaaaaaaaaaaa: Pushed",
                                           f"b: digest: {B} size: 527"]


def test_the_bar_needs_a_wide_terminal():
    assert progress.bar(1, 4, columns=80) == "      1B/4B"  # Go's %8v
    assert progress.bar(4, 4) == "[" + "=" * 50 + ">] " + "      4B/4B"


def test_sizes_in_dockers_units():
    assert [progress.human_size(n) for n in (0, 999, 1000, 1_990_000, 2_500_000_000)] == \
        ["0B", "999B", "1kB", "1.99MB", "2.5GB"]
