#!/usr/bin/env python3
"""Turn side_by_side.py --json results into the list a closing note needs.

    python3 tests/compare/report.py RUN.json [MORE.json...]
    python3 tests/compare/report.py --all RUN.json [MORE.json...]   # every command, one line each

Prints the summary counts, then every `differs` and `missing` command grouped
by issue-14 item, with its short diff.  Given several runs (of the same
cases), a command whose verdict was not the same in every run is marked
`(varies: same in run 2)`: a timing or a neighbour, not a steady difference;
the first run's verdict and note are the ones shown.  Runs are matched by
command (a repeated command by its #N), so older runs of a shorter list work.

On a machine shared with test suites that end every new `fastctr-*` cgroup
they find below their own (the integration conftest's leak check, run from
the root cgroup), a detached fastctr container can be SIGKILLed (exit 137)
in the middle of a run: several runs tell those apart from steady differences."""
import json
import sys

ITEMS = {0: "basics (worked before issue 14)", 1: "image references", 2: "process environment",
         3: "missing commands", 4: "inspect", 5: "no option silently ignored", 6: "run/create flags",
         7: "output as Docker prints it", 8: "behaviour", 9: "help and exit codes", 10: "living beside Docker"}


def load(path):
    with open(path) as f:
        return json.load(f)["results"]


def report(runs, out=sys.stdout):
    first = runs[0]
    counts = {}
    for r in first:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    out.write("summary: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" (of {len(first)} commands)\n")
    by_case = [{r["case"]: r["verdict"] for r in run} for run in runs]  # runs of other case lists: by title
    by_item = {}
    for r in first:
        verdicts = [run.get(r["case"], "absent") for run in by_case]
        if r["verdict"] in ("same",) and all(v == "same" for v in verdicts):
            continue
        by_item.setdefault(r["item"], []).append((r, verdicts))
    for item in sorted(by_item):
        rows = by_item[item]
        steady = [row for row in rows if row[0]["verdict"] != "same"]
        out.write(f"\n## item {item}: {ITEMS.get(item, '')} ({len(steady)} not the same)\n")
        for r, verdicts in rows:
            varies = ""
            if len(set(verdicts)) > 1:
                varies = " (varies: " + ", ".join(f"{v} in run {n}" for n, v in enumerate(verdicts, 1)
                                                 if v != r["verdict"]) + ")"
            out.write(f"- {r['n']} `{r['case']}` — {r['verdict']}{varies}\n")
            if r["note"]:
                out.write(f"  {r['note'][:300]}\n")
            if r.get("why"):
                out.write(f"  known: {r['why']}\n")


def table(runs, out=sys.stdout):
    """--all: one line per command, its verdict in each run."""
    by_case = [{r["case"]: r["verdict"] for r in run} for run in runs]
    for r in runs[0]:
        verdicts = " / ".join(run.get(r["case"], "absent") for run in by_case)
        out.write(f"{r['n']:3d} [{r['item']:2d}] {verdicts:24s} {r['case']}\n")


if __name__ == "__main__":
    paths = [a for a in sys.argv[1:] if a != "--all"]
    if not paths:
        raise SystemExit(__doc__)
    (table if "--all" in sys.argv[1:] else report)([load(p) for p in paths])
