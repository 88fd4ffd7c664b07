"""The option parser of both CLIs (argparse costs an import per start).

A table maps each option to (destination, takes a value); destinations in
`multi` collect every occurrence into a list."""
from fastctr.errors import UsageError  # defined there, exported here too


class ArgumentCountError(UsageError):
    """Too few or too many positional arguments: Docker's CLI exits 1 for
    these (not 125 as for a flag error); the message is Docker's phrase,
    e.g. "requires at least 1 argument"."""


class HelpRequested(Exception):
    """--help (or -h where -h means nothing else) among a command's flags:
    the CLI prints that command's usage with the option table parsed."""

    def __init__(self, table):
        super().__init__("help")
        self.table = table


def parse(argv, table, stop_at_positional=False, multi=(), help=False):
    """Parse --opt value / --opt=value / -o value; returns (opts, positionals).
    With stop_at_positional everything from the first positional on is
    positional (a command and its own arguments).  With help, --help and a
    -h the table does not define raise HelpRequested."""
    opts, pos = {}, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            pos.extend(argv[i + 1:])
            break
        if help and (arg == "--help" or arg == "-h" and arg not in table):
            raise HelpRequested(table)
        if not arg.startswith("-") or arg == "-":
            pos.append(arg)
            if stop_at_positional:
                pos.extend(argv[i + 1:])
                break
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if name not in table and _is_bundle(arg, table):
            # -it, -dit: single-letter flags written together, as getopt allows
            argv = argv[:i] + ["-" + ch for ch in arg[1:]] + argv[i + 1:]
            continue
        if name not in table:
            raise UsageError(f"unknown flag: {name}")
        dest, takes = table[name]
        if takes and not eq:
            i += 1
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: {name}")
            value = argv[i]
        elif not takes:
            value = value.lower() not in ("false", "0") if eq else True  # --sig-proxy=false
        if dest in multi:
            opts.setdefault(dest, []).append(value)
        else:
            opts[dest] = value
        i += 1
    return opts, pos


def _is_bundle(arg, table):
    """Whether `arg` is several short flags: all known, only the last one
    may take a value (the next argument)."""
    if arg.startswith("--") or len(arg) < 3 or "=" in arg:
        return False
    letters = ["-" + ch for ch in arg[1:]]
    return all(f in table for f in letters) and not any(table[f][1] for f in letters[:-1])
