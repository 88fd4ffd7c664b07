"""fastctr bench's numbers, table, JSON document and option checks
(no containers: tests/integration/bench runs them)."""
import json
import sys

import pytest

from fastctr.bench import command, stats
from fastctr.cli import main


def test_percentile_interpolates_between_ranks_as_numpy_does():
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert stats.percentile(values, 0) == 1.0
    assert stats.percentile(values, 50) == 3.0
    assert stats.percentile(values, 100) == 5.0
    assert stats.percentile(values, 95) == pytest.approx(4.8)
    assert stats.percentile([1.0, 2.0], 50) == 1.5
    assert stats.percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        stats.percentile([], 50)


def test_summary_has_containers_per_second_only_with_a_wall_time():
    s = stats.summarize([10.0, 20.0, 30.0, 40.0])
    assert (s["count"], s["min_ms"], s["median_ms"], s["max_ms"]) == (4, 10.0, 25.0, 40.0)
    assert s["mean_ms"] == 25.0 and s["stdev_ms"] == pytest.approx(12.9099, rel=1e-4)
    assert stats.summarize([3.0])["stdev_ms"] == 0.0
    assert "containers_per_s" not in s
    assert stats.summarize([10.0, 20.0], wall_s=0.5)["containers_per_s"] == 4.0


@pytest.mark.parametrize("names, ref", [(["runc", "fastctr", "fastctr-api"], "fastctr-api"),
                                        (["runc", "fastctr-runc", "fastctr"], "fastctr-runc"),
                                        (["runc", "crun"], "runc"), ([], None)])
def test_the_reference_is_fastctr_s_api_else_the_first_fastctr_row(names, ref):
    assert stats.reference_of(names) == ref


def summaries():
    return [("fastctr-api", stats.summarize([10.0, 11.0, 12.0])), ("runc", stats.summarize([30.0, 33.0, 36.0]))]


def test_table_rows_columns_and_ratios():
    lines = stats.table(summaries(), skipped=[("youki", "not installed (youki not found on PATH)")],
                        failed=[("crun", "exit status 1")])
    assert lines[0] == "ratio: each median / fastctr-api's median"
    assert lines[1].split() == ["runtime", "min", "median", "p95", "max", "ratio", "(ms)"]
    assert lines[2].split() == ["fastctr-api", "10.00", "11.00", "11.90", "12.00", "1.00x"]
    assert lines[3].split() == ["runc", "30.00", "33.00", "35.70", "36.00", "3.00x"]
    assert lines[4] == "failed: crun: exit status 1"
    assert lines[5] == "skipped: youki: not installed (youki not found on PATH)"
    # columns line up: every number ends where its heading does
    assert len({len(line) for line in lines[2:4]}) == 1
    assert lines[1].index("ratio") + len("ratio") == len(lines[2])


def test_table_with_concurrency_shows_containers_per_second():
    rows = [("fastctr", stats.summarize([20.0, 20.0], wall_s=0.025))]
    lines = stats.table(rows, throughput=True)
    assert lines[0] == "ratio: each median / fastctr's median"
    assert lines[1].split()[-2] == "containers/s"
    assert lines[2].split()[-1] == "80.0"


def test_table_without_any_row_says_so():
    assert stats.table([], skipped=[("runc", "not installed")]) == [
        "ratio: no runtime ran", "runtime  min  median  p95  max  ratio   (ms)", "skipped: runc: not installed"]


def test_machine_line_names_kernel_cgroup_mode_and_cpus():
    m = stats.machine()
    assert m["cgroup"] in ("v1", "hybrid", "v2")
    line = stats.machine_line(m)
    assert line.startswith(f"machine: Linux {m['kernel']} ")
    assert f"cgroup {m['cgroup']}" in line and f"{m['cpus']} CPUs" in line


def test_json_document_holds_settings_machine_runtimes_and_raw_samples():
    samples = [{"runtime": "fastctr-api", "round": 0, "slot": 0, "latency_ms": 10.0,
                "stages": [{"stage": "spec", "ms": 1.5}]}]
    results = [{"runtime": "fastctr-api", "status": "ok", "summary": stats.summarize([10.0])},
               {"runtime": "runc", "status": "skipped", "reason": "not installed"}]
    doc = json.loads(json.dumps(stats.document({"count": 1}, stats.machine(), results, samples)))
    assert set(doc) == {"settings", "machine", "reference", "runtimes", "samples"}
    assert doc["reference"] == "fastctr-api"
    assert doc["samples"] == samples
    assert [r["status"] for r in doc["runtimes"]] == ["ok", "skipped"]


KNOWN = "(known: fastctr-api, fastctr-pooled, fastctr, fastctr-served, fastctr-served-pool, fastctr-runc, runc, crun, youki, bwrap)"


@pytest.mark.parametrize("argv, message", [
    (["--runtimes", "fastctr,nope"], "unknown runtime 'nope' for --runtimes " + KNOWN),
    (["--runtimes", ","], "unknown runtime ',' for --runtimes " + KNOWN),
    (["-n", "0"], "invalid value for --count: '0' (at least 1)"),
    (["--count", "x"], "invalid value for --count: 'x' (a whole number)"),
    (["--warmup", "-1"], "invalid value for --warmup: '-1' (at least 0)"),
    (["--concurrency", "0"], "invalid value for --concurrency: '0' (at least 1)"),
    (["--network", "host"], "invalid value for --network: 'host' (none or bridge)"),
    (["--frobnicate"], "unknown flag: --frobnicate"),
])
def test_usage_errors_exit_125_before_anything_runs(capsys, argv, message, tmp_path):
    # a data root that does not exist: were anything run, it would be made
    status = main(["--data-root", str(tmp_path / "never"), "bench", *argv])
    err = capsys.readouterr().err
    assert status == 125
    assert err == f"fastctr: {message}\nSee 'fastctr bench --help'.\n"
    assert not (tmp_path / "never").exists()


def test_plot_without_matplotlib_names_the_extra_before_anything_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    status = main(["--data-root", str(tmp_path / "never"), "bench", "--plot", str(tmp_path / "p.png")])
    assert status == 125
    assert capsys.readouterr().err == "fastctr: --plot needs matplotlib: pip install 'fastctr[plot]'\n"
    assert not (tmp_path / "never").exists() and not (tmp_path / "p.png").exists()


def test_the_command_after_the_options_is_the_container_s():
    ctx = command.Context({"count": "3"}, ["sh", "-c", "exit 0"])
    assert ctx.command == ["sh", "-c", "exit 0"] and ctx.count == 3
    ctx = command.Context({}, [])
    assert (ctx.command, ctx.image_ref, ctx.network, ctx.concurrency) == (["true"], "busybox", "none", 1)
    assert ctx.names == ["fastctr-api", "fastctr-pooled", "fastctr", "fastctr-served", "fastctr-served-pool", "fastctr-runc", "runc", "crun", "youki", "bwrap"]
    assert command.Context({"runtimes": "runc,fastctr,runc"}, []).names == ["runc", "fastctr"]


def test_bench_is_in_the_help(capsys):
    assert main(["--help"]) == 0
    assert "  bench " in capsys.readouterr().out
    assert main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage:  fastctr bench [OPTIONS] [COMMAND] [ARG...]")
    for flag in ("-n, --count int", "--warmup int", "--concurrency int", "--network string", "--image string",
                 "--runtimes string", "--json string", "--plot string"):
        assert flag in out
