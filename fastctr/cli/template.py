"""The part of Go's text/template that `docker ... --format` users write:
{{.Field.Sub}}, {{json .X}}, {{upper .X}}, {{lower .X}}, {{len .X}},
{{index .X "key"}}, and a leading `table` for a header row."""
import re

from fastctr import jsonfast as json
from fastctr.errors import ConfigError

_ACTION = re.compile(r"{{\s*(.*?)\s*}}")
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
           "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Status": "STATUS", "State": "STATE",
           "Ports": "PORTS", "Labels": "LABELS", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
           "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS", "Container": "CONTAINER"}


def render(template, obj):
    """One line of output for `obj` (dicts, lists and scalars)."""
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    return _ACTION.sub(lambda m: _text(_evaluate(m.group(1), obj)), template)


def table(template, rows):
    """Lines for --format: `table ...` adds a header and aligns columns."""
    if not template.startswith("table"):
        return [render(template, r) for r in rows]
    body = template[len("table"):].strip() or "{{.ID}}"
    header = _ACTION.sub(lambda m: HEADERS.get(m.group(1).strip().lstrip(".").split(".")[-1],
                                               m.group(1).strip().lstrip(".").upper()), body)
    lines = [header.replace("\\t", "\t")] + [render(body, r) for r in rows]
    return _align(lines)


def _align(lines):
    cells = [line.split("\t") for line in lines]
    widths = {}
    for row in cells:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell))
    return ["".join(c.ljust(widths[i] + 3) if i < len(row) - 1 else c for i, c in enumerate(row)) for row in cells]


def _evaluate(action, obj):
    tokens = [m.group(1) if m.group(1) is not None else m.group(2) for m in _TOKEN.finditer(action)]
    if not tokens:
        raise ConfigError("empty {{ }} in --format")
    fn, args = (None, tokens) if tokens[0].startswith(".") else (tokens[0], tokens[1:])
    values = [_lookup(a, obj) if a.startswith(".") else a for a in args]
    if fn is None:
        if len(values) != 1:
            raise ConfigError(f"cannot evaluate {{{{{action}}}}} in --format")
        return values[0]
    if fn == "json" and len(values) == 1:
        return json.dumps(values[0])
    if fn in ("upper", "lower") and len(values) == 1:
        return getattr(_text(values[0]), fn)()
    if fn == "len" and len(values) == 1:
        return len(values[0])
    if fn == "index" and len(values) == 2:
        container, key = values
        try:
            return container[int(key)] if isinstance(container, list) else container[key]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ConfigError(f"index of {key!r}: no such entry") from None
    raise ConfigError(f"unsupported --format function {fn!r} (json, upper, lower, len, index)")


def _lookup(path, obj):
    value = obj
    for part in filter(None, path.split(".")):
        if not isinstance(value, dict) or part not in value:
            raise ConfigError(f"template: no field {part!r} in {path}")
        value = value[part]
    return value


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<no value>"
    if isinstance(value, list):  # Go's fmt: [a b], map[k:v] with the keys sorted
        return "[" + " ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_text(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
