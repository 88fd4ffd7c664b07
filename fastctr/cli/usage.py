"""`fastctr --help`, `fastctr COMMAND --help` and `fastctr GROUP` as Docker's
CLI prints them: a Usage line, the description, the aliases and the options
of the table the command really parses (so the list cannot drift from what
is accepted).  Imported only for help."""
import sys

from fastctr.cli import groups, helptext

COMMON = ("run", "exec", "ps", "pull", "push", "images", "login", "logout", "version", "info")


def command(words, name, table, out=None):
    """`fastctr WORDS --help` for handler `name` whose option table is `table`."""
    args, description = _describe(name, words)
    path = " ".join(["fastctr"] + words)
    usage = " ".join(p for p in (path, "[OPTIONS]" if table else "", args) if p)
    lines = [f"Usage:  {usage}", "", description, ""]
    names = _aliases(name, words)
    if len(names) > 1:
        lines += ["Aliases:", "  " + ", ".join(f"fastctr {n}" for n in names), ""]
    if table:
        lines += ["Options:"] + _options(table, name) + [""]
    (out or sys.stdout).write("\n".join(lines))
    (out or sys.stdout).flush()


def top(handlers, out=None):
    """`fastctr --help`: the commands that exist, grouped as Docker does."""
    from fastctr.cli.common import GLOBAL
    described = {n: helptext.COMMANDS.get(n, ("", ""))[1] for n in handlers if "_" not in n}
    common = [n for n in COMMON if n in described]
    rest = sorted(n for n in described if n not in COMMON)
    lines = ["Usage:  fastctr [OPTIONS] COMMAND", "", helptext.COMMANDS[""][1], "",
             "Common Commands:"] + _listing(common, described)
    lines += ["", "Management Commands:"] + _listing(sorted(groups.DESCRIPTIONS), groups.DESCRIPTIONS)
    lines += ["", "Commands:"] + _listing(rest, described)
    lines += ["", "Global Options:"] + _options(GLOBAL, "")
    lines += ["", "Run 'fastctr COMMAND --help' for more information on a command.", ""]
    (out or sys.stdout).write("\n".join(lines))
    (out or sys.stdout).flush()


def group(name, handlers, out=None):
    """`fastctr container` / `fastctr container --help`: its subcommands."""
    subs = {sub: target for sub, target in groups.GROUPS[name].items()
            if target in handlers and sub not in groups.HIDDEN | groups.ALIASES}
    described = {sub: _describe(target, [name, sub])[1] for sub, target in subs.items()}
    lines = [f"Usage:  fastctr {name} COMMAND", "", groups.DESCRIPTIONS[name], "", "Commands:"]
    lines += _listing(sorted(described), described)
    lines += ["", f"Run 'fastctr {name} COMMAND --help' for more information on a command.", ""]
    (out or sys.stdout).write("\n".join(lines))
    (out or sys.stdout).flush()


def _describe(name, words):
    for key in (name, "_".join(words)):
        if key in helptext.COMMANDS:
            return helptext.COMMANDS[key]
    return "", ""


def _aliases(name, words):
    names = groups.aliases(name)
    if "_" not in name:
        names.append(name)
    invoked = " ".join(words)
    return names if invoked in names else [invoked] + names


def _listing(names, described):
    width = max([len(n) for n in names] + [10]) + 2
    return [f"  {n:<{width}}{described.get(n, '')}".rstrip() for n in names]


def _options(table, name):
    """One line per destination: `-f, --force   Force ...`, sorted by the
    long name as pflag sorts them."""
    by_dest = {}
    for flag, (dest, takes) in table.items():
        by_dest.setdefault(dest, ([], takes))[0].append(flag)
    rows = []
    for dest, (flags, takes) in by_dest.items():
        shorts = sorted(f for f in flags if not f.startswith("--"))
        longs = sorted(f for f in flags if f.startswith("--"))
        # the name Docker documents (--network, not --net; --timeout, not --time)
        described = [f for f in longs if (f, name) in helptext.FLAGS or f in helptext.FLAGS]
        main = (described or sorted(longs, key=len, reverse=True) or shorts)[0]
        kind, text = helptext.FLAGS.get((main, name)) or helptext.FLAGS.get(main) or ("", "")
        kind = (kind or "string") if takes else ""
        left = (f"{shorts[0]}, " if shorts and longs else "    ") + main + (f" {kind}" if kind else "")
        rows.append((main.lstrip("-"), left, text))
    width = max(len(r[1]) for r in rows) + 3
    return [f"  {left:<{width}}{text}".rstrip() for _, left, text in sorted(rows)]
