"""Go's printing of values, as `docker ... --format` output shows them:
fmt's %v (maps as map[k:v] with sorted keys, slices as [a b], nil as
<nil>, floats as strconv's shortest 'g'), Sprint/Sprintln/Sprintf with Go's
verbs and flags, and encoding/json as the docker CLI's `json` function
writes it.  Values are what JSON decodes to: dict, list, str, int, float,
bool, None."""
import re

from fastctr import jsonfast as json


def type_name(v):
    """The Go type a JSON-decoded value has (for error messages and %T)."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return type(v).__name__


def value(v, top=True):
    """fmt's %v.  A nil at the top of a template action is `<no value>`
    (text/template's word), inside a map or slice `<nil>`."""
    if v is None:
        return "<no value>" if top else "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(value(x, False) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{value(k, False)}:{value(v[k], False)}" for k in sorted(v, key=_key)) + "]"
    return str(v)


def _key(k):
    return (0, k, "") if isinstance(k, (int, float)) and not isinstance(k, bool) else (1, 0, str(k))


def go_float(f, verb="g", prec=-1):
    """strconv.FormatFloat(f, 'g', -1, 64): the shortest digits that read
    back, in exponent form when the exponent is < -4 or >= 6 (21 for 'v' of
    JSON numbers is not Go's fmt: fmt uses 6)."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if prec >= 0:
        text = f"{f:.{prec}{verb}}"
        return _go_exponent(text)
    digits = repr(f)
    mantissa, _, exp = digits.partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    mantissa = mantissa.lstrip("-")
    whole, _, frac = mantissa.partition(".")
    if frac == "0":
        frac = ""
    number = (whole + frac).lstrip("0") or "0"
    # decimal exponent of the first significant digit
    point = len(whole) + (int(exp) if exp else 0)
    lead = len(whole + frac) - len((whole + frac).lstrip("0"))
    e = point - lead - 1
    number = number.rstrip("0") or "0"
    if number == "0":
        return sign + "0"
    if e < -4 or e >= 6:
        m = number[0] + ("." + number[1:] if len(number) > 1 else "")
        return f"{sign}{m}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if e < 0:
        return sign + "0." + "0" * (-e - 1) + number
    if len(number) <= e + 1:
        return sign + number + "0" * (e + 1 - len(number))
    return sign + number[:e + 1] + "." + number[e + 1:]


def _go_exponent(text):
    """Python writes e+5, Go e+05: both have at least two digits... Python
    does too; kept for inf/nan words."""
    return text.replace("inf", "Inf").replace("nan", "NaN")


class Context(dict):
    """A row of a list command: one of the docker CLI's formatter contexts,
    whose MarshalJSON goes through json.Marshal, which escapes <, > and &."""


def to_json(v):
    """The docker CLI's `json`: encoding/json without HTML escaping, no
    trailing newline (non-ASCII is written as \\u escapes, which decode the same)."""
    text = _UNESCAPE.sub(_unescape, json.dumps(v, separators=(",", ":")))
    if isinstance(v, Context):  # only inside strings can these be: escaping them keeps the JSON valid
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


# jsonfast writes non-ASCII as \\uXXXX (pairs for astral characters); Go writes UTF-8
_UNESCAPE = re.compile(r"(\\\\)|\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|\\u([0-9a-f]{4})")


def _unescape(m):
    if m.group(1):
        return m.group(1)
    if m.group(2):
        return chr(0x10000 + ((int(m.group(2), 16) - 0xD800) << 10) + int(m.group(3), 16) - 0xDC00)
    code = int(m.group(4), 16)
    if code < 0x80 or code in (0x2028, 0x2029) or 0xD800 <= code < 0xE000:
        return m.group(0)  # control characters and line separators stay escaped, as Go's
    return chr(code)


def sprint(args):
    """fmt.Sprint: a space between operands when neither is a string."""
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(value(a, False))
    return "".join(out)


def sprintln(args):
    return " ".join(value(a, False) for a in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d+)?)?([a-zA-Z%])")


def sprintf(fmt, args):
    """fmt.Sprintf with Go's verbs and its %!v(...) complaints."""
    out, pos, i = [], 0, 0
    args = list(args)
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if _too_large(width) or _too_large(prec):
            # Go's parsenum gives up on a number past 1e6 and takes the rest of
            # the format with it: no verb is left.
            out.append("%!(NOVERB)")
            pos = len(fmt)
            break
        if width == "*":
            width, i = _star(args, i), i + 1
            if width is None:
                out.append("%!(BADWIDTH)")
            elif width.startswith("-"):  # Go: a negative * width pads on the right
                flags, width = flags + "-", width[1:]
        if prec == "*":
            prec, i = _star(args, i), i + 1
            if prec is None or prec.startswith("-"):
                out.append("%!(BADPREC)")
                prec = None
        if i >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg, i = args[i], i + 1
        has_prec = m.group(0).count(".") > 0
        out.append(_pad(_verb(verb, arg, flags, int(prec) if prec else (0 if has_prec else None)), flags, width))
    out.append(fmt[pos:])
    if i < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{type_name(a)}={value(a, False)}" for a in args[i:]) + ")")
    return "".join(out)


_GO_NUMBER_LIMIT = 10 ** 6  # fmt's tooLarge: widths and precisions beyond it are refused


def _star(args, i):
    """The text of the int argument a * stands for; None when there is none
    or it is not an int within Go's limit (BADWIDTH/BADPREC)."""
    if i >= len(args) or not isinstance(args[i], int) or isinstance(args[i], bool):
        return None
    return None if abs(args[i]) > _GO_NUMBER_LIMIT else str(args[i])


def _too_large(number):
    return bool(number) and number.lstrip("-").isdigit() and abs(int(number)) > _GO_NUMBER_LIMIT


def _pad(text, flags, width):
    if not width:
        return text
    n = int(width)
    if "-" in flags:
        return text.ljust(n)
    if "0" in flags and text[:1] in "+-" and text[1:2].isdigit():
        return text[0] + text[1:].rjust(n - 1, "0")
    if "0" in flags and text[:1].isdigit():
        return text.rjust(n, "0")
    return text.rjust(n)


def _bad(verb, arg):
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(arg)}={value(arg, False)})"


def _rune(code):
    """A rune as Go writes it: U+FFFD for what is no Unicode scalar value
    (negative, past U+10FFFF or a surrogate), as utf8.AppendRune does."""
    if 0 <= code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
        return chr(code)
    return "\ufffd"


def _verb(verb, arg, flags, prec):
    is_int = isinstance(arg, int) and not isinstance(arg, bool)
    if verb == "v":
        if isinstance(arg, str) and "#" in flags:
            return quote(arg)
        return value(arg, False)
    if verb == "T":
        return type_name(arg)
    if verb == "s":
        if isinstance(arg, (list, tuple)):
            return "[" + " ".join(_verb("s", x, flags, prec) for x in arg) + "]"
        if not isinstance(arg, str):
            return _bad(verb, arg)
        return arg[:prec] if prec is not None else arg
    if verb == "q":
        if isinstance(arg, str):
            return quote(arg)
        if is_int:
            return "'" + _rune(arg) + "'"
        if isinstance(arg, (list, tuple)):
            return "[" + " ".join(_verb("q", x, flags, prec) for x in arg) + "]"
        return _bad(verb, arg)
    if verb == "t":
        return ("true" if arg else "false") if isinstance(arg, bool) else _bad(verb, arg)
    if verb in "dboxXc":
        if isinstance(arg, str) and verb in "xX":
            text = arg.encode().hex()
            return text.upper() if verb == "X" else text
        if not is_int:
            return _bad(verb, arg)
        sign = "+" if "+" in flags and arg >= 0 else (" " if " " in flags and arg >= 0 else "")
        if verb == "c":
            return _rune(arg)
        body = {"d": "{:d}", "b": "{:b}", "o": "{:o}", "x": "{:x}", "X": "{:X}"}[verb].format(abs(arg))
        if "#" in flags and verb in "xXo":
            body = {"x": "0x", "X": "0X", "o": "0"}[verb] + body
        return ("-" if arg < 0 else sign) + body
    if verb in "eEfFgG":
        if is_int:
            return f"%!{verb}(int={arg})"
        if not isinstance(arg, float):
            return _bad(verb, arg)
        sign = "+" if "+" in flags and arg >= 0 else ""
        if verb in "gG" and prec is None:
            text = go_float(arg)
            return sign + (text.upper() if verb == "G" else text)
        p = 6 if prec is None else prec
        return sign + _go_exponent(f"{arg:.{p}{verb.lower() if verb == 'F' else verb}}")
    return f"%!{verb}({type_name(arg)}={value(arg, False)})"


def quote(s):
    """strconv.Quote: Go's escapes, printable Unicode kept."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif code < 0x20 or code == 0x7f:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
