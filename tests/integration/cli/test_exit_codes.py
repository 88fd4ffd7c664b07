"""Exit codes and messages of the real CLI as Docker's CLI 28 gives them:
help 0; a flag error 125 for every command, `create`/`exec` option errors too;
every failure of `run` 125, of the others (the daemon refusing) 1;
`rm -f` of a missing container is no error."""


def test_help_exits_0(fcli):
    for argv in (["--help"], ["run", "--help"], ["container", "ls", "-h"], ["help", "rm"], ["image", "--help"]):
        p = fcli(*argv)
        assert p.returncode == 0 and p.stdout.startswith("Usage:  fastctr") and p.stderr == "", (argv, p.stderr)
    p = fcli("-h")
    assert p.returncode == 0 and p.stderr == "Flag shorthand -h has been deprecated, use --help\n"


def test_errors_outside_run_exit_1(fcli):
    for argv in (["rm", "nosuch"], ["stop", "nosuch"], ["kill", "nosuch"], ["start", "nosuch"], ["rmi", "nosuch:1"],
                 ["logs", "nosuch"], ["pause", "nosuch"], ["container", "rm", "nosuch"], ["image", "rm", "nosuch:1"]):
        p = fcli(*argv)
        assert p.returncode == 1 and p.stdout == "" and "nosuch" in p.stderr, (argv, p.returncode, p.stderr)
        assert len(p.stderr.splitlines()) == 1, p.stderr


def test_inspect_of_a_missing_object_prints_the_others(fcli):
    p = fcli("inspect", "--format", "{{.RepoTags}}", "nosuch", "bb:1")
    assert p.returncode == 1 and p.stdout == "[bb:1]\n" and "nosuch" in p.stderr


def test_rm_f_of_a_missing_container_is_no_error(fcli):
    cid = fcli("create", "bb:1", "true").stdout.strip()
    p = fcli("rm", "-f", "nosuch", cid)  # Docker 28.2: the error said on stderr, no failure, nothing on stdout
    assert (p.returncode, p.stdout, p.stderr) == (0, cid + "\n", "fastctr: no such container: nosuch\n")
    assert fcli("rm", "-f", "nosuch").returncode == 0
    p = fcli("rm", "nosuch")
    assert p.returncode == 1 and p.stderr == "fastctr: no such container: nosuch\n"


def test_run_keeps_125_126_127_and_the_status(fcli):
    assert fcli("run", "--rm", "bb:1", "sh", "-c", "exit 3").returncode == 3
    assert fcli("run", "--rm", "nosuch:1", "true").returncode == 125
    assert fcli("run", "--rm", "bb:1", "/nonexistent").returncode == 127
    assert fcli("run", "--rm", "bb:1", "/etc/passwd").returncode == 126
    assert fcli("create", "--name", "a", "bb:1").returncode == 0
    assert fcli("create", "--name", "a", "bb:1").returncode == 1  # the name is taken (the daemon refuses)
    assert fcli("exec", "a", "true").returncode == 1  # not running (the daemon refuses)
    fcli("rm", "a")


def test_flag_errors_exit_125_for_every_command(fcli):
    for argv in (["run", "--bogus", "bb:1"], ["ps", "--bogus"], ["rm", "--bogus", "x"], ["images", "--bogus"],
                 ["image", "ls", "--bogus"], ["stop", "-t"], ["update", "--bogus", "c"]):
        p = fcli(*argv)
        assert p.returncode == 125, (argv, p.stderr)
        first, hint = p.stderr.splitlines()
        assert first.startswith("fastctr: ") and hint.startswith("See 'fastctr ") and hint.endswith(" --help'.")
    assert fcli("ps", "-a", "-q").stdout == ""


def test_management_forms_run_the_commands(fcli):
    assert fcli("container", "ls", "-a").stdout == fcli("ps", "-a").stdout
    assert fcli("image", "ls", "-q").stdout == fcli("images", "-q").stdout != ""
    assert fcli("image", "inspect", "--format", "{{.RepoTags}}", "bb:1").stdout == "[bb:1]\n"
    cid = fcli("container", "create", "bb:1", "true").stdout.strip()
    assert fcli("container", "inspect", "--format", "{{.State.Status}}", cid).stdout == "created\n"
    assert fcli("container", "remove", cid).stdout == cid + "\n"
