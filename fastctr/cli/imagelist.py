"""`fastctr images` and `fastctr history` as Docker lists them: the
daemon's selection (REPOSITORY[:TAG], --filter dangling|label|before|since|
reference|until) and the docker CLI's rows and columns (one row per
repository and tag, `<none>` for a dangling image; history newest first
with `<missing>` below the top) in every --format.  Imported only for them."""
import sys
import time

from fastctr.cli import template, units
from fastctr.cli.common import flags
from fastctr.cli.listing import match_labels, parse_filters
from fastctr.cliargs import UsageError
from fastctr.errors import FastctrError

IMAGES_FLAGS = flags("-a/--all", "--digests", "-f/--filter=", "--format=", "--no-trunc", "-q/--quiet", "--tree")
IMAGES_DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGESTS = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGE_HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                 "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}
IMAGE_FILTERS = {"dangling", "label", "label!", "before", "since", "reference", "until"}
HISTORY_FLAGS = flags("--format=", "-H/--human", "--no-trunc", "-q/--quiet", "--platform=")
HISTORY_DEFAULT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                   "Size": "SIZE", "Comment": "COMMENT"}


def images(store, o, pos, out=sys.stdout):
    if o.get("tree"):
        raise UsageError("--tree is not supported by fastctr")
    filters = parse_filters(o.get("filter"), IMAGE_FILTERS)
    rows = select(store, filters, pos)
    trunc = not o.get("no_trunc")
    now = time.time()
    lines = []
    for im in rows:
        lines += image_rows(im, trunc, bool(o.get("digests")), now)
    fmt = o.get("format")
    if o.get("quiet"):
        fmt = "{{.ID}}"
    elif not fmt or fmt == "table":
        fmt = IMAGES_DIGESTS if o.get("digests") else IMAGES_DEFAULT
    for line in template.table(fmt, lines, IMAGE_HEADERS, missing="*formatter.imageContext"):
        out.write(line + "\n")


def select(store, filters, pos):
    """The images the daemon lists for these filters, newest first, each
    with only the names a reference filter keeps."""
    ids = store.image_ids()
    rows = [store.image(i) for i in ids]
    # newest first; within one second the one recorded later (the store lists ties in the order they came)
    order = {image_id: n for n, image_id in enumerate(ids)}
    rows.sort(key=lambda im: (units.parse_time(im["created"]) or 0, im["loaded"] or "", order[im["id"]]), reverse=True)
    dangling = _dangling(filters.get("dangling"))
    before = _created_of(store, filters.get("before"))
    since = _created_of(store, filters.get("since"))
    until = _until(filters.get("until"))
    patterns = _reference_patterns(pos, ["reference=" + r for r in filters.get("reference", [])])
    out = []
    for im in rows:
        if patterns is not None:
            im = dict(im, tags=[t for t in im["tags"] if _matches(patterns, t)])
            if not im["tags"]:
                continue
        untagged = not im["tags"]
        if dangling is True and not untagged or dangling is False and untagged:
            continue
        labels = (im["config"].get("config") or {}).get("Labels") or {}
        if not match_labels(filters.get("label"), labels):
            continue
        if any(match_labels([v], labels) for v in filters.get("label!", [])):
            continue
        created = units.parse_time(im["created"]) or 0
        if before is not None and created >= before or since is not None and created <= since:
            continue
        if until is not None and created >= until:
            continue
        out.append(im)
    return out


def _reference_patterns(pos, filters):
    """`images REPO[:TAG]` and `--filter reference=PATTERN` (one or more)."""
    patterns = []
    for f in ([filters] if isinstance(filters, str) else filters or []):
        key, eq, value = f.partition("=")
        if key != "reference" or not eq:
            raise UsageError(f"images --filter {f!r} is not supported (reference=PATTERN is)")
        patterns.append(value)
    patterns += pos
    if not patterns:
        return None
    return [_normal_pattern(p) for p in patterns]


def _normal_pattern(pattern):
    """A pattern with no wildcard is a reference: any spelling of it works."""
    if any(c in pattern for c in "*?["):
        return pattern
    from fastctr.image import reference
    ref = reference.parse_normalized(pattern)
    return ref.familiar()


def _matches(patterns, name):
    from fastctr.image import reference
    return any(reference.match_familiar(p, name) for p in patterns)


def _dangling(values):
    if not values:
        return None
    value = values[-1].lower()
    if value not in ("true", "false", "1", "0"):
        raise FastctrError(f"Invalid filter 'dangling={values[-1]}'")
    return value in ("true", "1")


def _created_of(store, refs):
    if not refs:
        return None
    try:
        return units.parse_time(store.image(store.resolve(refs[-1]))["created"]) or 0
    except LookupError:
        raise FastctrError(f"No such image: {refs[-1]}") from None


def _until(values):
    if not values:
        return None
    from fastctr.engine import logs
    return units.parse_time(logs.parse_time(values[-1], "--filter until"))


def image_rows(im, trunc, digests, now):
    """The docker CLI's imageFormatTaggedAndDigest: a row per repository and
    tag (and per digest with --digests); a digest-only repository gets a
    `<none>` tag; an image with no name one `<none> <none>` row."""
    base = _image_fields(im, trunc, now)
    tags, by_repo = {}, {}
    for name in im["tags"]:
        repo, _, tag = name.rpartition(":")
        tags.setdefault(repo, []).append(tag)
    for name in im["digests"]:
        repo, _, digest = name.partition("@")
        by_repo.setdefault(repo, []).append(digest)
    if not tags and not by_repo:
        return [dict(base, Repository="<none>", Tag="<none>", Digest="<none>")]
    rows = []
    for repo in sorted(tags):
        found = by_repo.pop(repo, [])  # a tagged repository's digests get no rows of their own
        for tag in tags[repo]:
            for digest in (found if digests else []) or ["<none>"]:
                rows.append(dict(base, Repository=repo, Tag=tag, Digest=digest))
    for repo in sorted(by_repo):
        for digest in by_repo[repo] if digests else [""]:
            rows.append(dict(base, Repository=repo, Tag="<none>", Digest=digest))
    return rows


def _image_fields(im, trunc, now):
    created = units.parse_time(im["created"])
    size = units.human_size(im["size"] or 0)
    return {"Containers": "N/A", "CreatedAt": units.go_time(im["created"]),
            "CreatedSince": units.human_duration(max(0.0, now - created)) + " ago" if created else "",
            "ID": im["id"][7:19] if trunc else im["id"], "SharedSize": "N/A", "Size": size, "UniqueSize": "N/A",
            "VirtualSize": size}


def history(engine, ref, o, out=sys.stdout):
    if o.get("platform"):
        raise UsageError("history --platform is not supported: fastctr stores one platform per image")
    store = engine.store
    im = store.image(store.resolve(ref))
    human = o.get("human", True)
    trunc = not o.get("no_trunc")
    rows = history_rows(engine, im, human, trunc, time.time())
    fmt = o.get("format")
    if o.get("quiet"):
        fmt = "{{.ID}}"
    elif not fmt or fmt == "table":
        fmt = HISTORY_DEFAULT
    for line in template.table(fmt, rows, HISTORY_HEADERS, missing="*formatter.historyContext"):
        out.write(line + "\n")


def _local_images(store):
    """(layers, number of history steps) -> image ID, for the images here:
    what Docker's parent links give it, found by content."""
    out = {}
    for image_id in store.image_ids():
        cfg = store.image(image_id)["config"]
        key = (tuple((cfg.get("rootfs") or {}).get("diff_ids") or []), len(cfg.get("history") or []))
        out.setdefault(key, image_id)
    return out


def history_rows(engine, im, human, trunc, now):
    """The image's history, newest first: the top row has the image's ID,
    a step that ends an image that is here (the image a commit was made
    from) that one's, the others `<missing>`; a step that made a layer has
    that layer's size."""
    from fastctr.image.store import chain_ids
    cfg = im["config"]
    chain = chain_ids((cfg.get("rootfs") or {}).get("diff_ids") or [])
    sizes = []
    for chain_id in chain:
        row = engine.store.layer_row(engine.driver.name, chain_id)
        sizes.append(row[3] if row and row[3] is not None else 0)
    steps, layer = [], 0
    for h in cfg.get("history") or []:
        size = 0
        if not h.get("empty_layer"):
            size = sizes[layer] if layer < len(sizes) else 0
            layer += 1
        steps.append((h, size))
    known = _local_images(engine.store)
    ids, layers = [], 0
    for i, (h, _) in enumerate(steps):  # the image each step ends, when it is here (a commit's parent)
        layers += not h.get("empty_layer")
        ids.append(known.get((tuple((cfg.get("rootfs") or {}).get("diff_ids", [])[:layers]), i + 1), "<missing>"))
    ids[-1:] = [im["id"]]
    rows = []
    for n, (h, size) in enumerate(reversed(steps)):
        image_id = ids[len(steps) - 1 - n]
        created_by = (h.get("created_by") or "").replace("\t", " ")
        created = units.parse_time(h.get("created"))
        created_at = units.rfc3339(h.get("created"))
        rows.append({"ID": (image_id[7:19] if image_id.startswith("sha256:") else image_id) if trunc else image_id,
                     "CreatedAt": created_at,
                     "CreatedSince": (units.human_duration(max(0.0, now - created)) + " ago" if created else "")
                     if human else created_at,
                     "CreatedBy": units.ellipsis(created_by, 45) if trunc else created_by,
                     "Size": units.human_size(size) if human else str(size),
                     "Comment": h.get("comment") or ""})
    return rows
