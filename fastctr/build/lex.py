"""Variable substitution in Dockerfile words, with BuildKit's shell lexer
semantics (frontend/dockerfile/shell/lex.go), so that a Dockerfile expands
the same under fastctr as under `docker build`.

It is not a shell: it knows quotes, the escape character and `$NAME`,
`${NAME}` and the ${NAME<modifier>word} forms BuildKit knows (`:-` `-` `:+`
`+` `:?` `?` `#` `##` `%` `%%` `/` `//`), nothing else.  One scan yields two
results, as in BuildKit: the text with quotes removed (ProcessWord, for
ENV, LABEL, WORKDIR, COPY's paths...) and that text split on whitespace
that was neither quoted nor escaped (ProcessWords, for EXPOSE).  Values
substituted unquoted split into words; quoted ones do not.

The options mirror the lexer's: `raw_quotes`/`raw_escapes` keep quotes and
escape characters in the result (the parser looks for heredoc words that
way), `skip_unset` leaves unknown variables as written, `skip_quotes`
treats quotes as plain characters (heredoc contents)."""
import re
from collections.abc import Mapping

from fastctr.errors import FastctrError

__all__ = ["ExpandError", "expand", "expand_words", "expand_heredoc", "process", "split_words"]

_SPECIAL_PARAMS = "@*#?-$!0"


class ExpandError(FastctrError):
    """A word cannot be expanded: bad syntax, or `${X:?message}` with X unset."""


class _Words:
    """Word splitting as the expansion goes (BuildKit's wordsStruct): a
    character that came from a quote or an escape never splits, an empty
    quoted word ("") does not survive on its own."""

    def __init__(self):
        self.word = ""
        self.words = []
        self.in_word = False

    def add_char(self, ch):
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text):
        self.word += text
        self.in_word = True

    def add_expanded(self, text):
        for ch in text:
            self.add_char(ch)

    def done(self):
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Lexer:
    def __init__(self, text, env, escape, raw_quotes, raw_escapes, skip_unset, skip_quotes):
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.skip_quotes = skip_quotes

    # -- the scanner: characters, "" at the end -------------------------
    def peek(self):
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self):
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    # -- the grammar -----------------------------------------------------
    def stop_on(self, stop, raw_escapes):
        """Scan up to `stop` ("" = the end), returning (text, words)."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop):
        result, words = [], _Words()
        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.done()
            if ch == "$":
                value = self.dollar()
                result.append(value)
                words.add_expanded(value)
            elif ch in "'\"" and not self.skip_quotes:
                value = self.single_quote() if ch == "'" else self.double_quote()
                result.append(value)
                words.add_raw(value)
            else:
                ch = self.next()
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self.next()
                    if not ch:  # an escape at the very end is dropped
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise ExpandError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.done()

    def single_quote(self):
        quote = self.next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self.next()
            if not ch:
                raise ExpandError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self):
        quote = self.next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self.peek()
            if not ch:
                raise ExpandError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if not following:
                    continue
                if following in ('"', "$", self.escape):  # only these are escaped inside "..."
                    ch = self.next()
            out.append(ch)

    def name(self):
        """A variable name: letters, digits, _; or all digits; or one special parameter."""
        start = self.pos
        ch = self.peek()
        if ch.isdecimal():
            while self.peek().isdecimal():
                self.next()
            return self.text[start:self.pos]
        if ch and ch in _SPECIAL_PARAMS:
            return self.next()
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            self.next()
        return self.text[start:self.pos]

    def lookup(self, name):
        if name in self.env:
            return self.env[name], True
        return "", False

    def dollar(self):
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.next()
        ch = self.peek()
        if not ch:
            raise ExpandError("syntax error: missing '}'")
        if ch in "{}:":
            raise ExpandError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "${%s}" % name
            return value
        if ch == "/":
            return self.substitute(name)
        if not ch:
            raise ExpandError("syntax error: missing '}'")
        modifier, null_is_unset = ch, False
        if ch == ":":  # BuildKit reads the word before it judges what follows the colon
            null_is_unset = True
            ch = self.next()
            modifier += ch
        elif ch not in "+-?#%":
            raise ExpandError(f"unsupported modifier ({modifier}) in substitution")
        word = self.braced_word(raw_escapes=ch in "#%")
        value, found = self.lookup(name)
        if self.skip_unset and not found:
            return "${%s%s%s}" % (name, modifier, word)
        return _apply_modifier(name, ch, modifier, null_is_unset, word, value, found)

    def braced_word(self, raw_escapes, stop="}", missing="syntax error: missing '}'"):
        try:
            word, _ = self.stop_on(stop, raw_escapes)
        except ExpandError:
            if not self.peek():
                raise ExpandError(missing) from None
            raise
        return word

    def substitute(self, name):
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = self.braced_word(True, "/", "syntax error: missing '/' in ${}")
        replacement = self.braced_word(True)
        value, found = self.lookup(name)
        if self.skip_unset and not found:
            return "${%s/%s/%s}" % (name, pattern, replacement)
        regex = _shell_pattern(pattern, greedy=True, anchored=False)
        if replace_all:
            return regex.sub(lambda _: replacement, value)
        match = regex.search(value)
        return value if match is None else value[:match.start()] + replacement + value[match.end():]


def _apply_modifier(name, ch, modifier, null_is_unset, word, value, found):
    unset = not found or (null_is_unset and value == "")
    if ch == "-":
        return word if unset else value
    if ch == "+":
        return "" if unset else word
    if ch == "?":
        if not found:
            raise ExpandError(f"{name}: {word or 'is not allowed to be unset'}")
        if null_is_unset and value == "":
            raise ExpandError(f"{name}: {word or 'is not allowed to be empty'}")
        return value
    if ch in "#%":  # one #/% takes the shortest match, two the longest
        greedy = word.startswith(ch)
        if greedy:
            word = word[1:]
        if ch == "#":
            return _trim_prefix(word, value, greedy)
        return _trim_prefix(_reverse_pattern(word), value[::-1], greedy)[::-1]
    raise ExpandError(f"unsupported modifier ({modifier}) in substitution")


def _shell_pattern(pattern, greedy, anchored):
    """BuildKit's convertShellPatternToRegex: `*` and `?` wildcards, `\\`
    escapes `*`, `?` and itself, and is dropped before `}` and `/`; no
    bracket expressions (BuildKit has none here: `[` is literal)."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
            continue
        if ch == "?":
            out.append(".")
            continue
        if ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue
            if following not in ("*", "?", "\\"):
                raise ExpandError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'")
            ch = following
            i += 1
        out.append(re.escape(ch))
    return re.compile("".join(out))


def _trim_prefix(pattern, value, greedy):
    match = _shell_pattern(pattern, greedy, anchored=True).match(value)
    return value if match is None else value[match.end():]


def _reverse_pattern(pattern):
    """Reverse a pattern keeping each escape before the character it escapes
    (a\\*c -> c\\*a): a suffix match is a prefix match on reversed strings."""
    tokens, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def process(text, env: Mapping[str, str], escape="\\", *, raw_quotes=False, raw_escapes=False,
            skip_unset=False, skip_quotes=False):
    """One scan of `text`: (the expanded text, its words)."""
    lexer = _Lexer(text, env, escape, raw_quotes, raw_escapes, skip_unset, skip_quotes)
    return lexer.stop_on("", raw_escapes)


def expand(word, env: Mapping[str, str], escape="\\"):
    """ProcessWord: `word` with variables substituted and quotes removed."""
    return process(word, env, escape)[0]


def expand_words(text, env: Mapping[str, str], escape="\\"):
    """ProcessWords: the expanded text split on unquoted, unescaped whitespace."""
    return process(text, env, escape)[1]


def expand_heredoc(content, env: Mapping[str, str]):
    """A heredoc's content as BuildKit expands it for COPY/ADD <<EOF:
    variables only, quotes are plain text, the escape is always \\."""
    return process(content, env, "\\", skip_quotes=True)[0]


def split_words(text, escape="\\"):
    """BuildKit's parseWords, how ENV, LABEL and ARG find their words before
    any expansion: split on whitespace outside quotes, quotes and escapes
    kept as written (expanding each word takes them off later)."""
    words, word, quote, in_word, quoted = [], "", None, False, False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        i += 1
        if quote is None:
            if ch.isspace():
                if word or quoted:
                    words.append(word)
                word, in_word, quoted = "", False, False
                continue
            in_word = True
            if ch in "'\"":
                quote, quoted = ch, True
            elif ch == escape:
                if i == n:
                    continue  # an escape at the end of the line is dropped
                word += ch
                ch = text[i]
                i += 1
            word += ch
        else:
            if ch == quote:
                quote = None
            elif ch == escape and quote != "'":
                if i == n:
                    continue
                word += ch
                ch = text[i]
                i += 1
            word += ch
    if in_word and (word or quoted):
        words.append(word)
    return words
