"""The option parser of both CLIs (argparse costs an import per start).

A table maps each option to (destination, takes a value); destinations in
`multi` collect every occurrence into a list."""


class UsageError(Exception):
    pass


def parse(argv, table, stop_at_positional=False, multi=()):
    """Parse --opt value / --opt=value / -o value; returns (opts, positionals).
    With stop_at_positional everything from the first positional on is
    positional (a command and its own arguments)."""
    opts, pos = {}, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            pos.extend(argv[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            pos.append(arg)
            if stop_at_positional:
                pos.extend(argv[i + 1:])
                break
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if name not in table:
            raise UsageError(f"unknown flag: {name}")
        dest, takes = table[name]
        if takes and not eq:
            i += 1
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: {name}")
            value = argv[i]
        elif not takes:
            value = True
        if dest in multi:
            opts.setdefault(dest, []).append(value)
        else:
            opts[dest] = value
        i += 1
    return opts, pos
