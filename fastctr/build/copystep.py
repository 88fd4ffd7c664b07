"""COPY and ADD as steps: sources (the context, --from a stage or an
image, heredocs, ADD's URLs), flags, cache key and history line; the layer
itself is fastctr.build.files'.

The cache key of a step reading the context holds the digest of every file
it reads, so changing one file rebuilds from the first step that reads it;
one reading a stage or image holds that state's ID and the paths."""
import os
import re
import time

from fastctr import jsonfast as json
from fastctr.build import cache, files
from fastctr.build.context import BuildError, content_digest, resolve

URL = re.compile(r"^https?://", re.I)


def _sources_and_dest(stage_run, state, inst):
    from fastctr.build import dockerfile
    env = stage_run.scope(state)
    words = [dockerfile.expand(w, env, stage_run.escape) for w in inst.words]  # split, then each expanded
    if len(words) < 2:
        raise BuildError(f"{inst.cmd} requires at least two arguments, but only one was provided. "
                         f"Destination could not be determined")
    return words[:-1], words[-1], env


def copy(stage_run, state, inst, n):
    from fastctr.build import dockerfile
    b = stage_run.b
    sources, dest, env = _sources_and_dest(stage_run, state, inst)
    add = inst.cmd == "ADD"
    flag = {name: dockerfile.expand(inst.flag(name), env, stage_run.escape) if inst.flag(name) else None
            for name in ("from", "chown", "chmod", "checksum")}
    if flag["from"] and add:
        raise BuildError("ADD --from is not supported (use COPY --from)")
    cfg = state.config.get("config") or {}
    image_view = b.state_view(state)
    owner = files.parse_owner(flag["chown"], image_view) if flag["chown"] else None
    chmod = files.parse_chmod(flag["chmod"]) if flag["chmod"] else None
    exclude = None
    if inst.flag_all("exclude"):
        from fastctr.build.ignore import Ignore
        exclude = Ignore(inst.flag_all("exclude"))
    docs = {d.name: d for d in inst.heredocs}
    view, origin = _view(b, stage_run, flag["from"])
    placed, content, inline = [], [], []
    for src in sources:
        name = src[2:].lstrip("-").strip("'\"") if src.startswith("<<") else None
        if name in docs:
            doc = docs[name]
            text = dockerfile.expand_heredoc(doc.content, env) if doc.expand else doc.content
            inline.append((name, text.encode()))
            content.append(f"heredoc:{name}:{text}")
        elif URL.match(src):
            if not add:
                raise BuildError(f"COPY does not take URLs ({src}): use ADD")
            import hashlib  # only here: hashlib loads OpenSSL (~4 ms), which a fully cached build needs not
            data, filename, mtime = _download(src, flag["checksum"])
            inline.append((filename, data, mtime))
            content.append(f"url:{src}:{hashlib.sha256(data).hexdigest()}")
        else:
            rels = resolve(view, src)
            placed += [(view, rel) for rel in rels]
            content.append(origin + json.dumps(rels) if origin else content_digest(view, rels))
    if flag["checksum"] and not any(URL.match(s) for s in sources):
        raise BuildError("ADD --checksum needs a URL source")
    text = json.dumps([inst.cmd, sources, dest, sorted(inst.flags, key=str), cfg.get("WorkingDir") or "/",
                       flag, b.epoch])
    key = cache.step_key(state.id, text, content="\n".join(content))
    hit = stage_run.cached(key)
    if hit is not None:
        return hit, True
    count = len(placed) + len(inline)
    plan = files.plan_copy(image_view, placed, dest, workdir=cfg.get("WorkingDir") or "/", owner=owner, chmod=chmod,
                           keep_owners=bool(origin), add=add, exclude=exclude, parents=inst.flag("parents") is not None and inst.flag("parents") != "false")
    _place_inline(plan, inline, dest, cfg, count)
    return write_plan(stage_run, state, plan, key, _created_by(inst)), False


def _view(b, stage_run, ref):
    """(view, origin) of --from (a stage or image: its state ID), else the context's."""
    if not ref:
        return b.context.view, ""
    stage = b.stage_by_ref(ref, stage_run.stage.index)
    if stage is not None:
        return b.source_view(ref, stage_run.stage.index), b.built[stage.index].id
    state = b.image_state(ref)
    return b.state_view(state), state.id


def _place_inline(plan, inline, dest, cfg, count):
    from fastctr.build.context import clean
    workdir = cfg.get("WorkingDir") or "/"
    base = clean(dest if dest.startswith("/") else f"{workdir}/{dest}")
    into_dir = dest.endswith("/") or count > 1 or plan._image_dir(base)
    for item in inline:
        name, data = item[0], item[1]
        mtime = item[2] if len(item) > 2 else 0
        target = f"{base}/{name}".strip("/") if into_dir else base
        plan.add_bytes(target, data, 0o600 if len(item) > 2 else 0o644, mtime)


def _created_by(inst):
    words = inst.original.split("\n", 1)[0].split(None, 1)
    return f"{inst.cmd} {words[1] if len(words) > 1 else ''} # buildkit"


def write_plan(stage_run, state, plan, key, created_by, config=None):
    """The plan's layer on top of state (with config, when the step changed it) -> the new State."""
    from fastctr.image import tmpwork
    from fastctr.image.store import rmtree
    b = stage_run.b
    work = tmpwork.make_dir(b.engine.store.tmp_dir(), "build-copy")
    try:
        tar_path = os.path.join(work, "layer.tar")
        with open(tar_path, "wb") as out:
            diff_id = files.write(plan, out, mtime_max=b.epoch)
        return stage_run.commit(state, key, tar_path, diff_id, created_by, config=config)
    finally:
        rmtree(work)


def _download(url, checksum):
    """ADD's URL: the bytes, the file name and the Last-Modified time."""
    import hashlib
    import urllib.error
    import urllib.request
    from email.utils import parsedate_to_datetime
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            data = r.read()
            modified = r.headers.get("Last-Modified")
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise BuildError(f"ADD {url}: cannot download it ({reason}); a build without network access "
                         f"can only ADD local files") from None
    if checksum:
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != checksum:
            raise BuildError(f"ADD {url}: digest mismatch {actual}: expected {checksum}")
    name = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1] or "index.html"
    mtime = 0
    if modified:
        try:
            mtime = int(parsedate_to_datetime(modified).timestamp())
        except (TypeError, ValueError):
            mtime = 0
    return data, name, mtime or int(time.time())
