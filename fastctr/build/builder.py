"""The builder: a Dockerfile's stages, each instruction a step on a state.

A state is an image config plus its layer blobs; its ID is the digest of
the config, as an image's is.  Each step takes the state so far and makes
the next: metadata instructions change the config (an `empty_layer`
history entry; WORKDIR also makes its directory, a layer, as BuildKit),
RUN runs a container of the state and adds its diff as a layer
(fastctr.build.run), COPY and ADD add a layer written from their
sources (fastctr.build.files).  Before a step runs its cache key is looked
up (fastctr.build.cache); a hit takes the recorded state, `CACHED`.  Only
the stages the target needs are built, dependencies first.  At the end the
last state becomes an image (the config blob and an images row), tagged
with -t; a failure on the way tags nothing, and every step's container and
temporary file is gone with it."""
import os
import time

from fastctr import jsonfast as json
from fastctr.build import cache
from fastctr.build import config as meta
from fastctr.build.context import BuildError
from fastctr.build.state import COMMENT, PROXY_ARGS, State
from fastctr.image.store import chain_ids

class Options:
    def __init__(self, tags=(), build_args=None, target=None, no_cache=False, pull=False, network=None,
                 labels=None, platform=None, secrets=None, output=("image", None)):
        self.tags = list(tags)
        self.build_args = dict(build_args or {})
        self.target = target
        self.no_cache = no_cache
        self.pull = pull
        self.network = network
        self.labels = dict(labels or {})
        self.platform = platform
        self.secrets = dict(secrets or {})  # id -> fastctr.build.secrets.Source
        self.output = output  # (kind, dest): fastctr.build.output.parse


class Builder:
    def __init__(self, engine, context, dockerfile, options, progress):
        self.engine = engine
        self.context = context
        self.dockerfile = dockerfile
        self.options = options
        self.progress = progress
        self.epoch = _source_date_epoch()
        self.stages = dockerfile.stages()
        self.built = {}  # stage index -> final State
        self.used_args = set()
        self.lines = []

    # ----------------------------------------------------------- stages
    def build(self):
        """Build the target -> the image ID (tagged with the -t names)."""
        self.global_args = self._global_args()
        target = self._target_stage()
        for index in self._needed(target):
            self.built[index] = self._build_stage(self.stages[index])
        if self.options.output[0] == "image":
            image_id = self._export(self.built[target.index])
        else:
            image_id = None
            self._export_files(self.built[target.index])
        unused = sorted(set(self.options.build_args) - self.used_args - PROXY_ARGS)
        if unused:
            self.progress.line(self.progress.number, f"[Warning] One or more build-args {unused} were not consumed")
        return image_id

    def _global_args(self):
        """The ARGs before the first FROM, and BuildKit's automatic platform ones."""
        from fastctr.build import dockerfile
        arch = _arch()
        scope = {"TARGETPLATFORM": f"linux/{arch}", "TARGETOS": "linux", "TARGETARCH": arch,
                 "TARGETVARIANT": "", "BUILDPLATFORM": f"linux/{arch}", "BUILDOS": "linux", "BUILDARCH": arch,
                 "BUILDVARIANT": ""}
        for inst in self.dockerfile.meta_args:
            for name, default in dockerfile.arg_pairs(inst, scope, self.dockerfile.escape):
                scope[name] = self._arg_value(name, default)
        return scope

    def _arg_value(self, name, default):
        if name in self.options.build_args:
            self.used_args.add(name)
            return self.options.build_args[name]
        return default

    def _target_stage(self):
        if not self.options.target:
            return self.stages[-1]
        for stage in self.stages:
            if stage.name == self.options.target.lower():
                return stage
        raise BuildError(f"failed to solve: target stage \"{self.options.target}\" could not be found")

    def stage_by_ref(self, ref, before):
        """A stage named by a FROM, --from or --mount from=: its name or index."""
        ref = ref.lower()
        for stage in self.stages[:before]:
            if stage.name == ref or str(stage.index) == ref:
                return stage
        return None

    def _needed(self, target):
        """Indexes of the stages target depends on, dependencies first."""
        order, seen = [], set()

        def visit(stage):
            if stage.index in seen:
                return
            seen.add(stage.index)
            for dep in self._dependencies(stage):
                visit(dep)
            order.append(stage.index)
        visit(target)
        return order

    def _dependencies(self, stage):
        from fastctr.build import dockerfile
        refs = [dockerfile.expand(stage.base, self.global_args, self.dockerfile.escape)]
        for inst in stage.instructions:
            refs += inst.flag_all("from")
            refs += [m.split("from=", 1)[1].split(",")[0] for m in inst.flag_all("mount") if "from=" in m]
        deps = []
        for ref in refs:
            dep = self.stage_by_ref(ref, stage.index)
            if dep is not None and dep not in deps:
                deps.append(dep)
        return deps

    # ------------------------------------------------------------ a stage
    def _build_stage(self, stage):
        from fastctr.build import steps
        run = steps.StageRun(self, stage)
        return run.build()

    def source_view(self, ref, before=None):
        """The files of a stage (by name or index) or of an image."""
        from fastctr.build.context import LayersView
        stage = self.stage_by_ref(ref, len(self.stages) if before is None else before)
        if stage is not None:
            if stage.index not in self.built:
                raise BuildError(f"stage {ref} is used before it is built")
            return self.state_view(self.built[stage.index])
        state = self.image_state(ref)
        return self.state_view(state) if state.layer_blobs else LayersView([])

    def state_view(self, state):
        from fastctr.build.context import LayersView
        from fastctr.image import drivers
        chain = self.engine._ensure_layers(state.image_record())
        driver = self.engine.driver
        if not chain:
            return LayersView([])
        if isinstance(driver, drivers.Overlay2):
            return LayersView([os.path.join(driver.layer_dir(c), "diff") for c in reversed(chain)])
        return LayersView([driver.layer_dir(chain[-1])])

    def image_state(self, ref, platform=None):
        """FROM an image (pulled when missing, or always with --pull)."""
        if ref == "scratch":
            return State(self.scratch_config(), [])
        try:
            image_id = self.engine.resolve_image(ref, pull="always" if self.options.pull else "missing",
                                                 quiet=True, platform=platform or self.options.platform)
        except Exception as e:  # BuildKit takes a name no stage has for an image
            raise BuildError(f"failed to solve: {ref}: no stage of this name and no such image ({e})") from None
        image = self.engine.store.image(image_id)
        if platform or self.options.platform:  # FROM --platform, build --platform: the image must be of it
            from fastctr.engine.runflags import platform_mismatch
            error = platform_mismatch(image["config"], platform or self.options.platform, ref)
            if error is not None:
                raise BuildError(f"failed to solve: {error}")
        return State(_child_config(image["config"]), image["layer_blobs"])

    def scratch_config(self):
        return {"architecture": _arch(), "os": "linux", "config": {"Env": [meta.DEFAULT_PATH]},
                "rootfs": {"type": "layers", "diff_ids": []}, "history": []}

    # --------------------------------------------------------- commit
    def now(self):
        t = self.epoch if self.epoch is not None else time.time()
        return go_time(int(t * 1e9))

    def with_history(self, state, created_by, empty_layer, config=None):
        """A new config: state's (or config) with one more history entry."""
        new = json.loads(json.dumps(config if config is not None else state.config))
        entry = {"created": self.now(), "created_by": created_by, "comment": COMMENT}
        if empty_layer:
            entry["empty_layer"] = True
        new.setdefault("history", []).append(entry)
        new["created"] = entry["created"]
        return new

    def commit_layer(self, state, tar_path, diff_id, created_by, key, config=None):
        """Add the layer tar on top of state, recorded in the cache as key's
        result (under the import lock: a prune meanwhile must not take the
        layer before a row refers to it) -> the new State.  config: the
        step's config when it changed more than the layers (WORKDIR)."""
        from fastctr.image import tmpwork
        from fastctr.image.store import sha256_file
        engine, store = self.engine, self.engine.store
        chain = chain_ids(state.diff_ids() + [diff_id])
        config = self.with_history(state, created_by, empty_layer=False, config=config)
        config.setdefault("rootfs", {"type": "layers"}).setdefault("diff_ids", [])
        config["rootfs"]["diff_ids"] = state.diff_ids() + [diff_id]
        with tmpwork.ImportLock(store.root):
            engine._ensure_layers(state.image_record())
            engine.driver.ensure_layer(chain[-1], diff_id, chain[-2] if len(chain) > 1 else None, tar_path)
            digest = sha256_file(tar_path) if diff_id is None else diff_id
            store.put_blob_file(tar_path, digest)
            row = store.layer_row(engine.driver.name, chain[-1])
            new = State(config, state.layer_blobs + [digest])
            cache.record(store, key, new.config, new.layer_blobs, (row[3] or 0) if row else 0)
        return new

    def _export_files(self, state):
        """-o local|tar: the target's files, no image."""
        import sys
        from fastctr.build import output
        kind, dest = self.options.output
        n = self.progress.vertex("exporting to client " + ("directory" if kind == "local" else "tarball"))
        try:
            size = output.export(self.state_view(state), kind, dest, getattr(sys.stdout, "buffer", sys.stdout))
        except OSError as e:
            raise BuildError(f"failed to export to {dest}: {e.strerror or e}") from None
        self.progress.line(n, f"copying files {size}B done")
        self.progress.done(n)

    def _export(self, state):
        """The final state as an image: config blob, images row, the tags."""
        from fastctr.image.store import validate_name
        n = self.progress.vertex("exporting to image")
        config = state.config
        if self.options.labels:
            config = json.loads(json.dumps(config))
            cfg = config.setdefault("config", {})
            cfg["Labels"] = dict(cfg.get("Labels") or {}, **self.options.labels)
            state = State(config, state.layer_blobs)
        names = [validate_name(t) for t in self.options.tags]
        store = self.engine.store
        image_id = store.put_blob_bytes(state.config_bytes())
        size = sum((store.layer_row(self.engine.driver.name, c) or (0, 0, 0, 0))[3] or 0 for c in state.chain())
        store.add_image(image_id, state.config_bytes(), None, state.layer_blobs, size, names)
        self.progress.line(n, f"writing image {image_id} done")
        for name in names:
            self.progress.line(n, f"naming to {_full_name(name)} done")
        self.progress.done(n)
        from fastctr import events
        for name in names or [image_id]:
            events.image(store.root, image_id, "tag" if names else "build", name=name)
        return image_id


def _child_config(config):
    """The config a stage starts from: the base image's config and history,
    BuildKit's shape (its ONBUILD triggers are the child's to run, not to keep)."""
    out = {"architecture": config.get("architecture") or _arch(), "os": config.get("os") or "linux"}
    if config.get("variant"):
        out["variant"] = config["variant"]
    cfg = json.loads(json.dumps(config.get("config") or {}))
    if not any(e.startswith("PATH=") for e in cfg.get("Env") or []):
        cfg["Env"] = [meta.DEFAULT_PATH] + list(cfg.get("Env") or [])
    out["config"] = cfg
    out["rootfs"] = {"type": "layers", "diff_ids": list((config.get("rootfs") or {}).get("diff_ids") or [])}
    out["history"] = list(config.get("history") or [])
    return out


def go_time(ns):
    """Nanoseconds since the epoch as Go's RFC3339Nano, as BuildKit writes
    `created`: trailing zeros of the fraction dropped, no fraction at all
    for a whole second."""
    fraction = ("%09d" % (ns % 10**9)).rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + (f".{fraction}" if fraction else "") + "Z"


def _full_name(name):
    from fastctr.image.reference import parse_normalized
    return str(parse_normalized(name).docker_ref())  # docker.io/library/NAME:TAG, as BuildKit names it


def _arch():
    from fastctr.engine.runflags import _host_arch  # the engine's own Go names of the machine
    return _host_arch()


def _source_date_epoch():
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return None
    if not value.isdigit():
        raise BuildError(f"invalid SOURCE_DATE_EPOCH: {value!r} (seconds since 1970)")
    return int(value)
