"""The house rules, checked from the source: imports run one way,

    cli -> {bench, server} -> engine -> {net, image} -> runtime -> (errors, jsonfast, cliargs)

and no two modules import each other, directly or through others (lazy
imports inside functions count too: they are dependencies all the same)."""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "fastctr")
LEVEL = {"cli": 5, "bench": 4, "server": 4, "build": 4, "engine": 3, "net": 2, "image": 2, "runtime": 1}  # anything else: the bottom, 0
MAX_LINES = 600
ONE_THING = ("one cohesive thing",)  # said in the opening comment of a longer file


def modules():
    out = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith((".py", ".pyx")):  # _core is compiled from a .pyx
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, os.path.dirname(ROOT)).rsplit(".", 1)[0].replace(os.sep, ".")
                out[rel.removesuffix(".__init__")] = path
    return out


MODULES = modules()


def imports_of(path):
    """fastctr modules that the file imports, anywhere in it."""
    if path.endswith(".pyx"):  # Cython: its Python-level imports are lines of their own
        text = "\n".join(line for line in open(path) if line.startswith(("import ", "from ")) and "cimport" not in line)
    else:
        text = open(path).read()
    tree = ast.parse(text, path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fastctr"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fastctr") \
                and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


GRAPH = {m: {i for i in imports_of(p) if i in MODULES and i != m} for m, p in MODULES.items()}


def wing(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LEVEL else None


def level(module):
    return LEVEL.get(wing(module), 0)


def test_every_wing_is_there():
    assert {wing(m) for m in MODULES} - {None} == set(LEVEL)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_downward(module):
    bad = []
    for target in sorted(GRAPH[module]):
        if wing(target) == wing(module):
            continue
        if level(target) >= level(module):
            bad.append(f"{module} (level {level(module)}) imports {target} (level {level(target)})")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == "open":
                cycles.append(" -> ".join(stack[stack.index(n):] + [n]))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"
    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_files_stay_small_or_say_why(module):
    with open(MODULES[module]) as f:
        text = f.read()
    if text.count("\n") > MAX_LINES and not MODULES[module].endswith(".pyx"):
        opening = ast.get_docstring(ast.parse(text)) or ""
        assert any(w in opening.lower() for w in ONE_THING), f"{module}: {text.count(chr(10))} lines"


def test_the_public_names_still_work():
    from fastctr.runtime import Runtime  # noqa: F401
    from fastctr.engine import ContainerNotFoundError, Engine, RunOptions  # noqa: F401
    from fastctr.errors import (CommandNotExecutable, CommandNotFound, ConfigError, ContainerExists,  # noqa: F401
                                ContainerNotFound, HookError, InvalidState, SpawnError)
    from fastctr.cli import main
    assert callable(main)
