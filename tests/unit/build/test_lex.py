"""fastctr.build.lex against BuildKit's shell lexer (shell/lex.go and the
cases of its lex_test.go / envVarTest): what ProcessWord and ProcessWords
give for each form of substitution, quoting and escaping."""
import pytest

from fastctr.build.dockerfile import ExpandError, expand, expand_heredoc, expand_words
from fastctr.build.lex import process, split_words

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "EMPTY": "", "X": "hello world",
       "P": "/usr/local/bin/foo.tar.gz", "AB": "ab", "STAR": "*"}

WORD_CASES = [  # (input, ProcessWord's result)
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he'llo", ExpandError),
    ('he\\\'llo', "he'llo"),
    ("he\\\\'llo", ExpandError),
    ("abc\\\\def", "abc\\def"),
    ('"abc\\\\def"', "abc\\def"),
    ('"abc\\def"', "abc\\def"),     # inside "..." only \" \$ \\ escape
    ("'abc\\\\def'", "abc\\\\def"),  # inside '...' nothing does
    ("hell\\o", "hello"),
    ("hell\\\\o", "hell\\o"),
    ('"hello"', "hello"),
    ('"hel\\"lo"', 'hel"lo'),
    ('"hel\'lo"', "hel'lo"),
    ("'hel\"lo'", 'hel"lo'),
    ('"\'"', "'"),
    ("$.", "$."),
    ("he$1x", "hex"),
    ("he$.x", "he$.x"),
    ("he$pwd.", "he."),           # names are case-sensitive
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ("'he$PWD'", "he$PWD"),
    ("he${PWD}", "he/home"),
    ("he${PWD}x", "he/homex"),
    ("he${PWD:=000}x", ExpandError),  # := is no modifier BuildKit knows
    ("he${PWD:+${PWD}}x", "he/homex"),
    ("he${XXX:-000}x", "he000x"),
    ("he${PWD:-000}x", "he/homex"),
    ("he${XXX:-$PWD}x", "he/homex"),
    ("he${XXX:-${PWD:-yyy}}x", "he/homex"),
    ("he${XXX:-${YYY:-yyy}}x", "heyyyx"),
    ("he${XXX:YYY}", ExpandError),
    ("he${XXX?}", ExpandError),
    ("he${XXX:?}", ExpandError),
    ("he${PWD?}", "he/home"),
    ("he${PWD:?}", "he/home"),
    ("he${EMPTY?}", "he"),
    ("he${EMPTY:?}", ExpandError),
    ("he${EMPTY-x}", "he"),
    ("he${EMPTY:-x}", "hex"),
    ("he${EMPTY+x}", "hex"),
    ("he${EMPTY:+x}", "he"),
    ("he${XXX+x}", "he"),
    ("${}", ExpandError),
    ("${:}", ExpandError),
    ("${{x}", ExpandError),
    ("${PWD", ExpandError),
    ("${PWD:-x", ExpandError),
    ("$$", ""),                     # special parameters are names too: unset here
    ("$#", ""),
    ("${KOREAN}", "한국어"),
    ("안녕$KOREAN", "안녕한국어"),
    ("${P#*/}", "usr/local/bin/foo.tar.gz"),
    ("${P##*/}", "foo.tar.gz"),
    ("${P%.*}", "/usr/local/bin/foo.tar"),
    ("${P%%.*}", "/usr/local/bin/foo"),
    ("${P#/usr}", "/local/bin/foo.tar.gz"),
    ("${P#nomatch}", "/usr/local/bin/foo.tar.gz"),
    ("${P%?z}", "/usr/local/bin/foo.tar."),
    ("${AB#?}", "b"),
    ("${STAR#\\*}", ""),
    ("${STAR#\\x}", ExpandError),     # only \* \? \\ escape in a pattern
    ("${XXX#a}", ""),
    ("${X/o/0}", "hell0 world"),
    ("${X//o/0}", "hell0 w0rld"),
    ("${X//o}", ExpandError),         # BuildKit requires the second /
    ("${X//o/}", "hell wrld"),
    ("${X/w*/you}", "hello you"),
    ("${X/[a]/b}", "hello world"),    # no bracket expressions: [ is literal
    ("${P/\\//:}", ":usr/local/bin/foo.tar.gz"),   # \/ is a / in the pattern
    ("${X:-a}b${X:+c}", "hello worldbc"),
    ("${X:-'x y'}", "hello world"),
    ("${XXX:-'x y'}", "x y"),
    ('${XXX:-"$PWD"}', "/home"),
    ("a\\", "a"),                     # an escape at the end vanishes
]


@pytest.mark.parametrize("word,want", WORD_CASES)
def test_process_word(word, want):
    if want is ExpandError:
        with pytest.raises(ExpandError):
            expand(word, ENV)
    else:
        assert expand(word, ENV) == want


WORDS_CASES = [  # (input, ProcessWords's result)
    ("hello world", ["hello", "world"]),
    ("  hello   world  ", ["hello", "world"]),
    ('"hello world"', ["hello world"]),
    ("'hello world' x", ["hello world", "x"]),
    ("hello\\ world", ["hello world"]),
    ("$X", ["hello", "world"]),               # unquoted values split
    ('"$X"', ["hello world"]),                # quoted ones do not
    ("a$X", ["ahello", "world"]),
    ("${XXX}", []),
    ('""', []),                               # an empty quoted word does not survive
    ('a "" b', ["a", "b"]),
    ("a'' b", ["a", "b"]),
    ("8080/tcp 9090", ["8080/tcp", "9090"]),
]


@pytest.mark.parametrize("text,want", WORDS_CASES)
def test_process_words(text, want):
    assert expand_words(text, ENV) == want


def test_the_error_message_of_a_required_variable():
    with pytest.raises(ExpandError) as e:
        expand("${X:?must be set}", {})
    assert str(e.value) == "X: must be set"
    with pytest.raises(ExpandError, match="^X: is not allowed to be unset$"):
        expand("${X?}", {})
    with pytest.raises(ExpandError, match="^E: is not allowed to be empty$"):
        expand("${E:?}", {"E": ""})
    assert expand("${X:?must be set}", {"X": "1"}) == "1"


def test_backtick_escape():
    assert expand("a`$PWD", ENV, "`") == "a$PWD"
    assert expand("a\\$PWD", ENV, "`") == "a\\/home"      # \ is a plain character then
    assert expand('"a`"b"', ENV, "`") == 'a"b'
    assert expand('"a\\b"', ENV, "`") == "a\\b"
    assert expand_words("a` b c", ENV, "`") == ["a b", "c"]


def test_heredoc_content_keeps_quotes():
    assert expand_heredoc("echo '$X' \"$PWD\"\n", ENV) == "echo 'hello world' \"/home\"\n"
    assert expand_heredoc("\\$X ${XXX:-d}\n", ENV) == "$X d\n"


def test_raw_modes_keep_what_they_say():
    assert process("a 'b c' \\d", {}, raw_quotes=True, raw_escapes=True)[1] == ["a", "'b c'", "\\d"]
    assert process("$A ${B} ${C:-x}", {}, skip_unset=True)[0] == "$A ${B} ${C:-x}"
    assert process("'a' \"b\"", {}, skip_quotes=True)[0] == "'a' \"b\""


def test_mapping_is_only_read():
    class Env(dict):
        def __setitem__(self, *a):
            raise AssertionError("written")
    assert expand("$PWD", Env(PWD="/x")) == "/x"


SPLIT_CASES = [  # BuildKit's parseWords (ENV/LABEL/ARG before expansion)
    ("a=1 b=2", ["a=1", "b=2"]),
    ('a="x y" b', ['a="x y"', "b"]),
    ("a='x \\' y", ["a='x \\'", "y"]),         # nothing escapes in '...'
    ('a="x \\" y"', ['a="x \\" y"']),
    ("a=x\\ y z", ["a=x\\ y", "z"]),
    ("a=\\", ["a="]),
    ('""', ['""']),
    ("  ", []),
]


@pytest.mark.parametrize("text,want", SPLIT_CASES)
def test_split_words(text, want):
    assert split_words(text, "\\") == want
