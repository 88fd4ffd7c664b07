"""fastctr.build.dockerfile reads Dockerfiles the way BuildKit's parser and
instructions packages do: directives, comments, continuations, flags, the
JSON form, heredocs, argument checks, stages; and the ENV/LABEL/ARG words."""
import pytest

from fastctr.build.dockerfile import (DockerfileError, ExpandError, Instruction, arg_pairs, key_values, parse,
                                      parse_file, parse_heredoc)
from fastctr.errors import FastctrError


def one(text, **kw):
    """The only instruction after FROM in a Dockerfile of `text`."""
    df = parse("FROM scratch\n" + text, **kw)
    assert len(df.instructions) == 2, df.instructions
    return df.instructions[1]


def fails(text, message, line=None):
    with pytest.raises(DockerfileError) as e:
        parse(text)
    assert message in e.value.message, e.value.message
    if line is not None:
        assert e.value.line == line
    return e.value


# -- errors --------------------------------------------------------------------

def test_error_names_file_and_line():
    with pytest.raises(DockerfileError) as e:
        parse("FROM a\nRUN x\nFOO bar\n", "ctx/Dockerfile")
    err = e.value
    assert str(err) == "ctx/Dockerfile:3: unknown instruction: FOO"
    assert (err.path, err.line, err.message) == ("ctx/Dockerfile", 3, "unknown instruction: FOO")
    assert isinstance(err, FastctrError)


def test_empty_file_and_no_stage():
    fails("", "file with no instructions")
    fails("# just a comment\n\n", "file with no instructions")
    fails("ARG a=1\n", "no build stage in current context")
    fails("ARG a\nRUN x\nFROM a\n", "no build stage in current context", line=2)


# -- directives ----------------------------------------------------------------

def test_directives_in_the_leading_comment_block():
    df = parse("# syntax=docker/dockerfile:1\n#ESCAPE = `\n# check=skip=all\nFROM a\n")
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`", "check": "skip=all"}
    assert df.escape == "`"


@pytest.mark.parametrize("spelling", ["#escape=`", "# escape =`", "#\tescape= `", "# escape = ` ", "  # Escape=`"])
def test_directive_whitespace(spelling):
    assert parse(spelling + "\nFROM a\n").escape == "`"


@pytest.mark.parametrize("text", [
    "FROM a\n# escape=`\nRUN x\n",          # after an instruction
    "# hello\n# escape=`\nFROM a\n",       # after a comment that is not a directive
    "\n# escape=`\nFROM a\n",              # after an empty line
    "# unknown=1\n# escape=`\nFROM a\n",   # after an unknown directive
])
def test_directives_stop_at_the_first_other_line(text):
    df = parse(text)
    assert df.escape == "\\" and "escape" not in df.directives


def test_directive_twice_is_an_error():
    fails("# escape=`\n# escape=\\\nFROM a\n", "only one escape parser directive can be used", line=2)
    fails("# syntax=a\n# SYNTAX=b\nFROM a\n", "only one syntax parser directive", line=2)


def test_bad_escape_value():
    fails("# escape=x\nFROM a\n", "invalid escape token 'x'", line=1)


def test_byte_order_mark_and_crlf():
    df = parse("\ufeff# escape=`\r\nFROM a\r\nRUN echo `\r\n  hi\r\n")
    assert df.escape == "`"
    assert df.instructions[1].args == ["echo   hi"]


# -- lines ---------------------------------------------------------------------

def test_comments_and_blank_lines_are_dropped():
    df = parse("# c\n\nFROM a\n   # indented comment\n\nRUN x # not a comment\n")
    assert [i.cmd for i in df.instructions] == ["FROM", "RUN"]
    assert df.instructions[1].args == ["x # not a comment"]
    assert df.instructions[1].line == 6


def test_continuation_lines():
    inst = one("RUN apt-get update && \\\n    apt-get install -y \\  \n    curl\n")
    assert inst.args == ["apt-get update &&     apt-get install -y     curl"]
    assert inst.original == "RUN apt-get update &&     apt-get install -y     curl"
    assert (inst.line, inst.end_line) == (2, 4)


def test_comments_and_empty_lines_inside_a_continuation():
    inst = one("RUN echo hello \\\n# a comment\n   # another\n\n  \nworld\n")
    assert inst.args == ["echo hello world"]
    assert (inst.line, inst.end_line) == (2, 7)


def test_backtick_continuation():
    df = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  /w\n")
    assert df.instructions[1].args == ["dir c:\\   /w"]


def test_escape_at_the_end_of_the_file():
    assert one("RUN echo \\\n").args == ["echo"]


def test_instruction_names_are_case_insensitive():
    df = parse("from a as B\nrun x\nCoPy a b\n")
    assert [i.cmd for i in df.instructions] == ["FROM", "RUN", "COPY"]
    assert df.stages()[0].name == "b"


def test_maintainer_is_accepted():
    assert one("MAINTAINER Jane <j@x>\n").args == ["Jane <j@x>"]


# -- flags ---------------------------------------------------------------------

def test_flags_in_order():
    inst = one("COPY --from=builder --link --chown=1:2 --exclude=*.md --exclude=*.txt a b\n")
    assert inst.flags == [("from", "builder"), ("link", None), ("chown", "1:2"), ("exclude", "*.md"),
                          ("exclude", "*.txt")]
    assert inst.flag("from") == "builder"
    assert inst.flag("link", "x") is None
    assert inst.flag("chmod", "dflt") == "dflt"
    assert inst.flag_all("exclude") == ["*.md", "*.txt"]
    assert inst.args == ["a b"]


def test_last_flag_wins():
    assert one("COPY --from=a --from=b x y\n").flag("from") == "b"


def test_run_flags_and_quotes():
    inst = one('RUN --mount="type=cache,target=/root/.cache" --network=none --security=insecure echo hi\n')
    assert inst.flags == [("mount", "type=cache,target=/root/.cache"), ("network", "none"),
                          ("security", "insecure")]
    assert inst.args == ["echo hi"]


def test_flags_stop_at_the_first_other_word():
    inst = one("RUN echo --mount=x\n")
    assert inst.flags == [] and inst.args == ["echo --mount=x"]


def test_double_dash_ends_the_flags():
    inst = one("RUN --network=none -- --not-a-flag\n")
    assert inst.flags == [("network", "none")] and inst.args == ["--not-a-flag"]


@pytest.mark.parametrize("text,flag", [
    ("RUN --foo echo", "--foo"),
    ("COPY --keep-git-dir a b", "--keep-git-dir"),
    ("ADD --from=x a b", "--from"),
    ("ENV --x=1 a=b", "--x"),
    ("CMD --help", "--help"),  # BuildKit takes leading --words of every instruction as flags
])
def test_unknown_flag(text, flag):
    fails("FROM a\n" + text + "\n", f"unknown flag: {flag}", line=2)


def test_every_documented_flag_is_known():
    one("ADD --chown=1 --chmod=755 --link --checksum=sha256:x --keep-git-dir --exclude=a a b\n")
    one("COPY --parents --chmod=644 a b\n")
    one("HEALTHCHECK --interval=1s --timeout=1s --start-period=1s --start-interval=1s --retries=3 CMD true\n")
    assert parse("FROM --platform=linux/arm64 a\n").stages()[0].platform == "linux/arm64"


# -- JSON form -----------------------------------------------------------------

@pytest.mark.parametrize("text,args,json_form", [
    ('CMD ["a", "b c"]', ["a", "b c"], True),
    ('CMD   ["a"]  ', ["a"], True),
    ("CMD []", [], True),
    ('CMD ["a", ]', ['["a", ]'], False),      # not valid JSON: shell form
    ("CMD [a]", ["[a]"], False),
    ("CMD ['a']", ["['a']"], False),
    ('CMD ["a"] b', ['["a"] b'], False),
    ("CMD [NaN]", ["[NaN]"], False),
    ("CMD echo hi", ["echo hi"], False),
    ("CMD", [], False),
    ('ENTRYPOINT ["/bin/x", "-v"]', ["/bin/x", "-v"], True),
    ('RUN ["echo", "$HOME"]', ["echo", "$HOME"], True),
    ('SHELL ["/bin/bash", "-c"]', ["/bin/bash", "-c"], True),
    ('COPY ["a b", "/c d/"]', ["a b", "/c d/"], True),
    ('VOLUME ["/a", "/b"]', ["/a", "/b"], True),
    ('WORKDIR ["/a"]', ['["/a"]'], False),   # WORKDIR has no JSON form
])
def test_json_form_detection(text, args, json_form):
    inst = one(text + "\n")
    assert (inst.args, inst.json_form) == (args, json_form)


def test_json_array_of_non_strings_is_an_error():
    fails('FROM a\nCMD ["a", 1]\n', "arrays must be comprised of strings only", line=2)


def test_words():
    assert one("COPY a  b\t/c/\n").words == ["a", "b", "/c/"]
    assert one("EXPOSE 80 443/tcp\n").words == ["80", "443/tcp"]
    assert one("VOLUME /a /b\n").words == ["/a", "/b"]
    assert one("RUN a  b\n").words == ["a  b"]
    assert one('COPY ["a", "b"]\n').words == ["a", "b"]


# -- heredocs ------------------------------------------------------------------

def test_run_heredoc():
    df = parse("FROM a\nRUN <<EOF\napt-get update\n  echo $HOME\nEOF\nRUN next\n")
    run = df.instructions[1]
    assert run.args == ["<<EOF"]
    assert len(run.heredocs) == 1
    h = run.heredocs[0]
    assert (h.name, h.content, h.expand, h.chomp) == ("EOF", "apt-get update\n  echo $HOME\n", True, False)
    assert (run.line, run.end_line) == (2, 5)
    assert df.instructions[2].args == ["next"] and df.instructions[2].line == 6


def test_heredoc_with_program_and_flags():
    run = one("RUN --mount=type=cache,target=/x python3 <<'PY' > out\nprint('hi')\nPY\n")
    assert run.args == ["python3 <<'PY' > out"]
    assert run.flag("mount") == "type=cache,target=/x"
    assert run.heredocs[0].name == "PY" and run.heredocs[0].expand is False


@pytest.mark.parametrize("word,name,expand,chomp", [
    ("<<EOF", "EOF", True, False),
    ("<<-EOF", "EOF", True, True),
    ('<<"EOF"', "EOF", False, False),
    ("<<'EOF'", "EOF", False, False),
    ("<<-'EOF'", "EOF", False, True),
    ('<<E"O"F', "EOF", False, False),
    ("3<<EOF", "EOF", True, False),
])
def test_heredoc_words(word, name, expand, chomp):
    h = parse_heredoc(word)
    assert (h.name, h.expand, h.chomp) == (name, expand, chomp)


@pytest.mark.parametrize("word", ["<<", "<<-", "a<<EOF", "<<a<b", "<<'a b'x y", "EOF", "<<''"])
def test_not_heredoc_words(word):
    assert parse_heredoc(word) is None


def test_chomp_strips_leading_tabs():
    run = one("RUN <<-EOF\n\t\techo a\n\t  b\n\tEOF\n")
    assert run.heredocs[0].content == "echo a\n  b\n"
    assert run.heredocs[0].chomp is True


def test_several_heredocs_in_one_copy():
    copy = one('COPY <<A <<"B" /dest/\nhello $X\nA\nworld\nB\n')
    assert [(h.name, h.content, h.expand) for h in copy.heredocs] == [("A", "hello $X\n", True),
                                                                      ("B", "world\n", False)]
    assert copy.end_line == 6
    assert copy.words == ["<<A", '<<"B"', "/dest/"]


def test_several_heredocs_in_one_run():
    run = one("RUN <<A cat >x <<B\n1\nA\n2\nB\n")
    assert [(h.name, h.content) for h in run.heredocs] == [("A", "1\n"), ("B", "2\n")]


def test_heredoc_markers_that_are_not_heredocs():
    assert one('RUN echo "<<EOF"\n').heredocs == []
    assert one("RUN echo \\<<EOF\n").heredocs == []
    assert one('RUN ["cat", "<<EOF"]\n').heredocs == []          # not in JSON form
    df = parse("FROM a\nENV A=<<EOF\nRUN x\n")                   # only RUN, COPY, ADD
    assert [i.cmd for i in df.instructions] == ["FROM", "ENV", "RUN"]


def test_heredoc_after_continuation():
    run = one("RUN cat \\\n  <<EOF\nx\nEOF\n")
    assert run.heredocs[0].content == "x\n"


def test_heredoc_keeps_comments_and_blank_lines():
    run = one("RUN <<EOF\n# not dropped\n\nEOF\n")
    assert run.heredocs[0].content == "# not dropped\n\n"


def test_unterminated_heredoc():
    fails("FROM a\nRUN <<EOF\necho\n", "unterminated heredoc", line=2)


def test_heredoc_as_copy_destination():
    fails("FROM a\nCOPY a <<EOF\nx\nEOF\n", "COPY cannot accept a heredoc as a destination", line=2)


# -- argument checks -----------------------------------------------------------

@pytest.mark.parametrize("text,message", [
    ("RUN", "RUN requires at least one argument"),
    ("RUN []", "RUN requires at least one argument"),
    ("ENV", "ENV requires at least one argument"),
    ("LABEL", "LABEL requires at least one argument"),
    ("EXPOSE", "EXPOSE requires at least one argument"),
    ("VOLUME", "VOLUME requires at least one argument"),
    ('VOLUME ["/a", " "]', "VOLUME specified can not be an empty string"),
    ("ARG", "ARG requires at least one argument"),
    ("ONBUILD", "ONBUILD requires at least one argument"),
    ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
    ("USER", "USER requires exactly one argument"),
    ("WORKDIR", "WORKDIR requires exactly one argument"),
    ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
    ("MAINTAINER", "MAINTAINER requires exactly one argument"),
    ("COPY a", "COPY requires at least two arguments"),
    ("ADD", "ADD requires at least two arguments"),
    ('COPY ["a"]', "COPY requires at least two arguments"),
    ("SHELL /bin/sh -c", "SHELL requires the arguments to be in JSON notation"),
    ("SHELL []", "SHELL requires at least one argument"),
    ("ENV a", "ENV must have two arguments"),
    ("ENV a=1 b", "Syntax error - can't find = in \"b\""),
    ("ENV =1", "ENV names can not be blank"),
    ("LABEL =x", "LABEL names can not be blank"),
    ("ARG =x", "ARG names can not be blank"),
])
def test_argument_errors(text, message):
    fails("FROM a\n" + text + "\n", message, line=2)


def test_instructions_with_arguments_that_may_be_empty():
    assert one("CMD\n").args == []
    assert one("ENTRYPOINT []\n").json_form


def test_user_workdir_keep_the_whole_text():
    assert one("USER app:app\n").args == ["app:app"]
    assert one("WORKDIR /a b\n").args == ["/a b"]


# -- FROM and stages -----------------------------------------------------------

def test_stages():
    df = parse("ARG V=1\nARG B\nFROM --platform=$P alpine:$V AS Build\nRUN a\nRUN b\n"
               "FROM build\nCOPY --from=build /x /y\nFROM scratch\n")
    assert [a.args for a in df.meta_args] == [["V=1"], ["B"]]
    stages = df.stages()
    assert [(s.index, s.name, s.base, s.platform) for s in stages] == [
        (0, "build", "alpine:$V", "$P"), (1, None, "build", None), (2, None, "scratch", None)]
    assert [i.cmd for i in stages[0].instructions] == ["RUN", "RUN"]
    assert stages[0].from_instruction is df.instructions[2]
    assert [i.cmd for i in stages[1].instructions] == ["COPY"] and stages[2].instructions == []


@pytest.mark.parametrize("text,message", [
    ("FROM", "FROM requires either one or three arguments"),
    ("FROM a b", "FROM requires either one or three arguments"),
    ("FROM a AS", "FROM requires either one or three arguments"),
    ("FROM a AS b c", "FROM requires either one or three arguments"),
    ("FROM a FOR b", "FROM requires either one or three arguments"),
    ("FROM a AS 1st", 'invalid name for build stage: "1st"'),
    ("FROM a AS b$c", "invalid name for build stage"),
    ("FROM a AS -b", "invalid name for build stage"),
])
def test_from_errors(text, message):
    fails(text + "\n", message, line=1)


@pytest.mark.parametrize("name", ["a", "Build", "a-b_c.d", "x1"])
def test_valid_stage_names(name):
    assert parse(f"FROM a as {name}\n").stages()[0].name == name.lower()


def test_duplicate_stage_name():
    fails("FROM a AS x\nFROM b AS X\n", 'duplicate stage name "x"', line=2)


# -- ONBUILD and HEALTHCHECK ---------------------------------------------------

def test_onbuild():
    inst = one("ONBUILD RUN --mount=type=cache,target=/x make\n")
    assert inst.cmd == "ONBUILD" and inst.args == ["RUN --mount=type=cache,target=/x make"]
    assert isinstance(inst.inner, Instruction)
    assert (inst.inner.cmd, inst.inner.flags, inst.inner.args) == ("RUN", [("mount", "type=cache,target=/x")],
                                                                   ["make"])
    assert one('onbuild copy ["a", "b"]\n').inner.json_form


def test_onbuild_heredoc_is_kept_in_the_trigger():
    inst = one("ONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert inst.inner.heredocs[0].content == "echo hi\n"
    assert inst.args == ["RUN <<EOF\necho hi\nEOF"]
    replay = parse("FROM a\n" + inst.args[0] + "\n").instructions[1]  # what a child image's build runs
    assert replay.heredocs[0].content == "echo hi\n"


@pytest.mark.parametrize("text,message", [
    ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD from a", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("ONBUILD FOO x", "unknown instruction: FOO"),
    ("ONBUILD RUN --foo x", "unknown flag: --foo"),
    ("ONBUILD COPY a", "COPY requires at least two arguments"),
])
def test_onbuild_errors(text, message):
    fails("FROM a\n" + text + "\n", message, line=2)


def test_healthcheck():
    none = one("HEALTHCHECK none\n")
    assert none.args == ["NONE"] and none.inner is None
    shell = one("HEALTHCHECK --interval=5s --retries=3 cmd curl -f http://x || exit 1\n")
    assert shell.args == ["CMD", "curl -f http://x || exit 1"] and not shell.json_form
    assert shell.flag("interval") == "5s" and shell.flag("retries") == "3"
    assert (shell.inner.cmd, shell.inner.args) == ("CMD", ["curl -f http://x || exit 1"])
    exec_form = one('HEALTHCHECK CMD ["curl", "-f", "http://x"]\n')
    assert exec_form.args == ["CMD", "curl", "-f", "http://x"] and exec_form.json_form
    assert exec_form.inner.json_form and exec_form.inner.args == ["curl", "-f", "http://x"]


@pytest.mark.parametrize("text,message", [
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK CMD []", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK RUN x", 'Unknown type "RUN" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK --foo=1 CMD x", "unknown flag: --foo"),
])
def test_healthcheck_errors(text, message):
    fails("FROM a\n" + text + "\n", message, line=2)


# -- ENV, LABEL, ARG -----------------------------------------------------------

def test_key_values():
    inst = one('ENV a=1 b="x y" c=$HOME d=\'$HOME\' e=x\\ y f=\n')
    assert key_values(inst, {"HOME": "/root"}) == [("a", "1"), ("b", "x y"), ("c", "/root"), ("d", "$HOME"),
                                                   ("e", "x y"), ("f", "")]


def test_key_values_see_the_env_from_before_the_instruction():
    inst = one("ENV abc=bye def=$abc\n")
    assert key_values(inst, {"abc": "hello"}) == [("abc", "bye"), ("def", "hello")]


def test_legacy_env_form():
    inst = one('ENV greeting hello   "big" $who\n')
    assert key_values(inst, {"who": "world"}) == [("greeting", "hello   big world")]


def test_label_and_expanded_names():
    inst = one('LABEL "com.example.vendor"="ACME" version=$V $K=v\n')
    assert key_values(inst, {"V": "1.0", "K": "key"}) == [("com.example.vendor", "ACME"), ("version", "1.0"),
                                                         ("key", "v")]


def test_key_values_errors_name_the_line():
    inst = one("ENV $EMPTY=x\n")
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: ENV names can not be blank$"):
        key_values(inst, {})
    inst = one('ENV a="${X:?must be set}"\n')  # unquoted, the spaces would split the word (as in docker)
    with pytest.raises(ExpandError) as e:
        key_values(inst, {})
    assert isinstance(e.value, DockerfileError) and e.value.line == 2 and e.value.message == "X: must be set"


def test_key_values_with_backtick_escape():
    df = parse("# escape=`\nFROM a\nENV a=x` y b=c:\\d\n")
    assert key_values(df.instructions[1], {}, df.escape) == [("a", "x y"), ("b", "c:\\d")]


def test_arg_pairs():
    inst = one('ARG a b=1 c="x $b" d=${a:-none}\n')
    assert arg_pairs(inst, {}) == [("a", None), ("b", "1"), ("c", "x 1"), ("d", "none")]
    assert arg_pairs(inst, {"a": "A"}) == [("a", None), ("b", "1"), ("c", "x 1"), ("d", "A")]


def test_arg_pairs_see_build_args():
    inst = one("ARG b=1 c=$b\n")
    assert arg_pairs(inst, {}, build_args={"b": "2"}) == [("b", "1"), ("c", "2")]


def test_arg_pairs_do_not_write_the_env():
    env = {"x": "1"}
    arg_pairs(one("ARG y=2\n"), env)
    assert env == {"x": "1"}


# -- files ---------------------------------------------------------------------

def test_parse_file(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM a\nBAD x\n")
    with pytest.raises(DockerfileError, match=r"^shown/Dockerfile:2: unknown instruction: BAD$"):
        parse_file(str(path), "shown/Dockerfile")
    path.write_text("FROM a\n")
    df = parse_file(str(path))
    assert df.path == str(path) and df.instructions[0].path == str(path)


def test_parse_file_missing(tmp_path):
    with pytest.raises(DockerfileError):
        parse_file(str(tmp_path / "nope"))
