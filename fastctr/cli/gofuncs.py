"""The functions a `--format` template can call: text/template's builtins
(not, len, index, slice, eq, ne, lt, le, gt, ge, print, printf, println,
html, urlquery; and/or live in the executor) and the docker CLI's own
(json, split, join, title, lower, upper, pad, truncate), with Go's checks
of argument types and Go's error words."""
from fastctr.cli import gofmt
from fastctr.cli.gotemplate import FuncError, truth


class ArgTypeError(FuncError):
    """Go converts arguments to the parameter types before the call: its
    message has no `error calling` prefix."""

    prefixed = False


def _want(value, kind):
    ok = {"string": lambda v: isinstance(v, str),
          "int": lambda v: isinstance(v, int) and not isinstance(v, bool)}[kind](value)
    if not ok:
        raise ArgTypeError(f"wrong type for value; expected {kind}; got {gofmt.type_name(value)}")
    return value


def f_not(v):
    return not truth(v)


def f_len(v):
    if isinstance(v, (str, list, tuple, dict)):
        return len(v.encode() if isinstance(v, str) else v)
    raise FuncError(f"len of type {gofmt.type_name(v)}")


def f_index(item, *keys):
    for key in keys:
        if item is None:
            raise FuncError("index of untyped nil")
        if isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or isinstance(key, bool):
                raise FuncError(f"cannot index slice/array with type {gofmt.type_name(key)}")
            data = item.encode() if isinstance(item, str) else item
            if not 0 <= key < len(data):
                raise FuncError(f"index out of range: {key}")
            item = data[key]
        elif isinstance(item, dict):
            if not isinstance(key, str):
                raise FuncError(f"value has type {gofmt.type_name(key)}; should be string")
            item = item.get(key)
        else:
            raise FuncError(f"can't index item of type {gofmt.type_name(item)}")
    return item


def f_slice(item, *idx):
    if not isinstance(item, (list, tuple, str)):
        raise FuncError(f"can't slice item of type {gofmt.type_name(item)}")
    if len(idx) > 3 or len(idx) == 3 and isinstance(item, str):
        raise FuncError(f"too many slice indexes: {len(idx)}")
    bounds = [_want(i, "int") for i in idx]
    length = len(item.encode() if isinstance(item, str) else item)
    for b in bounds:
        if not 0 <= b <= length:
            raise FuncError(f"index out of range: {b}")
    if len(bounds) >= 2 and bounds[0] > bounds[1]:
        raise FuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else length
    if isinstance(item, str):
        return item.encode()[start:end].decode(errors="replace")
    return list(item[start:end])


def _kind(v):
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return None


def _comparable(a, b):
    ka, kb = _kind(a), _kind(b)
    if ka is None or kb is None:
        odd = a if ka is None else b
        raise FuncError(f"uncomparable type {gofmt.type_name(odd)}: {gofmt.value(odd, False)}")
    if ka != kb and "nil" not in (ka, kb):
        raise FuncError("incompatible types for comparison")
    return ka


def f_eq(a, *others):
    if not others:
        raise FuncError("missing argument for comparison")
    for b in others:
        _comparable(a, b)
        if a == b and type(a) is type(b) or a is None and b is None:
            return True
    return False


def f_ne(a, b):
    return not f_eq(a, b)


def _order(a, b):
    kind = _comparable(a, b)
    if kind in ("bool", "nil"):
        raise FuncError("invalid type for comparison")
    return a, b


def f_lt(a, b):
    a, b = _order(a, b)
    return a < b


def f_le(a, b):
    a, b = _order(a, b)
    return a <= b


def f_gt(a, b):
    a, b = _order(a, b)
    return a > b


def f_ge(a, b):
    a, b = _order(a, b)
    return a >= b


def f_print(*args):
    return gofmt.sprint(args)


def f_printf(fmt, *args):
    return gofmt.sprintf(_want(fmt, "string"), args)


def f_println(*args):
    return gofmt.sprintln(args)


def f_html(*args):
    text = gofmt.sprint(args)
    for a, b in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("\0", "\ufffd")):
        text = text.replace(a, b)
    return text


def f_urlquery(*args):
    from urllib.parse import quote_plus
    return quote_plus(gofmt.sprint(args))


def f_json(v):
    return gofmt.to_json(v)


def f_split(s, sep):
    s, sep = _want(s, "string"), _want(sep, "string")
    return list(s) if sep == "" else s.split(sep)


def f_join(elems, sep):
    """The docker CLI's join: a slice's elements as fmt.Sprint writes them;
    a map's values, sorted."""
    _want(sep, "string")
    if elems is None:
        return ""
    if isinstance(elems, (list, tuple)):
        return sep.join(gofmt.value(e, False) for e in elems)
    if isinstance(elems, dict):
        return sep.join(sorted(gofmt.value(e, False) for e in elems.values()))
    raise FuncError(f"expected slice, got {gofmt.type_name(elems)}")


def f_title(s):
    """strings.Title: a letter after a separator (not a letter, digit or _) goes upper case."""
    out, prev = [], " "
    for ch in _want(s, "string"):
        out.append(ch.upper() if not (prev.isalnum() or prev == "_") else ch)
        prev = ch
    return "".join(out)


def f_lower(s):
    return _want(s, "string").lower()


def f_upper(s):
    return _want(s, "string").upper()


def f_pad(s, prefix, suffix):
    s = _want(s, "string")
    return s if s == "" else " " * _want(prefix, "int") + s + " " * _want(suffix, "int")


def f_truncate(s, length):
    s, length = _want(s, "string"), _want(length, "int")
    return s if len(s) < length else s[:length]


FUNCS = {name[2:]: fn for name, fn in globals().items() if name.startswith("f_")}


def _same(v, *_):
    return v


# The docker CLI's header functions: a table's header row shows the column's
# name, not e.g. the name split or upper-cased.
HEADER_FUNCS = dict(FUNCS, **{name: _same for name in ("json", "split", "join", "title", "lower", "upper",
                                                       "truncate")})
