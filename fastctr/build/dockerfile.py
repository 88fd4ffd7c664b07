"""The Dockerfile language: text -> instructions -> stages, the way BuildKit's
frontend/dockerfile/parser and instructions packages read it, so that a
Dockerfile docker accepts reads the same here and one it refuses fails here,
with the line (`Dockerfile:3: unknown instruction: FOO`).

Reading happens in one pass over the lines (`_Reader`): parser directives
(`# syntax=`, `# escape=`, `# check=`) only in the leading comment block;
comments dropped, also between continuation lines; continuations joined;
then each instruction's words are split (`_node`) and checked (`_check`),
and heredoc bodies (`<<EOF`) are read from the lines that follow.  Variable
substitution is not done here: the builder expands each word with the
environment of its step (`expand`, `expand_words`, `key_values`,
`arg_pairs`; the lexer itself is in fastctr.build.lex).

An instruction keeps what was written: `args` is the JSON list (exec form)
or the raw text after the flags (shell form), `words` the list docker's
parser makes of it (the JSON list, or the text split on whitespace for
COPY, ADD, VOLUME, EXPOSE and FROM)."""
import json
import re
from collections.abc import Mapping

from fastctr.build.lex import ExpandError, expand, expand_heredoc, expand_words, process, split_words
from fastctr.errors import FastctrError

__all__ = ["DockerfileError", "ExpandError", "Heredoc", "Instruction", "Dockerfile", "Stage", "parse",
           "parse_file", "parse_heredoc", "expand", "expand_words", "expand_heredoc", "key_values",
           "arg_pairs"]

# Flags each instruction takes (BuildKit's BFlags per instruction); the
# builder checks their values.
FLAGS = {
    "FROM": {"platform"},
    "RUN": {"mount", "network", "security"},
    "COPY": {"from", "chown", "chmod", "link", "parents", "exclude"},
    "ADD": {"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"},
    "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"},
}
INSTRUCTIONS = {"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
                "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
_JSON_FORM = {"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"}
_SPLIT_WORDS = {"COPY", "ADD", "VOLUME", "EXPOSE", "FROM"}  # parseStringsWhitespaceDelimited
_HEREDOC = {"RUN", "COPY", "ADD"}
_EXACTLY_ONE = {"MAINTAINER", "USER", "WORKDIR", "STOPSIGNAL"}
_AT_LEAST_ONE = {"RUN", "ENV", "LABEL", "EXPOSE", "VOLUME", "ARG", "ONBUILD", "HEALTHCHECK", "SHELL"}
DIRECTIVES = ("syntax", "escape", "check")

_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*")
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")  # Go's reWhitespace: what separates an instruction's words
_HEREDOC_WORD = re.compile(r"(\d*)<<(-?)([^<]*)")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)


class DockerfileError(FastctrError):
    """A Dockerfile cannot be read or is not valid; names the file and line."""

    def __init__(self, path, line, message):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


class InstructionExpandError(DockerfileError, ExpandError):
    """A word of an instruction failed to expand (both kinds of error at once,
    so that either `except` catches it)."""


class _Record:
    """A plain record: FIELDS are (name, default) pairs, a list default a
    new list each time; equality and repr by the fields.  Not dataclasses:
    importing it (with inspect, ast, tokenize) is ~15 ms of every build's
    start, most of a fully cached build's own time."""
    FIELDS = ()

    def __init__(self, *args, **kwargs):
        if len(args) > len(self.FIELDS):
            raise TypeError(f"{type(self).__name__} takes at most {len(self.FIELDS)} arguments")
        for i, (name, default) in enumerate(self.FIELDS):
            if i < len(args):
                value = args[i]
            elif name in kwargs:
                value = kwargs.pop(name)
            elif default is _REQUIRED:
                raise TypeError(f"{type(self).__name__}: missing argument {name!r}")
            else:
                value = list(default) if isinstance(default, list) else default
            setattr(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")

    def _values(self):
        return tuple(getattr(self, name) for name, _ in self.FIELDS)

    def __eq__(self, other):
        return type(other) is type(self) and other._values() == self._values()

    __hash__ = None  # mutable, as a dataclass's

    def __repr__(self):
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name, _ in self.FIELDS if not name.startswith("_"))
        return f"{type(self).__name__}({shown})"


_REQUIRED = object()


class Heredoc(_Record):
    # raw: the content before <<- took the tabs off (ONBUILD replays it)
    FIELDS = (("name", _REQUIRED), ("content", ""), ("expand", True), ("chomp", False), ("raw", ""))


class Instruction(_Record):
    # inner: ONBUILD's trigger, HEALTHCHECK's CMD
    FIELDS = (("cmd", _REQUIRED), ("flags", []), ("args", []), ("json_form", False), ("heredocs", []),
              ("original", ""), ("line", 0), ("end_line", 0), ("inner", None), ("path", "Dockerfile"))

    def flag(self, name, default=None):
        """The last value of --name (None for a bare --name), or `default`."""
        for key, value in reversed(self.flags):
            if key == name:
                return value
        return default

    def flag_all(self, name):
        return [value for key, value in self.flags if key == name]

    @property
    def words(self):
        """The arguments as docker's parser lists them, before expansion."""
        if self.json_form or not self.args:
            return list(self.args)
        if self.cmd in _SPLIT_WORDS:
            return _WHITESPACE.split(self.args[0])
        return [self.args[0]]

    def error(self, message):
        return DockerfileError(self.path, self.line, message)


class Stage(_Record):
    FIELDS = (("index", _REQUIRED), ("name", _REQUIRED), ("base", _REQUIRED), ("platform", _REQUIRED),
              ("from_instruction", _REQUIRED), ("instructions", []))


class Dockerfile(_Record):
    FIELDS = (("path", _REQUIRED), ("directives", _REQUIRED), ("escape", _REQUIRED), ("instructions", _REQUIRED),
              ("meta_args", []), ("_stages", []))

    def stages(self):
        return list(self._stages)


def parse_file(path, display=None):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DockerfileError(display or path, 0, f"cannot read the Dockerfile: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")  # Go reads bytes: bad UTF-8 is no error there either
    return parse(text, display or path)


def parse(text, path="Dockerfile"):
    reader = _Reader(text, path)
    instructions = reader.read()
    if not instructions:
        raise DockerfileError(path, max(reader.line_count, 1), "file with no instructions")
    dockerfile = Dockerfile(path, reader.directives, reader.escape, instructions)
    dockerfile.meta_args, dockerfile._stages = _split_stages(instructions, path)
    return dockerfile


# -- lines -> instructions -----------------------------------------------------

def _is_comment(line):
    return line.lstrip().startswith("#")


class _Reader:
    def __init__(self, text, path):
        self.path = path
        if text.startswith("\ufeff"):
            text = text[1:]
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()  # the newline at the end of the file ends the last line
        self.line_count = len(self.lines)
        self.pos = 0
        self.directives = {}
        self.directives_done = False
        self.escape = "\\"

    def next_line(self):
        """(line without its newline, 1-based number) of the next line."""
        raw = self.lines[self.pos]
        self.pos += 1
        return raw.removesuffix("\r"), self.pos

    def read(self):
        out = []
        while self.pos < len(self.lines):
            text, number = self.next_line()
            text = text.lstrip()
            self.directive(text, number)
            if _is_comment(text):
                continue
            line, complete = self.trim_continuation(text)
            if complete and line == "":
                continue
            while not complete and self.pos < len(self.lines):
                text, _ = self.next_line()
                if _is_comment(text) or not text.strip():  # comments and empty lines inside a continuation
                    continue
                part, complete = self.trim_continuation(text)
                line += part
            if line.strip():
                out.append(self.instruction(line, number))
        return out

    def directive(self, text, number):
        if self.directives_done:
            return
        match = _DIRECTIVE.fullmatch(text)
        key = match.group(1).lower() if match else None
        if key not in DIRECTIVES:  # the first line that is not a directive ends them
            self.directives_done = True
            return
        if key in self.directives:
            raise DockerfileError(self.path, number, f"only one {key} parser directive can be used")
        value = match.group(2)
        if key == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(self.path, number, f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
        self.directives[key] = value

    def trim_continuation(self, text):
        """(text without a trailing escape + blanks, whether the instruction ends here)."""
        stripped = text.rstrip(" \t")
        if stripped.endswith(self.escape):
            return stripped[:-1], False
        return text, True

    def instruction(self, line, number):
        inst = _node(line, number, self.path, self.escape)
        if _can_hold_heredocs(inst) and "<<" in line:
            for heredoc in _heredoc_words(line):
                self.read_heredoc(heredoc, number)
                inst.heredocs.append(heredoc)
            if inst.inner is not None:
                inst.inner.heredocs = inst.heredocs
                inst.args = [inst.args[0] + "".join(f"\n{h.raw}{h.name}" for h in inst.heredocs)]
        inst.end_line = self.pos
        return inst

    def read_heredoc(self, heredoc, start):
        body = []
        while self.pos < len(self.lines):
            raw = self.lines[self.pos]
            text, _ = self.next_line()
            candidate = text.lstrip("\t") if heredoc.chomp else text
            if candidate == heredoc.name:
                heredoc.raw = "".join(body)
                heredoc.content = re.sub(r"(?m)^\t+", "", heredoc.raw) if heredoc.chomp else heredoc.raw
                return
            body.append(raw + "\n")
        raise DockerfileError(self.path, start, f"unterminated heredoc {heredoc.name}")


def _can_hold_heredocs(inst):
    target = inst.inner if inst.cmd == "ONBUILD" else inst
    return target is not None and target.cmd in _HEREDOC and not target.json_form


def _heredoc_words(line):
    """The heredocs a line opens, in order (BuildKit lexes the whole line,
    keeping quotes, and takes the words that look like <<NAME)."""
    try:
        _, words = process(line, {}, "\\", raw_quotes=True, raw_escapes=True)
    except ExpandError:
        return []  # BuildKit ignores the error: such a line has no heredocs
    return [h for h in map(parse_heredoc, words) if h is not None]


def parse_heredoc(word):
    """The Heredoc (without content) a word like <<EOF, <<-EOF, <<"EOF"
    opens, or None.  COPY/ADD use it to tell heredoc sources from paths."""
    match = _HEREDOC_WORD.fullmatch(word)
    if not match or not match.group(3):
        return None
    try:
        words = process(match.group(3), {}, skip_unset=True)[1]
        raw_words = process(match.group(3), {}, skip_unset=True, raw_quotes=True)[1]
    except ExpandError:
        return None
    if len(words) != 1 or len(raw_words) != 1:
        return None
    quotes = words[0].count("'") + words[0].count('"')
    raw_quotes = raw_words[0].count("'") + raw_words[0].count('"')
    return Heredoc(words[0], expand=quotes == raw_quotes, chomp=match.group(2) == "-")


# -- one instruction -----------------------------------------------------------

def _node(line, number, path, escape):
    """An Instruction from its joined text: the word, the flags, the arguments."""
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    word = parts[0]
    cmd = word.upper()
    inst = Instruction(cmd, original=line, line=number, end_line=number, path=path)
    if cmd not in INSTRUCTIONS:
        raise inst.error(f"unknown instruction: {cmd}")
    rest, flag_words = _extract_flags(parts[1] if len(parts) > 1 else "")
    rest = rest.strip()
    for flag_word in flag_words:
        name, eq, value = flag_word.partition("=")
        if name not in FLAGS.get(cmd, ()):
            raise inst.error(f"unknown flag: --{name}")
        inst.flags.append((name, value if eq else None))
    if cmd == "ONBUILD":
        _onbuild(inst, rest, number, path, escape)
    elif cmd == "HEALTHCHECK":
        _healthcheck(inst, rest, number, path)
    else:
        _arguments(inst, rest)
    _check(inst, escape)
    return inst


def _extract_flags(text):
    """Leading --words off the arguments (BuildKit's extractBuilderFlags):
    (the rest, the flag words without their --).  Quotes and \\ escapes in
    a flag are taken off; a lone -- ends the flags."""
    words, pos, n = [], 0, len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if not text.startswith("--", pos):
            return text[pos:], words
        word, quote, quoted = "", None, False
        while pos < n:
            ch = text[pos]
            if quote is None and ch.isspace():
                break
            pos += 1
            if quote is None and ch in "'\"":
                quote, quoted = ch, True
                continue
            if quote is not None and ch == quote:
                quote = None
                continue
            if ch == "\\":
                if pos == n:
                    continue
                ch = text[pos]
                pos += 1
            word += ch
        if word == "--":
            return text[pos:], words
        if word or quoted:
            words.append(word[2:])


def _parse_json(text):
    """The list of a JSON array of strings, None when `text` is no JSON array
    (then it is shell form), an error when the array holds non-strings."""
    text = text.lstrip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise ValueError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")  # Go's decoder knows no NaN/Infinity


def _arguments(inst, rest):
    if inst.cmd in _JSON_FORM:
        try:
            value = _parse_json(rest)
        except ValueError as e:
            raise inst.error(str(e)) from None
        if value is not None:
            inst.args, inst.json_form = value, True
            return
    inst.args = [rest] if rest else []


def _onbuild(inst, rest, number, path, escape):
    if not rest:
        raise inst.error("ONBUILD requires at least one argument")
    trigger = _WHITESPACE.split(rest, maxsplit=1)[0].upper()
    if trigger == "ONBUILD":
        raise inst.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise inst.error(f"{trigger} isn't allowed as an ONBUILD trigger")
    inst.inner = _node(rest, number, path, escape)
    inst.args = [_ONBUILD_PREFIX.sub("", inst.original, count=1)]


def _healthcheck(inst, rest, number, path):
    if not rest:
        raise inst.error("HEALTHCHECK requires at least one argument")
    parts = re.split(r"\s+", rest, maxsplit=1)
    kind, command = parts[0].upper(), (parts[1] if len(parts) > 1 else "")
    if kind == "NONE":
        if command:
            raise inst.error("HEALTHCHECK NONE takes no arguments")
        inst.args = ["NONE"]
        return
    if kind != "CMD":
        raise inst.error(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    inner = Instruction("CMD", original=command, line=number, end_line=number, path=path)
    _arguments(inner, command)
    if not inner.args:
        raise inst.error("Missing command after HEALTHCHECK CMD")
    inst.inner, inst.json_form, inst.args = inner, inner.json_form, ["CMD", *inner.args]


def _check(inst, escape):
    """Argument counts and shapes, as BuildKit's instructions.Parse checks them."""
    cmd, args = inst.cmd, inst.args
    if cmd in _AT_LEAST_ONE and not args:
        raise inst.error(f"{cmd} requires at least one argument")
    if cmd in _EXACTLY_ONE and len(args) != 1:
        raise inst.error(f"{cmd} requires exactly one argument")
    if cmd == "SHELL" and not inst.json_form:
        raise inst.error("SHELL requires the arguments to be in JSON notation")
    if cmd == "VOLUME" and any(not v.strip() for v in inst.words):
        raise inst.error("VOLUME specified can not be an empty string")
    if cmd in ("COPY", "ADD"):
        _check_copy(inst)
    if cmd == "FROM":
        _from_words(inst)
    if cmd in ("ENV", "LABEL"):
        _raw_pairs(inst, escape)
    if cmd == "ARG":
        _raw_args(inst, escape)


def _check_copy(inst):
    words = inst.words
    if len(words) < 2:
        raise inst.error(f"{inst.cmd} requires at least two arguments, but only one was provided. "
                         "Destination could not be determined")
    if not inst.json_form and parse_heredoc(words[-1]) is not None:
        raise inst.error(f"{inst.cmd} cannot accept a heredoc as a destination")


def _from_words(inst):
    """(base, stage name or None) of a FROM."""
    words = inst.words
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not _STAGE_NAME.fullmatch(name):
            raise inst.error(f'invalid name for build stage: "{words[2]}", '
                             "name can't start with a number or contain symbols")
        return words[0], name
    if len(words) != 1:
        raise inst.error("FROM requires either one or three arguments")
    return words[0], None


def _split_stages(instructions, path):
    meta_args, stages, names = [], [], set()
    for inst in instructions:
        if inst.cmd == "FROM":
            base, name = _from_words(inst)
            if name is not None:
                if name in names:
                    raise inst.error(f'duplicate stage name "{name}"')
                names.add(name)
            stages.append(Stage(len(stages), name, base, inst.flag("platform"), inst))
        elif stages:
            stages[-1].instructions.append(inst)
        elif inst.cmd == "ARG":
            meta_args.append(inst)
        else:
            raise inst.error("no build stage in current context")
    if not stages:
        last = instructions[-1]
        raise DockerfileError(path, last.line, "no build stage in current context")
    return meta_args, stages


# -- words of ENV, LABEL and ARG -----------------------------------------------

def _raw_pairs(inst, escape):
    """ENV/LABEL's (name, value) before expansion: `k=v ...`, or the legacy
    `k v w` (one pair, the value is the rest of the line)."""
    text = inst.args[0] if inst.args else ""
    words = split_words(text, escape)
    if not words:
        raise inst.error(f"{inst.cmd} requires at least one argument")
    if "=" not in words[0]:
        parts = _WHITESPACE.split(text, maxsplit=1)
        if len(parts) < 2:
            raise inst.error(f"{inst.cmd} must have two arguments")
        pairs = [(parts[0], parts[1])]
    else:
        pairs = []
        for word in words:
            if "=" not in word:
                raise inst.error(f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value')
            name, _, value = word.partition("=")
            pairs.append((name, value))
    if any(not name for name, _ in pairs):
        raise inst.error(f"{inst.cmd} names can not be blank")
    return pairs


def _raw_args(inst, escape):
    """ARG's (name, default or None) before expansion."""
    pairs = []
    for word in split_words(inst.args[0] if inst.args else "", escape):
        name, eq, value = word.partition("=")
        if not name:
            raise inst.error("ARG names can not be blank")
        pairs.append((name, value if eq else None))
    if not pairs:
        raise inst.error("ARG requires at least one argument")
    return pairs


def _expand_in(inst, word, env, escape):
    try:
        return expand(word, env, escape)
    except ExpandError as e:
        raise InstructionExpandError(inst.path, inst.line, str(e)) from None


def key_values(inst, env: Mapping[str, str], escape="\\"):
    """ENV/LABEL pairs with names and values expanded.  All of them see the
    environment from before the instruction (`ENV a=1 b=$a` takes the old a),
    as docker documents."""
    pairs = []
    for name, value in _raw_pairs(inst, escape):
        name = _expand_in(inst, name, env, escape)
        if not name:
            raise inst.error(f"{inst.cmd} names can not be blank")
        pairs.append((name, _expand_in(inst, value, env, escape)))
    return pairs


def arg_pairs(inst, env: Mapping[str, str], escape="\\", build_args: "Mapping[str, str] | None" = None):
    """ARG's (name, expanded default or None).  Each default sees the ones
    before it in the same ARG (`ARG a=1 b=$a` gives b=1), as BuildKit
    dispatches them one by one; a name in `build_args` (--build-arg) is seen
    by the later defaults with that value instead of its default."""
    scope = dict(env)
    pairs = []
    for name, default in _raw_args(inst, escape):
        name = _expand_in(inst, name, scope, escape)
        if default is not None:
            default = _expand_in(inst, default, scope, escape)
        if build_args is not None and name in build_args:
            scope[name] = build_args[name]
        elif default is not None:
            scope[name] = default
        pairs.append((name, default))
    return pairs
