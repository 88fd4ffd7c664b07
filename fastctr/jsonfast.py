"""json for the start path, without the json package.

`import json` pulls in json.decoder, which compiles regular expressions at
import: `re`, `enum` and friends cost ~25 ms of a ~20 ms interpreter start
here, on every `fastctr run`.  The C accelerators in _json are what the json
package uses anyway; this wraps them.  Pretty-printing (indent) and errors
fall back to the json package, off the hot path."""
import _json

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _DecoderContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo = None


def _not_serializable(obj):
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_scan = _json.make_scanner(_DecoderContext())
_WHITESPACE = " \t\n\r"


def _encoder(separators):
    item, key = separators
    return _json.make_encoder(None, _not_serializable, _json.encode_basestring_ascii, None, key, item,
                              False, False, True)


_compact = _encoder((",", ":"))
_spaced = _encoder((", ", ": "))
# Sorted keys, no spaces: the same text for equal documents (cache keys).
_canonical = _json.make_encoder(None, _not_serializable, _json.encode_basestring_ascii, None, ":", ",",
                                True, False, True)


def canonical(obj):
    return "".join(_canonical(obj, 0))


def loads(s):
    """A JSON document -> Python; bad input raises ValueError (json's
    JSONDecodeError, or UnicodeDecodeError for bytes that are not UTF-8)."""
    if isinstance(s, (bytes, bytearray)):
        s = s.decode()
    start = len(s) - len(s.lstrip(_WHITESPACE))
    try:
        obj, end = _scan(s, start)
    except (StopIteration, SystemError):
        # The scanner builds its error from json.decoder, which it looks up
        # in sys.modules without importing it: before that module is loaded
        # a syntax error inside a document is a SystemError.  The json
        # package then parses again and raises its own JSONDecodeError.
        import json
        return json.loads(s)
    if s[end:].strip(_WHITESPACE):
        import json
        return json.loads(s)
    return obj


def head(s, stop):
    """The members of the JSON object `s` that come before its member
    `stop`, parsed without the rest: a big member written last costs
    nothing to skip.  None when `s` is no object with `stop` at its top
    (or is malformed before it)."""
    out = {}
    try:
        if isinstance(s, (bytes, bytearray)):
            s = s.decode()
        i = _skip(s, 0)
        if s[i] != "{":
            return None
        i = _skip(s, i + 1)
        while s[i] == '"':
            key, i = _json.scanstring(s, i + 1, True)
            i = _skip(s, i)
            if s[i] != ":":
                return None
            if key == stop:
                return out
            out[key], i = _scan(s, _skip(s, i + 1))
            i = _skip(s, i)
            if s[i] != ",":
                return None
            i = _skip(s, i + 1)
        return None
    except (StopIteration, SystemError, ValueError, IndexError):
        return None


def _skip(s, i):
    while s[i] in _WHITESPACE:
        i += 1
    return i


def load_path(path, what=None):
    """Parse the JSON file at path; an unreadable or malformed file is a
    one-line DocumentError that names it (what: "seccomp profile"...)."""
    from fastctr.errors import DocumentError
    label = f"{what} {path}" if what else path
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DocumentError(f"{label}: {e.strerror or e}") from None
    try:
        return loads(data)
    except ValueError as e:
        raise DocumentError(f"{label}: not valid JSON: {e}") from None


def dumps(obj, separators=None, indent=None):
    if indent is not None:
        if separators is None and isinstance(indent, int):
            return "".join(_indented(obj, " " * indent, "\n"))
        import json
        return json.dumps(obj, separators=separators, indent=indent)
    encode = _compact if separators == (",", ":") else _spaced
    return "".join(encode(obj, 0))


def _indented(obj, step, newline):
    """json.dumps(obj, indent=len(step)), text for text, in pieces: `runc
    state` prints its document so on every call."""
    if isinstance(obj, dict) and obj:
        if not all(isinstance(key, str) for key in obj):  # json's own rules for other keys
            import json
            yield json.dumps(obj, indent=len(step)).replace("\n", newline)
            return
        inner = newline + step
        yield "{"
        first = True
        for key, value in obj.items():
            yield (inner if first else "," + inner) + _compact(key, 0)[0] + ": "
            yield from _indented(value, step, inner)
            first = False
        yield newline + "}"
    elif isinstance(obj, (list, tuple)) and obj:
        inner = newline + step
        yield "["
        for i, value in enumerate(obj):
            yield inner if i == 0 else "," + inner
            yield from _indented(value, step, inner)
        yield newline + "]"
    else:
        yield from _compact(obj, 0)


def load(f):
    return loads(f.read())


def dump(obj, f, separators=None, indent=None):
    f.write(dumps(obj, separators=separators, indent=indent))
