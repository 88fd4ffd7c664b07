"""Docker's words for durations, sizes and times (go-units HumanDuration and
HumanSizeWithPrecision, Go's time.Time.String), and the RFC 3339 times the
store keeps read back as seconds."""
import calendar
import re
import time

_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$")


def parse_time(text):
    """Seconds since the epoch of an RFC 3339 time; None for "" or a zero
    time (Go's 0001-01-01T00:00:00Z)."""
    if isinstance(text, (int, float)):
        return float(text)
    m = _RFC3339.match(text or "")
    if not m or m.group(1) == "0001":
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    t = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + float(m.group(7) or 0)
    zone = m.group(8)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        t -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return t


def human_duration(seconds):
    """go-units HumanDuration: "Less than a second", "1 second",
    "About a minute", "3 hours", "2 weeks", "3 years"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = _round_half_away(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def _round_half_away(x):
    """Go's math.Round (half away from zero), not Python's banker's round."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def ago(ts, now=None):
    """`3 seconds ago` for a stored time; "" when there is none."""
    t = parse_time(ts)
    if t is None:
        return ""
    return human_duration(max(0.0, (now or time.time()) - t)) + " ago"


def human_size(n, precision=3):
    """go-units HumanSizeWithPrecision: decimal units, `precision` significant
    digits with Go's %g ("1.99MB", "4.26kB", "0B")."""
    n = float(n or 0)
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    text = f"{n:.{precision}g}"
    if "e" in text:  # Go's %g: e+03, as Python's
        mantissa, _, exp = text.partition("e")
        text = f"{mantissa}e{exp[0]}{int(exp[1:]):02d}"
    return text + units[i]


def go_time(ts):
    """Go's time.Time.String() in local time: 2024-01-02 03:04:05 +0000 UTC
    (what `docker ps` shows as CreatedAt)."""
    t = parse_time(ts)
    if t is None:
        return ""
    local = time.localtime(int(t))
    offset = local.tm_gmtoff
    sign = "+" if offset >= 0 else "-"
    zone = f"{sign}{abs(offset) // 3600:02d}{abs(offset) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%d %H:%M:%S", local) + f" {zone} {local.tm_zone}"


def rfc3339(ts):
    """Go's time.RFC3339 in local time, whole seconds (history -H=false)."""
    t = parse_time(ts)
    if t is None:
        return ""
    local = time.localtime(int(t))
    offset = local.tm_gmtoff
    if offset == 0:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", local)
    sign = "+" if offset >= 0 else "-"
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"


def ellipsis(s, width):
    """The docker CLI's formatter.Ellipsis: at most `width` characters, the
    last one "…" when cut."""
    if width <= 0:
        return ""
    if len(s) <= width:
        return s
    if width == 1:
        return s[0]
    return s[:width - 1] + "…"


def bytes_size(n):
    """go-units BytesSize: binary units, 4 significant digits ("23.54GiB")."""
    n = float(n or 0)
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"
