"""fastctr.build.ignore against moby/patternmatcher's test tables
(patternmatcher_test.go: TestMatches, the filepath.Match table, the
cleaning tests) and its ignorefile reader; plus the walker's question."""
import pytest

from fastctr.build.ignore import Ignore, IgnoreError, clean, read_ignore, read_patterns

EXACT, INEXACT, FAIL = "exact", "inexact", "fail"  # inexact: only a parent directory matches

MATCHES = [
    ("**", "file", EXACT), ("**", "file/", EXACT), ("**/", "file", EXACT), ("**/", "file/", EXACT),
    ("**", "/", EXACT), ("**/", "/", EXACT), ("**", "dir/file", EXACT), ("**/", "dir/file", EXACT),
    ("**", "dir/file/", EXACT), ("**/", "dir/file/", EXACT), ("**/**", "dir/file", EXACT),
    ("**/**", "dir/file/", EXACT), ("dir/**", "dir/file", EXACT), ("dir/**", "dir/file/", EXACT),
    ("dir/**", "dir/dir2/file", EXACT), ("dir/**", "dir/dir2/file/", EXACT), ("**/dir", "dir", EXACT),
    ("**/dir", "dir/file", INEXACT), ("**/dir2/*", "dir/dir2/file", EXACT),
    ("**/dir2/*", "dir/dir2/file/", INEXACT), ("**/dir2/**", "dir/dir2/dir3/file", EXACT),
    ("**/dir2/**", "dir/dir2/dir3/file/", EXACT), ("**file", "file", EXACT), ("**file", "dir/file", EXACT),
    ("**/file", "dir/file", EXACT), ("**file", "dir/dir/file", EXACT), ("**/file", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file", EXACT), ("**/file*", "dir/dir/file.txt", EXACT),
    ("**/file*txt", "dir/dir/file.txt", EXACT), ("**/file*.txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt*", "dir/dir/file.txt", EXACT), ("**/**/*.txt", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt2", "dir/dir/file.txt", FAIL), ("**/*.txt", "file.txt", EXACT),
    ("**/**/*.txt", "file.txt", EXACT), ("a**/*.txt", "a/file.txt", EXACT), ("a**/*.txt", "a/dir/file.txt", EXACT),
    ("a**/*.txt", "a/dir/dir/file.txt", EXACT), ("a/*.txt", "a/dir/file.txt", FAIL),
    ("a/*.txt", "a/file.txt", EXACT), ("a/*.txt**", "a/file.txt", EXACT), ("a[b-d]e", "ae", FAIL),
    ("a[b-d]e", "ace", EXACT), ("a[b-d]e", "aae", FAIL), ("a[^b-d]e", "aze", EXACT), (".*", ".foo", EXACT),
    (".*", "foo", FAIL), ("abc.def", "abcdef", FAIL), ("abc.def", "abc.def", EXACT), ("abc.def", "abcZdef", FAIL),
    ("abc?def", "abcZdef", EXACT), ("abc?def", "abcdef", FAIL), ("**/foo/bar", "foo/bar", EXACT),
    ("**/foo/bar", "dir/foo/bar", EXACT), ("**/foo/bar", "dir/dir2/foo/bar", EXACT), ("abc/**", "abc", FAIL),
    ("abc/**", "abc/def", EXACT), ("abc/**", "abc/def/ghi", EXACT), ("**/.foo", ".foo", EXACT),
    ("**/.foo", "bar.foo", FAIL), ("a(b)c/def", "a(b)c/def", EXACT), ("a(b)c/def", "a(b)c/xyz", FAIL),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", EXACT),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("a\\\\", "a\\", EXACT), ("a\\*b", "a*b", EXACT),
]


@pytest.mark.parametrize("pattern,path,kind", MATCHES)
def test_patternmatcher_table(pattern, path, kind):
    if path == "/":  # relative to the context, "/" is the context itself: never excluded (see below)
        assert not Ignore([pattern]).excluded(path)
        return
    assert Ignore([pattern]).excluded(path) == (kind != FAIL)


MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", FAIL),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", EXACT),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", FAIL),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", FAIL),
    (["!fileutils.go", "*.go"], "fileutils.go", EXACT),     # an exception before its pattern does nothing
    (["*.go", "!fileutils.go"], "fileutils.go", FAIL),
    (["docs", "!docs/README.md"], "docs/README.md", FAIL),
    (["docs/", "!docs/README.md"], "docs/README.md", FAIL),
    (["docs/*", "!docs/README.md"], "docs/README.md", FAIL),
    (["docs", "!docs/README.md"], "docs/other.md", EXACT),
    (["*", "!keep", "keep/secret"], "keep/secret/x", EXACT),
    (["*", "!keep", "keep/secret"], "keep/public", FAIL),
]


@pytest.mark.parametrize("patterns,path,kind", MULTI)
def test_last_matching_pattern_wins(patterns, path, kind):
    assert Ignore(patterns).excluded(path) == (kind != FAIL)


GO_MATCH = [  # filepath.Match's table as patternmatcher runs it (Matches, one pattern)
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True), ("a*", "abc", True),
    ("a*", "ab/c", True), ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False), ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True), ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True), ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False), ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False), ("a[^a][^a][^a]b", "a☺b", False), ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False), ("a?b", "a/b", False), ("a*b", "a/b", False), ("[\\]a]", "]", True),
    ("[\\-]", "-", True), ("[x\\-]", "x", True), ("[x\\-]", "-", True), ("[x\\-]", "z", False),
    ("[\\-x]", "x", True), ("[\\-x]", "-", True), ("[\\-x]", "a", False), ("*x", "xxx", True),
]


@pytest.mark.parametrize("pattern,path,want", GO_MATCH)
def test_go_filepath_match_table(pattern, path, want):
    assert Ignore([pattern]).excluded(path) is want


@pytest.mark.parametrize("pattern", ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[",
                                     "[z-a]", "!"])
def test_bad_patterns(pattern):
    with pytest.raises(IgnoreError):
        Ignore([pattern])


def test_the_context_itself_is_never_excluded():
    assert not Ignore(["*", "**"]).excluded(".")
    assert not Ignore(["*"]).excluded("")


def test_no_patterns_and_blank_ones():
    assert not Ignore([]).excluded("any/path/there")
    ignore = Ignore(["docs", "config", "", "  "])
    assert len(ignore.patterns) == 2
    assert Ignore(["docs", "  !docs/README.md  "]).exclusions


def test_paths_are_cleaned():
    ignore = Ignore(["a/b"])
    assert ignore.excluded("./a/b") and ignore.excluded("a//b/") and ignore.excluded("/a/b/c")
    assert ignore.excluded("a/b", is_dir=True)


def test_a_directory_pattern_excludes_what_is_below():
    ignore = Ignore(["node_modules", "**/*.pyc", "build/"])
    assert ignore.excluded("node_modules") and ignore.excluded("node_modules/x/y.js")
    assert not ignore.excluded("src/node_modules")            # anchored at the context
    assert ignore.excluded("a/b/c.pyc") and ignore.excluded("c.pyc")
    assert ignore.excluded("build/out.o")


# -- the walker's question -----------------------------------------------------

def test_may_contain_included():
    ignore = Ignore(["docs", "!docs/README.md", "vendor", "cache/**", "!cache/keep/*.txt"])
    assert ignore.may_contain_included("docs")
    assert not ignore.may_contain_included("vendor")
    assert ignore.may_contain_included("cache") and ignore.may_contain_included("cache/keep")
    assert not ignore.may_contain_included("cache/other")
    assert not Ignore(["docs"]).may_contain_included("docs")


def test_may_contain_included_with_wildcards():
    assert Ignore(["*", "!**/*.go"]).may_contain_included("any/dir")
    assert Ignore(["a", "!a*/keep"]).may_contain_included("a")
    assert Ignore(["a", "!a"]).may_contain_included("a/b")      # the exception names a parent
    assert not Ignore(["a", "!b/keep"]).may_contain_included("a")


def test_skipping_is_safe_on_a_tree(tmp_path):
    """Walking with the skip gives the same files as checking every file."""
    files = ["docs/README.md", "docs/a.md", "docs/sub/b.md", "vendor/x/y.go", "src/main.go", "src/x.pyc",
             "cache/keep/a.txt", "cache/keep/b.bin", "cache/other/c.txt", "Dockerfile"]
    ignore = Ignore(["docs", "!docs/README.md", "vendor", "**/*.pyc", "cache", "!cache/keep/*.txt"])
    every = sorted(f for f in files if not ignore.excluded(f))
    walked = []

    def walk(prefix, names):
        dirs = sorted({n.split("/", 1)[0] for n in names if "/" in n})
        for d in dirs:
            rel = f"{prefix}{d}"
            if ignore.excluded(rel, True) and not ignore.may_contain_included(rel):
                continue
            walk(rel + "/", [n.split("/", 1)[1] for n in names if n.startswith(d + "/")])
        walked.extend(f"{prefix}{n}" for n in names if "/" not in n and not ignore.excluded(f"{prefix}{n}"))
    walk("", files)
    assert sorted(walked) == every == ["Dockerfile", "cache/keep/a.txt", "docs/README.md", "src/main.go"]


# -- reading the file ----------------------------------------------------------

def test_read_patterns():
    text = "\ufeff# comment\n  # not a comment\n\n  *.md  \n/abs/path\n!  /keep.md\n./a/../b/\n!\n/\n"
    assert read_patterns(text) == ["# not a comment", "*.md", "abs/path", "!keep.md", "b", "!", "/"]


def test_clean_is_go_filepath_clean():
    for path, want in [("", "."), ("a/./b/", "a/b"), ("a/../..", ".."), ("//a", "/a"), ("/../a", "/a"),
                       ("a//b", "a/b")]:
        assert clean(path) == want


def test_read_ignore_prefers_the_dockerfiles_own(tmp_path):
    (tmp_path / ".dockerignore").write_text("ctx\n")
    assert read_ignore(str(tmp_path), None) == ["ctx"]
    assert read_ignore(str(tmp_path), "Dockerfile") == ["ctx"]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "app.Dockerfile.dockerignore").write_text("own\n")
    assert read_ignore(str(tmp_path), "sub/app.Dockerfile") == ["own"]
    assert read_ignore(str(tmp_path), str(tmp_path / "sub" / "app.Dockerfile")) == ["own"]
    (tmp_path / ".dockerignore").unlink()
    assert read_ignore(str(tmp_path), "Dockerfile") == []
