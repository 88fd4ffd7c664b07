"""`--format` as the docker CLI runs it: Go's text/template (gotemplate,
with the functions of gofuncs and Go's printing of gofmt) on the object a
command shows.  `render` is inspect's way (the template as written, a
missing key an error); `table` is the list commands' way (ps, images,
stats...): `table` for the default columns, `json` for `{{json .}}`, a
`table ...` template gets a header row and columns aligned as Go's
tabwriter aligns them, `\\t` and `\\n` written as escapes are made tabs and
newlines."""
from fastctr.cli import gofmt, gofuncs, gotemplate
from fastctr.errors import ConfigError

HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
           "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Status": "STATUS", "State": "STATE",
           "Ports": "PORTS", "Labels": "LABELS", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
           "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS", "Container": "CONTAINER",
           "Size": "SIZE", "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES"}

_CACHE = {}


class TemplateError(gotemplate.TemplateError, ConfigError):
    pass


def compile(text, funcs=None):
    key = (text, funcs is None)
    if key not in _CACHE:
        try:
            _CACHE[key] = gotemplate.Template(text, funcs or gofuncs.FUNCS)
        except gotemplate.TemplateError as e:
            raise TemplateError(f"template parsing error: {e}") from None
    return _CACHE[key]


def render(text, obj, missing="error"):
    """inspect's --format: the template's output for one object."""
    tmpl = compile(text)
    try:
        return tmpl.execute(obj, missing)
    except TemplateError:
        raise
    except gotemplate.TemplateError as e:
        raise TemplateError(f"template parsing error: {e}") from None


def table(fmt, rows, headers=None, default=None, missing="error"):
    """Lines for a list command's --format (`table`, `json`, `table TEMPLATE`
    or a TEMPLATE); `headers` names the columns of the header row; a
    `missing` that names a Go type ("*formatter.ContainerContext") words a
    wrong field as Go does for that struct."""
    is_table, body = _parse(fmt, default)
    rows = list(rows)
    if rows and compile(body).top_fields() is None:
        # a row stands for one of the docker CLI's contexts, whose JSON is a map: keys sorted
        rows = (gofmt.Context(sorted(r.items())) for r in rows)
    out = "".join(render(body, r, missing) + "\n" for r in rows)
    if not is_table:
        return out.splitlines()
    header = dict(HEADERS, **(headers or {}))
    tmpl = compile(body, gofuncs.HEADER_FUNCS)
    try:
        head = tmpl.execute(header, missing="zero")
    except TemplateError:
        raise
    except gotemplate.TemplateError as e:
        raise TemplateError(f"template parsing error: {e}") from None
    return tabwriter((head + "\n" + out).splitlines())


def fields(fmt, default=None):
    """The fields of a row that `table(fmt, ...)` prints, or None for all
    of them: a list command computes only those."""
    return compile(_parse(fmt, default)[1]).top_fields()


def _parse(fmt, default):
    """(whether a header row is printed, the template of one row)."""
    if fmt == "table" and default:
        fmt = default
    if fmt == "json":
        fmt = "{{json .}}"
    is_table = fmt.startswith("table")
    body = fmt[len("table"):] if is_table else fmt
    return is_table, body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def tabwriter(lines, minwidth=10, padding=3):
    """Go's text/tabwriter (as the docker CLI sets it up: minwidth 10,
    padding 3, spaces): tab-terminated cells are aligned per column block,
    i.e. per run of consecutive lines that have a cell in that column; the
    text after a line's last tab is not a cell."""
    rows = [line.split("\t") for line in lines]
    widths = [[0] * (len(r) - 1) for r in rows]

    def block(start, end, col):
        i = start
        while i < end:
            if len(rows[i]) - 1 <= col:
                i += 1
                continue
            j = i
            while j < end and len(rows[j]) - 1 > col:
                j += 1
            width = max([minwidth] + [len(rows[k][col]) + padding for k in range(i, j)])
            for k in range(i, j):
                widths[k][col] = width
            block(i, j, col + 1)
            i = j
    block(0, len(rows), 0)
    return ["".join(c.ljust(w) for c, w in zip(r, widths[n])) + r[-1] for n, r in enumerate(rows)]
