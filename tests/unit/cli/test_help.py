"""`--help`, usage errors and the management forms, as Docker's CLI 28 does
them (checked side by side with /usr/local/bin/docker, which needs no daemon
for these): help exits 0, a flag error 125, a wrong number of arguments or an
unknown command 1.  None of this reaches the engine, so no root is needed."""
import pytest

from fastctr.cli import commands, groups, usage


def run(capsys, *argv):
    status = commands.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h"], ["help"]])
def test_main_help_lists_the_commands(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert status == 0 and err == ("Flag shorthand -h has been deprecated, use --help\n" if argv == ["-h"] else "")
    assert out.startswith("Usage:  fastctr [OPTIONS] COMMAND\n")
    for section in ("Common Commands:", "Management Commands:", "Commands:", "Global Options:"):
        assert section in out
    assert "\n  run         Create and run a new container from an image\n" in out
    assert "--data-root string" in out and "-v, --version" in out


@pytest.mark.parametrize("argv, first", [
    (["run", "--help"], "Usage:  fastctr run [OPTIONS] IMAGE [COMMAND] [ARG...]"),
    (["container", "run", "--help"], "Usage:  fastctr container run [OPTIONS] IMAGE [COMMAND] [ARG...]"),
    (["help", "run"], "Usage:  fastctr run [OPTIONS] IMAGE [COMMAND] [ARG...]"),
    (["rm", "-h"], "Usage:  fastctr rm [OPTIONS] CONTAINER [CONTAINER...]"),
    (["image", "ls", "--help"], "Usage:  fastctr image ls [OPTIONS] [REPOSITORY[:TAG]]"),
    (["help", "container", "ls"], "Usage:  fastctr container ls [OPTIONS]"),
    (["pause", "--help"], "Usage:  fastctr pause CONTAINER [CONTAINER...]"),  # no flags: no [OPTIONS]
])
def test_command_help(capsys, argv, first):
    status, out, err = run(capsys, *argv)
    assert status == 0 and err == "" and out.splitlines()[0] == first, out


def test_run_help_lists_the_flags_run_parses(capsys):
    status, out, _ = run(capsys, "run", "--help")
    assert "\nCreate and run a new container from an image\n" in out
    assert "Aliases:\n  fastctr container run, fastctr run\n" in out
    for line in ("  -h, --hostname string ", "  -d, --detach ", "      --rm ", "  -e, --env list "):
        assert "\n" + line in out, line
    longs = [[w for w in line.split() if w.startswith("--")][0] for line in out.split("Options:\n")[1].splitlines()
             if line.strip()]
    assert longs == sorted(longs) and len(longs) == len(set(longs))  # one line each, by long name as pflag


def test_rm_help_shows_only_rm_flags(capsys):
    _, out, _ = run(capsys, "rm", "--help")
    options = out.split("Options:\n")[1]
    assert options.split() == ["-f,", "--force", "Force", "the", "removal", "of", "a", "running", "container",
                               "(uses", "SIGKILL)", "-v,", "--volumes", "Remove", "anonymous", "volumes",
                               "associated", "with", "the", "container"]


def test_every_command_answers_help_without_doing_anything(capsys):
    """A handler parses its flags first, so --help can never run it."""
    for name in sorted(commands.handlers()):
        if "_" in name:
            group, _, sub = name.partition("_")
            subs = [s for s, target in groups.GROUPS.get(group, {}).items() if target == name]
            argv = [group, subs[0]] if subs else None
        else:
            argv = [name]
        if argv is None:
            continue
        status, out, err = run(capsys, *argv, "--help")
        assert status == 0 and out.startswith("Usage:  fastctr " + " ".join(argv)) and err == "", (argv, err)


@pytest.mark.parametrize("group", sorted(groups.GROUPS))
def test_group_help(capsys, group):
    for argv in ([group, "--help"], ["help", group]):
        status, out, err = run(capsys, *argv)
        assert status == 0 and out.startswith(f"Usage:  fastctr {group} COMMAND\n"), out
        assert "\nCommands:\n" in out and "cleanup" not in out
    status, out, err = run(capsys, group)  # alone: the usage on stderr, as the docker CLI
    assert status == 0 and out == "" and err.startswith(f"Usage:  fastctr {group} COMMAND\n")


def test_container_group_lists_ls_once(capsys):
    _, out, _ = run(capsys, "container", "--help")
    listed = [line.split()[0] for line in out.split("Commands:\n")[1].splitlines() if line.startswith("  ")]
    assert "ls" in listed and "list" not in listed and "ps" not in listed and "run" in listed


@pytest.mark.parametrize("argv, status, lines", [
    (["run", "--foo"], 125, ["fastctr: unknown flag: --foo", "See 'fastctr run --help'."]),
    (["run", "-h"], 125, ["fastctr: flag needs an argument: -h", "See 'fastctr run --help'."]),
    (["ps", "--foo"], 125, ["fastctr: unknown flag: --foo", "See 'fastctr ps --help'."]),
    (["container", "ls", "--foo"], 125, ["fastctr: unknown flag: --foo", "See 'fastctr container ls --help'."]),
    (["--foo"], 125, ["fastctr: unknown flag: --foo", "See 'fastctr --help'."]),
    (["rm"], 1, ["fastctr: 'fastctr rm' requires at least 1 argument", "See 'fastctr rm --help'."]),
    (["run"], 1, ["fastctr: 'fastctr run' requires at least 1 argument", "See 'fastctr run --help'."]),
    (["ps", "x"], 1, ["fastctr: 'fastctr ps' accepts no arguments", "See 'fastctr ps --help'."]),
    (["rename", "a"], 1, ["fastctr: 'fastctr rename' requires 2 arguments", "See 'fastctr rename --help'."]),
    (["commit"], 1, ["fastctr: 'fastctr commit' requires at least 1 and at most 2 arguments",
                     "See 'fastctr commit --help'."]),
    (["foo"], 1, ["fastctr: unknown command: fastctr foo", "See 'fastctr --help'."]),
    (["container", "foo"], 1, ["fastctr: unknown command: fastctr container foo", "See 'fastctr container --help'."]),
    (["image", "run"], 1, ["fastctr: unknown command: fastctr image run", "See 'fastctr image --help'."]),
    (["image_prune"], 1, ["fastctr: unknown command: fastctr image_prune", "See 'fastctr --help'."]),
])
def test_usage_errors(capsys, argv, status, lines):
    got, out, err = run(capsys, *argv)
    assert (got, out, err.splitlines()) == (status, "", lines)


def test_version(capsys):
    for flag in ("--version", "-v"):
        status, out, _ = run(capsys, flag)
        words = out.split()
        assert status == 0 and words[:2] == ["fastctr", "version"] and words[2].endswith(",")
        assert words[3] == "build" and len(words[4]) == 7


def test_stop_and_restart_take_docker_s_timeout_name(capsys):
    for cmd in ("stop", "restart"):
        _, out, _ = run(capsys, cmd, "--help")
        assert "  -t, --timeout int     Seconds to wait before killing the container\n" in out
        assert "  -s, --signal string   Signal to send to the container\n" in out and "--time " not in out


def test_flag_help_words():
    table = {"-f": ("force", False), "--force": ("force", False), "--format": ("format", True)}
    lines = usage._options(table, "ps")
    assert lines == ["  -f, --force           Do not prompt for confirmation",
                     "      --format string   Format output using a custom template"]
