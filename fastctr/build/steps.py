"""One stage's run: FROM, the base image's ONBUILD triggers, then each
instruction in order, each looked up in the build cache before it runs.

The stage's scope is its ENV (the config's Env) over its declared ARGs:
substitution in ENV, LABEL, WORKDIR, COPY... reads it, RUN gets the ARGs
that ENV does not set in its environment (and in its cache key and history
as `|N K=V`, Docker's form), proxy ARGs in the environment only."""
import time

from fastctr import jsonfast as json
from fastctr.build import cache
from fastctr.build import config as meta
from fastctr.build.state import PROXY_ARGS, State
from fastctr.build.context import BuildError


class StageRun:
    def __init__(self, builder, stage):
        self.b = builder
        self.stage = stage
        self.escape = builder.dockerfile.escape
        self.args = {}  # declared ARGs: name -> value (None: declared without a value)
        self.cmd_set = {}
        self.total = len(stage.instructions) + 1

    # --------------------------------------------------------- scope
    def scope(self, state):
        env = {k: v for k, v in self.args.items() if v is not None}
        env.update(meta.env_dict(state.config.get("config") or {}))
        return env

    def run_args(self, state):
        """The ARGs RUN sees (those ENV does not shadow), sorted."""
        env = meta.env_dict(state.config.get("config") or {})
        out = {k: v for k, v in self.args.items() if v is not None and k not in env}
        for name in PROXY_ARGS:
            if name in self.b.options.build_args and name not in env:
                out[name] = self.b.options.build_args[name]
                self.b.used_args.add(name)
        return out

    def title(self, i, inst):
        name = self.stage.name or f"stage-{self.stage.index}"
        prefix = f"{name} " if len(self.b.stages) > 1 else ""
        return f"[{prefix}{i}/{self.total}] {_shown(inst)}"

    # --------------------------------------------------------- the run
    def build(self):
        state = self._from()
        triggers = (state.config.get("config") or {}).get("OnBuild") or []
        if triggers:
            state.config["config"]["OnBuild"] = None
            state = State(state.config, state.layer_blobs)
            for trigger in triggers:
                state = self._onbuild(state, trigger)
        for i, inst in enumerate(self.stage.instructions, start=2):
            state = self.step(state, inst, i)
        return state

    def _from(self):
        from fastctr.build import dockerfile
        inst = self.stage.from_instruction
        ref = dockerfile.expand(self.stage.base, self.b.global_args, self.escape)
        n = self.b.progress.vertex(self.title(1, inst).replace(self.stage.base, ref, 1))
        try:
            stage = self.b.stage_by_ref(ref, self.stage.index)
            if stage is not None:
                state = self.b.built[stage.index]
                state = State(json.loads(json.dumps(state.config)), state.layer_blobs)
            else:
                platform = self.stage.platform and dockerfile.expand(self.stage.platform, self.b.global_args,
                                                                     self.escape)
                state = self.b.image_state(ref, platform=platform or None)
        except BuildError as e:
            self.b.progress.error(n, str(e))
            raise StepError(self, inst, 1, e) from None
        self.b.progress.done(n)
        return state

    def _onbuild(self, state, trigger):
        from fastctr.build import dockerfile
        parsed = dockerfile.parse("FROM scratch\n" + trigger, path="ONBUILD")  # a trigger is a stage's line
        for inst in parsed.stages()[0].instructions:
            if inst.cmd in ("ONBUILD", "FROM", "MAINTAINER"):
                raise BuildError(f"{inst.cmd} isn't allowed as an ONBUILD trigger")
            state = self.step(state, inst, 1, onbuild=True)
        return state

    def step(self, state, inst, i, onbuild=False):
        title = self.title(i, inst)
        if onbuild:
            title = f"[{self.stage.name or 'stage-%d' % self.stage.index} ONBUILD] {_shown(inst)}"
        if inst.cmd == "ARG":
            self._arg(state, inst)
            return state
        n = self.b.progress.vertex(title)
        try:
            new, cached = self._dispatch(state, inst, n)
        except BuildError as e:
            self.b.progress.error(n, str(e))
            raise StepError(self, inst, i, e) from None
        if cached:
            self.b.progress.cached(n)
        else:
            self.b.progress.done(n)
        return new

    def _arg(self, state, inst):
        from fastctr.build import dockerfile
        for name, default in dockerfile.arg_pairs(inst, self.scope(state), self.escape):
            if name in self.b.options.build_args:
                value = self.b._arg_value(name, default)
            elif default is None:
                value = self.b.global_args.get(name)
            else:
                value = default
            self.args[name] = value

    def _dispatch(self, state, inst, n):
        if inst.cmd == "WORKDIR":
            return self._workdir(state, inst)
        if inst.cmd in meta.METADATA:
            return self._metadata(state, inst)
        if inst.cmd == "RUN":
            from fastctr.build import runstep
            return runstep.run(self, state, inst, n)
        if inst.cmd in ("COPY", "ADD"):
            from fastctr.build import copystep
            return copystep.copy(self, state, inst, n)
        raise BuildError(f"unknown instruction: {inst.cmd}")

    def _metadata(self, state, inst):
        new = json.loads(json.dumps(state.config))
        created_by = meta.apply(inst, new, self.scope(state), self.escape, self.cmd_set)
        key = cache.step_key(state.id, json.dumps(new.get("config")) + "\0" + created_by)
        hit = None if self.b.options.no_cache else cache.lookup(self.b.engine.store, key)
        if hit is not None:
            return State(hit["config"], hit["layer_blobs"]), True
        config = self.b.with_history(state, created_by, empty_layer=True, config=new)
        cache.record(self.b.engine.store, key, config, state.layer_blobs, 0)
        return State(config, state.layer_blobs), False

    def _workdir(self, state, inst):
        """WORKDIR is BuildKit's one metadata instruction with a layer: a
        `mkdir -p` of the directory (0755, owned by the USER), a layer even
        when the directory is there already (then an empty one); WORKDIR /
        alone changes the config only."""
        new = json.loads(json.dumps(state.config))
        created_by = meta.apply(inst, new, self.scope(state), self.escape, self.cmd_set)
        cfg = new.get("config") or {}
        if cfg["WorkingDir"] == "/":
            return self._metadata(state, inst)
        key = cache.step_key(state.id, json.dumps(["WORKDIR", cfg["WorkingDir"], cfg.get("User") or "",
                                                   self.b.epoch]))
        hit = self.cached(key)
        if hit is not None:
            return hit, True
        from fastctr.build import copystep, files
        view = self.b.state_view(state)
        owner = files.parse_owner(cfg["User"], view) if cfg.get("User") else None
        mtime = int(self.b.epoch if self.b.epoch is not None else time.time())
        plan = files.plan_mkdir(view, cfg["WorkingDir"], owner, mtime)
        return copystep.write_plan(self, state, plan, key, created_by, config=new), False

    def cached(self, key):
        if self.b.options.no_cache:
            return None
        hit = cache.lookup(self.b.engine.store, key)
        return State(hit["config"], hit["layer_blobs"]) if hit else None

    def commit(self, state, key, tar_path, diff_id, created_by, config=None):
        return self.b.commit_layer(state, tar_path, diff_id, created_by, key, config=config)


class StepError(BuildError):
    """A step failed: the message is Docker's `failed to solve: ...`, the
    instruction and its lines are kept for the summary."""

    def __init__(self, run, inst, i, cause):
        super().__init__(f"failed to solve: {cause}" if not str(cause).startswith("failed to solve") else
                         str(cause))
        self.title = run.title(i, inst)
        self.inst = inst
        self.cause = cause


def _shown(inst):
    text = inst.original.strip()
    return text if len(text) < 200 else text[:197] + "..."
