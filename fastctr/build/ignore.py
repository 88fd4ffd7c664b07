""".dockerignore: which files of the build context the builder leaves out,
with the semantics of moby/patternmatcher (and its ignorefile reader), which
BuildKit and the docker CLI use.

A pattern is a Go filepath.Match glob over slash-separated paths relative
to the context (`*`, `?`, `[a-z]`, `[^a]`, `\\` escapes) plus `**`, which
spans any number of directories.  A pattern that matches a directory
excludes everything below it; `!pattern` re-includes; the last pattern that
matches a path decides.  Patterns compile the way patternmatcher compiles
them: an exact string, a prefix (`dir/**`), a suffix (`**/name`) or a
regular expression, so the corner cases (`**/` matching "file", `a**`
being a prefix) come out the same.

`may_contain_included` lets a walker skip a whole excluded directory, which
it may do only when no `!` exception could re-include something below it."""
import os
import posixpath
import re

from fastctr.errors import FastctrError

__all__ = ["IgnoreError", "Ignore", "read_ignore", "read_patterns", "clean"]

_ESCAPE_IN_REGEX = set(".+()|{}$^]")  # patternmatcher's list, plus what Python would read as regex syntax


class IgnoreError(FastctrError):
    """A .dockerignore pattern is malformed (Go's filepath.ErrBadPattern)."""


def clean(path):
    """Go's filepath.Clean on a slash path (posixpath.normpath but for the
    leading //, which Go folds into one /)."""
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def read_patterns(text):
    """The patterns of a .dockerignore's text (ignorefile.ReadAll): lines
    starting with # are comments, blank lines skipped, each pattern trimmed
    and cleaned, a leading / dropped, ! kept in front."""
    if text.startswith("\ufeff"):
        text = text[1:]
    patterns = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


def read_ignore(context_dir, dockerfile_rel=None):
    """The patterns that apply to a build: `<Dockerfile>.dockerignore` next to
    the Dockerfile wins over `<context>/.dockerignore` (BuildKit); none -> []."""
    candidates = []
    if dockerfile_rel:
        dockerfile = dockerfile_rel if os.path.isabs(dockerfile_rel) else os.path.join(context_dir, dockerfile_rel)
        candidates.append(dockerfile + ".dockerignore")
    candidates.append(os.path.join(context_dir, ".dockerignore"))
    for candidate in candidates:
        try:
            with open(candidate, "rb") as f:
                return read_patterns(f.read().decode("utf-8", "replace"))
        except FileNotFoundError:
            continue
    return []


# -- one pattern ---------------------------------------------------------------

def _class_end(pattern, i):
    """Check the bracket expression opening at pattern[i] == "[" as Go's
    filepath.Match does; return (regex class, index after it)."""
    i += 1
    out = "["
    if i < len(pattern) and pattern[i] == "^":
        out += "^"
        i += 1
    ranges = 0
    while True:
        if i < len(pattern) and pattern[i] == "]" and ranges:
            return out + "]", i + 1
        lo, i = _class_char(pattern, i)
        item = re.escape(lo)
        if pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
            if hi < lo:
                raise IgnoreError(f"syntax error in pattern: {pattern}")  # Go's regexp refuses [z-a] too
            item += "-" + re.escape(hi)
        out += item
        ranges += 1


def _class_char(pattern, i):
    """Go's getEsc: one (possibly escaped) character of a class; a class
    must not end right after it."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise IgnoreError(f"syntax error in pattern: {pattern}")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise IgnoreError(f"syntax error in pattern: {pattern}")
    if i + 1 >= len(pattern):
        raise IgnoreError(f"syntax error in pattern: {pattern}")
    return pattern[i], i + 1


class _Pattern:
    def __init__(self, text, exclusion=False):
        self.text = text
        self.exclusion = exclusion
        self.kind, self.regex = self._compile(text)

    @staticmethod
    def _compile(pattern):
        """(kind, regex or None), kind one of exact, prefix, suffix, regexp
        (patternmatcher's compile, translated)."""
        out, kind, i, n = ["^"], "exact", 0, len(pattern)
        while i < n:
            ch = pattern[i]
            at_start = i == 0
            i += 1
            if ch == "*" and i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":  # **/ is **
                    i += 1
                if i >= n:  # a trailing ** takes everything, like .gitignore
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regexp"
                else:
                    out.append("(.*/)?")
                    kind = "regexp"
                if at_start:
                    kind = "suffix"
            elif ch == "*":
                out.append("[^/]*")
                kind = "regexp"
            elif ch == "?":
                out.append("[^/]")
                kind = "regexp"
            elif ch == "\\":
                if i >= n:
                    raise IgnoreError(f"syntax error in pattern: {pattern}")
                out.append(re.escape(pattern[i]))
                i += 1
                kind = "regexp"
            elif ch == "[":
                cls, i = _class_end(pattern, i - 1)
                out.append(cls)
                kind = "regexp"
            elif ch in _ESCAPE_IN_REGEX:
                out.append("\\" + ch)
            else:
                out.append(re.escape(ch))
        if kind != "regexp":
            return kind, None
        try:
            return kind, re.compile("".join(out) + r"\Z")
        except re.error:
            raise IgnoreError(f"syntax error in pattern: {pattern}") from None

    def match(self, path):
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex.match(path) is not None


# -- the matcher ---------------------------------------------------------------

class Ignore:
    """Decides, for paths relative to the context, whether they are left out."""

    def __init__(self, patterns):
        self.patterns = []
        for text in patterns:
            text = text.strip()
            if not text:
                continue
            text = clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if text == "!":
                    raise IgnoreError('illegal exclusion pattern: "!"')
                text = text[1:]
            self.patterns.append(_Pattern(text, exclusion))
        self.exclusions = [p for p in self.patterns if p.exclusion]

    @staticmethod
    def _relative(rel_path):
        path = clean(rel_path.replace(os.sep, "/"))
        return path.lstrip("/") or "."

    def excluded(self, rel_path, is_dir=False):
        """Whether the path is left out (MatchesOrParentMatches: the path or a
        parent directory of it matched, and no later ! pattern took it back).
        `is_dir` changes nothing (patterns cannot name directories only, the
        cleaning takes a trailing / off) but documents the call."""
        path = self._relative(rel_path)
        if path == ".":
            return False  # the context itself is never excluded
        parents = path.split("/")[:-1]
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:  # only a later pattern of the other kind can change the answer
                continue
            hit = pattern.match(path) or any(pattern.match("/".join(parents[:i + 1])) for i in range(len(parents)))
            if hit:
                matched = not pattern.exclusion
        return matched

    def may_contain_included(self, rel_dir):
        """Whether some ! pattern could re-include a path inside `rel_dir`
        (or `rel_dir` itself): when not, an excluded directory can be
        skipped whole.  Errs on the side of True."""
        if not self.exclusions:
            return False
        parts = [] if self._relative(rel_dir) == "." else self._relative(rel_dir).split("/")
        return any(_may_match_inside(p.text.split("/"), parts) for p in self.exclusions)


def _may_match_inside(segments, parts):
    """Whether a pattern of these segments could match `parts` or a path below
    it: each segment must match the directory's component at its depth,
    until the pattern goes deeper than the directory or reaches a **."""
    for depth, segment in enumerate(segments):
        if "**" in segment or depth >= len(parts):
            return True
        if not _Pattern(segment).match(parts[depth]):
            return False
    return True  # it names the directory or a parent of it
