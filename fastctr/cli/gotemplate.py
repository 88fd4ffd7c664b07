"""Go's text/template, as `--format` of the docker CLI runs it: the lexer
and parser (text, {{- trim markers -}}, comments, if/else if/else, range
with $i, $v :=, break/continue, with/else with, variables, pipelines,
parenthesised calls, fields on dicts) and the executor; the functions are
in gofuncs.  Error messages have Go's shape: `template: :1:2: executing ""
at <.Foo>: map has no entry for key "Foo"`."""
import re

from fastctr.cli import gofmt


class TemplateError(ValueError):
    pass


# ---- lexer ----

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)+')
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][-+]?\d+)?))
  | (?P<field>(?:\.[A-Za-z_]\w*)+)
  | (?P<dot>\.)
  | (?P<var>\$\w*)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
""", re.S | re.X)

_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue", "nil",
             "true", "false"}


class Tok:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind, text, pos):
        self.kind, self.text, self.pos = kind, text, pos


def _lex(src):
    """[("text", str, pos) | ("action", [Tok], pos)] with trim markers applied."""
    items, pos = [], 0
    while True:
        start = src.find("{{", pos)
        if start < 0:
            items.append(("text", src[pos:], pos))
            return [i for i in items if i[0] != "text" or i[1]]
        text = src[pos:start]
        inner = start + 2
        if src.startswith("- ", inner) or src.startswith("-\t", inner) or src.startswith("-\n", inner) \
                or src.startswith("-\r", inner):
            text = text.rstrip(" \t\r\n")
            inner += 1
        items.append(("text", text, pos))
        end, toks, trim_after = _lex_action(src, inner, start)
        if toks is not None:
            items.append(("action", toks, start))
        pos = end
        if trim_after:
            while pos < len(src) and src[pos] in " \t\r\n":
                pos += 1


def _lex_action(src, i, start):
    toks = []
    comment_only = False
    while True:
        if src.startswith(" -}}", i) or src.startswith("\t-}}", i) or src.startswith("\n-}}", i) \
                or src.startswith("\r-}}", i):
            return i + 4, (None if comment_only and not toks else toks), True
        if src.startswith("}}", i):
            return i + 2, (None if comment_only and not toks else toks), False
        if i >= len(src):
            raise TemplateError(f"template: :{_line(src, start)}: unclosed action")
        m = _TOKEN.match(src, i)
        if not m:
            raise TemplateError(f"template: :{_line(src, i)}: unexpected {src[i]!r} in command")
        kind = m.lastgroup
        if kind == "comment":
            comment_only = True
        elif kind != "space":
            if kind == "ident" and m.group() in _KEYWORDS:
                kind = m.group()
            toks.append(Tok(kind, m.group(), i))
        i = m.end()


def _line(src, pos):
    return src.count("\n", 0, pos) + 1


# ---- parser: nodes are tuples (kind, ...) ----

class Parser:
    def __init__(self, src):
        self.src = src
        self.items = _lex(src)
        self.i = 0
        self.ranges = 0  # how deep in {{range}}: break and continue need one

    def parse(self):
        body, stop = self._list(())
        if stop is not None:
            raise self._error(stop, f"unexpected {{{{{stop[1][0].text}}}}}")
        return body

    def _error(self, item, message):
        return TemplateError(f"template: :{_line(self.src, item[2])}: {message}")

    def _list(self, stops):
        """Nodes up to a {{end}}/{{else}} (returned as the stop item)."""
        nodes = []
        while self.i < len(self.items):
            item = self.items[self.i]
            self.i += 1
            if item[0] == "text":
                nodes.append(("text", item[1]))
                continue
            toks = item[1]
            if not toks:
                raise self._error(item, "missing value for command")
            word = toks[0].kind
            if word in ("end", "else"):
                if word not in stops:
                    raise self._error(item, f"unexpected {{{{{word}}}}}")
                return nodes, item
            if word in ("if", "with", "range"):
                self.ranges += word == "range"
                nodes.append(self._control(word, toks, item))
                self.ranges -= word == "range"
            elif word in ("break", "continue"):
                if not self.ranges:
                    raise self._error(item, f"{{{{{word}}}}} outside {{{{range}}}}")
                nodes.append((word, item[2]))
            elif word in ("define", "template", "block"):
                raise self._error(item, f"{{{{{word}}}}} is not supported in --format")
            else:
                nodes.append(("action", self._pipeline(toks, item, decl_ok=True), item[2]))
        if stops:
            raise TemplateError(f"template: :{_line(self.src, len(self.src))}: unexpected EOF")
        return nodes, None

    def _control(self, word, toks, item):
        pipe = self._pipeline(toks[1:], item, decl_ok=True, range_ok=word == "range", context=word)
        body, stop = self._list(("end", "else"))
        other = []
        if stop[1][0].kind == "else":
            rest = stop[1][1:]
            if rest and rest[0].kind in ("if", "with") and word in ("if", "with"):
                # {{else if x}} / {{else with x}}: a nested control that shares our {{end}}
                other = [self._control(rest[0].kind, rest, stop)]
            else:
                if rest:
                    raise self._error(stop, "unexpected tokens after else")
                other, stop = self._list(("end", "else"))
                if stop[1][0].kind != "end" or len(stop[1]) > 1:
                    raise self._error(stop, "expected end; found {{" + " ".join(t.text for t in stop[1]) + "}}")
        elif stop[1][0].kind == "else":
            raise self._error(stop, "expected end; found {{else}}")
        elif len(stop[1]) > 1:
            raise self._error(stop, "unexpected tokens after end")
        return (word, pipe, body, other, item[2])

    def _pipeline(self, toks, item, decl_ok=False, range_ok=False, context="command"):
        decl = []
        assign = False
        # $x := ... / $i, $v := ... / $x = ...
        if decl_ok and toks and toks[0].kind == "var":
            if len(toks) > 1 and toks[1].kind in ("decl", "assign"):
                decl, assign, toks = [toks[0].text], toks[1].kind == "assign", toks[2:]
            elif range_ok and len(toks) > 3 and toks[1].kind == "comma" and toks[2].kind == "var" \
                    and toks[3].kind in ("decl", "assign"):
                decl, assign, toks = [toks[0].text, toks[2].text], toks[3].kind == "assign", toks[4:]
            elif range_ok and len(toks) > 4 and toks[1].kind == toks[3].kind == "comma":
                raise self._error(item, "too many declarations in range")
        if not toks:
            raise self._error(item, f"missing value for {context}")
        commands, current = [], []
        depth = 0
        for t in toks:
            if t.kind == "pipe" and depth == 0:
                if not current:
                    raise self._error(item, 'unexpected "|" in command')
                commands.append(current)
                current = []
                continue
            depth += t.kind == "lparen"
            depth -= t.kind == "rparen"
            current.append(t)
        if current:  # Go takes a trailing | as nothing more
            commands.append(current)
        if not commands:
            raise self._error(item, "missing command")
        for n, c in enumerate(commands[1:], 2):
            if c[0].kind not in ("ident", "field", "var", "lparen", "dot"):
                raise self._error(item, f"non executable command in pipeline stage {n}")
        return ("pipeline", decl, assign, [self._command(c, item) for c in commands])

    def _command(self, toks, item):
        operands, i = [], 0
        while i < len(toks):
            node, i = self._operand(toks, i, item)
            operands.append(node)
        end = toks[-1].pos + len(toks[-1].text)
        return ("command", operands, toks[0].pos, self.src[toks[0].pos:end])

    def _operand(self, toks, i, item):
        t = toks[i]
        if t.kind == "lparen":
            depth, j = 1, i + 1
            while j < len(toks) and depth:
                depth += toks[j].kind == "lparen"
                depth -= toks[j].kind == "rparen"
                j += 1
            if depth:
                raise self._error(item, "unclosed left paren")
            node = self._pipeline(toks[i + 1:j - 1], item)
            i = j
        elif t.kind == "rparen":
            raise self._error(item, 'unexpected ")" in command')
        elif t.kind in ("decl", "assign", "comma"):
            raise self._error(item, f"unexpected {t.text!r} in operand")
        else:
            node = self._term(t, item)
            i += 1
        # (pipeline).Field / $x.Field: a field chain on the term
        while i < len(toks) and toks[i].kind == "field" and toks[i].pos == toks[i - 1].pos + len(toks[i - 1].text):
            node = ("chain", node, toks[i].text[1:].split("."), toks[i].pos)
            i += 1
        return node, i

    def _term(self, t, item):
        if t.kind == "field":
            names = t.text[1:].split(".")
            # Go's parser puts a chained field at its second element
            return ("field", names, t.pos + 1 + len(names[0]) if len(names) > 1 else t.pos)
        if t.kind == "dot":
            return ("dot",)
        if t.kind == "var":
            return ("var", t.text, t.pos)
        if t.kind == "ident":
            return ("ident", t.text, t.pos)
        if t.kind in ("true", "false"):
            return ("const", t.kind == "true")
        if t.kind == "nil":
            return ("nil",)
        if t.kind == "string":
            return ("const", _unquote(t.text[1:-1], item, self))
        if t.kind == "raw":
            return ("const", t.text[1:-1])
        if t.kind == "char":
            text = _unquote(t.text[1:-1], item, self)
            if len(text) != 1:  # Go: one character between the quotes
                raise self._error(item, f"malformed character constant: {t.text}")
            return ("const", ord(text))
        if t.kind == "number":
            return ("const", _number(t.text, item, self))
        raise self._error(item, f"unexpected {t.text!r} in operand")


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
            "'": "'"}


def _unquote(body, item, parser):
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1:i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in _CODE_DIGITS or nxt.isdigit():
            ch, i = _escaped_code(body, i, item, parser)
            out.append(ch)
        else:
            raise parser._error(item, f"invalid syntax: unknown escape \\{nxt}")
    return "".join(out)


_CODE_DIGITS = {"x": 2, "u": 4, "U": 8}  # \xHH \uHHHH \UHHHHHHHH; \OOO is octal


def _escaped_code(body, i, item, parser):
    """The character of the numeric escape at body[i] and where the text
    goes on; a short, non-digit or out-of-Unicode code is Go's syntax error."""
    nxt = body[i + 1]
    start, width, base = (i + 2, _CODE_DIGITS[nxt], 16) if nxt in _CODE_DIGITS else (i + 1, 3, 8)
    digits = body[start:start + width]
    try:
        if len(digits) != width:
            raise ValueError(digits)
        return chr(int(digits, base)), start + width
    except (ValueError, OverflowError):
        raise parser._error(item, f"invalid syntax: bad escape in {body!r}") from None


def _number(text, item, parser):
    t = text.replace("_", "")
    try:
        if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", t):
            return int(t, 16)
        if re.fullmatch(r"[-+]?0[bB][01]+", t):
            return int(t, 2)
        if re.fullmatch(r"[-+]?0[oO][0-7]+", t):
            return int(t, 8)
        if re.fullmatch(r"[-+]?\d+", t):
            return int(t, 8) if len(t.lstrip("+-")) > 1 and t.lstrip("+-").startswith("0") else int(t)
        return float(t)
    except ValueError:
        raise parser._error(item, f"bad number syntax: {text!r}") from None


# ---- executor ----

class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_NO_FINAL = object()  # the first command of a pipeline gets no piped value


class Template:
    """A parsed template; `funcs` maps names to Python callables (and, or
    are built in: they stop at the first decisive argument, as Go's do)."""

    def __init__(self, src, funcs):
        self.src = src
        self.funcs = funcs
        self.tree = Parser(src).parse()
        self._check_functions(self.tree)
        self._flat = _flat(self.tree)

    def _check_functions(self, nodes):
        for node in _walk_nodes(nodes):
            if node[0] == "ident" and node[1] not in self.funcs and node[1] not in ("and", "or"):
                raise TemplateError(f"template: :{_line(self.src, node[2])}: function {node[1]!r} not defined"
                                    .replace("'", '"'))

    def top_fields(self):
        """The fields of the data the template reads, when it reads nothing
        else of it (no `.` or `$` on its own, no range or with, which move
        the dot): a list row needs only these computed.  None otherwise."""
        names = set()
        for node in _walk_nodes(self.tree):
            if node[0] in ("dot", "var", "range", "with"):
                return None
            if node[0] == "field":
                names.add(node[1][0])
        return names

    def execute(self, data, missing="error"):
        if self._flat is not None and isinstance(data, dict) and all(key in data for key in self._flat[1]):
            # Text and {{.Field}} only, as `ps`'s default columns: one join per row.
            return "".join(gofmt.value(data[part]) if is_field else part for is_field, part in self._flat[0])
        run = _Run(self, missing)
        out = []
        try:
            run.walk(data, self.tree, out, [("$", data)])
        except (_Break, _Continue):
            raise TemplateError("template: :1: break or continue outside range") from None
        return "".join(out)


def _flat(tree):
    """([(is_field, text or field name)], names) of text and {{.Field}} only; else None."""
    parts = []
    for node in tree:
        operands = node[1][3][0][1] if node[0] == "action" and not node[1][1] and len(node[1][3]) == 1 else ()
        if node[0] != "text" and (len(operands) != 1 or operands[0][0] != "field" or len(operands[0][1]) != 1):
            return None
        parts.append((False, node[1]) if node[0] == "text" else (True, operands[0][1][0]))
    return parts, {part for is_field, part in parts if is_field}


def _walk_nodes(nodes):
    stack = list(nodes) if isinstance(nodes, list) else [nodes]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            yield node
            stack.extend(x for x in node[1:] if isinstance(x, (tuple, list)))
        elif isinstance(node, list):
            stack.extend(node)


class _Run:
    def __init__(self, tmpl, missing):
        self.tmpl, self.missing = tmpl, missing

    def error(self, pos, context, message):
        src = self.tmpl.src
        col = pos - (src.rfind("\n", 0, pos) + 1)
        return TemplateError(f'template: :{_line(src, pos)}:{col}: executing "" at <{context}>: {message}')

    def walk(self, dot, nodes, out, scope):
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                value = self.pipeline(dot, node[1], scope)
                if not node[1][1]:  # an action that declares a variable prints nothing
                    out.append(gofmt.value(value))
            elif kind in ("if", "with"):
                self.control(kind, dot, node, out, scope)
            elif kind == "range":
                self.range(dot, node, out, scope)
            elif kind == "break":
                raise _Break()
            elif kind == "continue":
                raise _Continue()

    def control(self, kind, dot, node, out, scope):
        mark = len(scope)
        value = self.pipeline(dot, node[1], scope)
        if truth(value):
            self.walk(value if kind == "with" else dot, node[2], out, scope)
        else:
            self.walk(dot, node[3], out, scope)
        del scope[mark:]

    def range(self, dot, node, out, scope):
        _, pipe, body, other, pos = node
        decl = pipe[1]
        value = self.pipeline(dot, ("pipeline", [], False, pipe[3]), scope)
        items = self.iterate(value, pipe[3][-1])
        mark = len(scope)
        for key, elem in items:
            del scope[mark:]
            if len(decl) == 1:
                self.bind(scope, decl[0], elem, pipe[2])
            elif len(decl) == 2:
                self.bind(scope, decl[0], key, pipe[2])
                self.bind(scope, decl[1], elem, pipe[2])
            try:
                self.walk(elem, body, out, scope)
            except _Continue:
                continue
            except _Break:
                break
        del scope[mark:]
        if not items:
            self.walk(dot, other, out, scope)

    def iterate(self, value, cmd):
        if value is None:
            return []
        if isinstance(value, (list, tuple)):
            return list(enumerate(value))
        if isinstance(value, dict):
            return [(k, value[k]) for k in sorted(value, key=gofmt._key)]
        if isinstance(value, int) and not isinstance(value, bool):
            return [(i, i) for i in range(value)]
        raise self.error(cmd[2], cmd[3], f"range can't iterate over {gofmt.value(value, False)}")

    def bind(self, scope, name, value, assign):
        if assign:
            for i in range(len(scope) - 1, -1, -1):
                if scope[i][0] == name:
                    scope[i] = (name, value)
                    return
        scope.append((name, value))

    def pipeline(self, dot, pipe, scope):
        _, decl, assign, commands = pipe
        value = _NO_FINAL
        for cmd in commands:
            value = self.command(dot, cmd, value, scope)
        if decl:
            self.bind(scope, decl[0], value, assign)
        return value

    def command(self, dot, cmd, final, scope):
        _, operands, pos, text = cmd
        first = operands[0]
        args = operands[1:]
        kind = first[0]
        if kind == "ident":
            return self.call(dot, first[1], args, final, scope, pos, text)
        if kind in ("field", "chain"):
            if args or final is not _NO_FINAL:
                name = first[1][-1] if kind == "field" else first[2][-1]
                raise self.error(pos, text.split()[0], f"{name} is not a method but has arguments")
            return self.arg(dot, first, scope)
        if args or final is not _NO_FINAL:
            if kind == "nil":
                raise self.error(pos, text, "nil is not a command")
            raise self.error(pos, text.split()[0], f"can't give argument to non-function {text.split()[0]}")
        if kind == "nil":
            raise self.error(pos, text, "nil is not a command")
        return self.arg(dot, first, scope)

    def arg(self, dot, node, scope):
        kind = node[0]
        if kind == "const":
            return node[1]
        if kind == "dot":
            return dot
        if kind == "nil":
            return None
        if kind == "field":
            return self.fields(dot, node[1], node[2], "." + ".".join(node[1]))
        if kind == "var":
            return self.variable(node[1], node[2], scope)
        if kind == "chain":
            return self.fields(self.arg(dot, node[1], scope), node[2], node[3], "." + ".".join(node[2]))
        if kind == "pipeline":
            return self.pipeline(dot, node, scope)
        if kind == "ident":
            return self.call(dot, node[1], [], _NO_FINAL, scope, node[2], node[1])
        raise TemplateError(f"template: cannot evaluate {kind}")

    def variable(self, name, pos, scope):
        for var, value in reversed(scope):
            if var == name:
                return value
        raise TemplateError(f'template: :{_line(self.tmpl.src, pos)}: undefined variable "{name}"')

    def fields(self, value, names, pos, context):
        for name in names:
            if isinstance(value, dict):
                if name in value:
                    value = value[name]
                elif self.missing == "error":
                    raise self.error(pos, context, f'map has no entry for key "{name}"')
                elif self.missing.startswith("*"):  # the row stands for a Go struct of that type
                    raise self.error(pos, context, f"can't evaluate field {name} in type {self.missing}")
                else:
                    value = None
            elif value is None:
                raise self.error(pos, context, f"nil pointer evaluating interface {{}}.{name}")
            else:
                # a value read from a JSON object has Go's static type interface {}
                raise self.error(pos, context, f"can't evaluate field {name} in type interface {{}}")
        return value

    def call(self, dot, name, args, final, scope, pos, text):
        if name in ("and", "or"):
            return self.and_or(dot, name, args, final, scope, pos, text)
        fn = self.tmpl.funcs[name]
        values = [self.arg(dot, a, scope) for a in args]
        if final is not _NO_FINAL:
            values.append(final)
        code = fn.__code__
        varargs = bool(code.co_flags & 0x04)
        if len(values) < code.co_argcount or not varargs and len(values) > code.co_argcount:
            want = f"at least {code.co_argcount}" if varargs else str(code.co_argcount)
            raise self.error(pos, text, f"wrong number of args for {name}: want {want} got {len(values)}")
        try:
            return fn(*values)
        except FuncError as e:
            raise self.error(pos, text, f"error calling {name}: {e}" if e.prefixed else str(e)) from None

    def and_or(self, dot, name, args, final, scope, pos, text):
        nodes = list(args)
        if len(nodes) + (final is not _NO_FINAL) < 1:
            raise self.error(pos, text, f"wrong number of args for {name}: want at least 1 got 0")
        value = None
        for i, node in enumerate(nodes + ([("const", final)] if final is not _NO_FINAL else [])):
            value = self.arg(dot, node, scope)
            if truth(value) == (name == "or"):
                return value
        return value


class FuncError(Exception):
    """A template function's complaint: Go shows it as `error calling NAME: ...`."""

    prefixed = True


def truth(v):
    """text/template's truth: false, 0, nil and empty are false."""
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, tuple, dict)):
        return len(v) > 0
    return True
