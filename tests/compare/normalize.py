"""Normalize an engine's output so that fastctr's and Docker's compare.

What legitimately differs between two engines that ran the same command is
replaced by a placeholder: object IDs and digests (kept apart by length, so
a full ID where Docker prints a short one still shows), generated container
names, timestamps, durations, sizes, container IP and MAC addresses, and the
per-engine values the runner substituted (temp dir, host port, data root,
engine name).  Table columns are compared by content, not by width: runs of
two or more blanks become one column gap.  Everything else must match."""
import json
import re

ID64 = re.compile(r"\b[0-9a-f]{64}\b")
ID12 = re.compile(r"\b[0-9a-f]{12}\b")
# Docker's names-generator: adjective_surname, sometimes a digit after it.
GENERATED_NAME = re.compile(r"\b[a-z]{2,}_[a-z]{2,}[0-9]?\b")
RFC3339 = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
GO_TIME = re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} [A-Z]{2,5}\b")
CLOCK = re.compile(r"(?<![\d.:])\d\d:\d\d(:\d\d)?(?![\d:])")  # not an address:port
# Docker's units.HumanDuration: the unit is kept ("2 years ago" is not "1065
# days ago"), the count is not; "Less than a second" counts as seconds.
DURATION = re.compile(r"\b(Less than a second|About an? (second|minute|hour)|an? (second|minute|hour|day|week|month|year)"
                      r"|\d+ (second|minute|hour|day|week|month|year)s?)\b")
# A size keeps its unit (Docker prints 1.99MB, never 1990000).
SIZE = re.compile(r"(?<![\w.])\d+(\.\d+)?(\s?)(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\b")
# Addresses an engine chooses (container IPs, subnets, gateways); loopback,
# the wildcard, netmasks and the documentation range 192.0.2.0/24 (which the
# cases pass themselves) are kept.
IPV4 = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d.])")
MAC = re.compile(r"\b([0-9a-f]{2}:){5}[0-9a-f]{2}\b")
GAP = re.compile(r"[ \t]{2,}")
MISSING = re.compile(r"unknown (command|flag|shorthand flag|option)|unrecognized (option|arguments?)"
                     r"|not (yet )?(supported|implemented)|unsupported", re.I)


def _duration(m):
    text = m.group(0)
    if text == "Less than a second":
        return "<DUR:second>"
    unit = re.search(r"(second|minute|hour|day|week|month|year)", text).group(1)
    return f"<DUR:{unit}>"


def _ip(m):
    first = int(m.group(1))
    if first in (0, 127, 255) or m.group(0).startswith("192.0.2."):
        return m.group(0)
    return "<IP>"


def normalize(text, subst=(), keep=()):
    """text with legitimate differences replaced; subst: (value, token) the
    runner put in the command for this engine; keep: classes not to replace
    ('ip', 'mac', 'size', 'name', 'clock') when a case checks that value itself."""
    if text is None:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for value, token in sorted(subst, key=lambda vt: -len(vt[0])):  # longest first: a root holds its temp dirs
        if value:
            text = text.replace(value, token)
    text = ID64.sub("<ID64>", text)
    text = ID12.sub("<ID12>", text)
    text = GO_TIME.sub("<TIME>", text)
    text = RFC3339.sub("<TIME>", text)
    if "mac" not in keep:  # before the clock: a MAC address looks like hh:mm
        text = MAC.sub("<MAC>", text)
    if "clock" not in keep:
        text = CLOCK.sub("<CLOCK>", text)
    text = DURATION.sub(_duration, text)
    if "size" not in keep:
        text = SIZE.sub(lambda m: f"<N>{m.group(2)}{m.group(3)}", text)
    if "ip" not in keep:
        text = IPV4.sub(_ip, text)
    if "name" not in keep:
        text = GENERATED_NAME.sub("<NAME>", text)
    lines = [GAP.sub("  ", line).rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def key_paths(value, depth=2, prefix=""):
    """The set of dotted key paths of a JSON value down to `depth`: the shape
    of an object (inspect's ContainerJSON, ps --format json's keys), not its
    data.  A list contributes the shape of its first element."""
    out = set()
    if isinstance(value, list):
        return key_paths(value[0], depth, prefix) if value else out
    if not isinstance(value, dict) or depth == 0:
        return out
    for k, v in value.items():
        path = f"{prefix}{k}"
        out.add(path)
        if isinstance(v, (dict, list)) and not _data_keyed(k):
            out |= key_paths(v, depth - 1, path + ".")
    return out


def _data_keyed(key):
    """Maps whose keys are data (network names, ports, labels), not schema."""
    return key in ("Networks", "Ports", "Labels", "Options", "ExposedPorts", "Volumes", "PortBindings",
                   "Containers", "Health", "Log", "Data")


def json_shape(text):
    """key_paths of a JSON document, or of each line of a JSON-lines output
    (ps/images --format json); None when it is not JSON."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        docs = [json.loads(text)]
    except ValueError:
        try:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            return None
    out = set()
    for doc in docs:
        out |= key_paths(doc)
    return out


def looks_missing(stderr):
    """fastctr said it does not know this command or flag."""
    return bool(MISSING.search(stderr or ""))
