"""The layering of rlhfkit, checked on its import graph (every import, lazy ones inside functions too):

    algos  <  data, models, rewards, world, plugins, ...  <  stages  <  evaluate  <  pipeline  <  the CLI

No module imports one of a later layer, no two modules import each other (directly or in a
circle), and only PPO's own folder imports PPO's rollout: sampling is rlhfkit.models.generation.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rlhfkit"

LAYER = {"algos": 0, "errors": 0, "quiet": 0, "secret_masking": 0, "run_dirs": 0, "data": 1, "models": 1, "rewards": 1, "world": 1, "plugins": 1, "tracking": 1,
         "optimizers": 1, "config_dir": 1, "user_errors": 1, "stages": 2, "evaluate": 3, "pipeline": 4, "train_command": 5,
         "entry": 5, "composition_check": 5, "cli": 5}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The rlhfkit modules ``path`` imports (``from a.b import c`` counts a.b.c when that is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("rlhfkit")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rlhfkit") and not node.level:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules}
    return {m for m in out if m in modules}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(files)) - {name} for name, path in files.items()}


def layer(module: str) -> int:
    return LAYER[module.split(".")[1]] if "." in module else 0


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of module imports, ignoring a package's imports of its own submodules (re-exports)."""
    def deps(m: str) -> set[str]:
        return {d for d in edges[m] if not d.startswith(m + ".")}

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(deps(m)):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_every_top_level_module_has_a_layer():
    tops = {module_name(p).split(".")[1] for p in PACKAGE.rglob("*.py") if module_name(p) != "rlhfkit"}
    assert tops <= set(LAYER), f"give these a layer in LAYER: {sorted(tops - set(LAYER))}"


def test_no_module_imports_a_later_layer():
    upward = [f"{m} -> {d}" for m, ds in graph().items() for d in ds
              if d != "rlhfkit" and layer(d) > layer(m) and m != "rlhfkit"]
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))


def test_algos_is_pure():
    impure = [f"{m} -> {d}" for m, ds in graph().items() if m.startswith("rlhfkit.algos") for d in ds
              if not d.startswith("rlhfkit.algos")]
    assert not impure, impure


def test_no_import_cycle():
    assert find_cycle(graph()) is None


def test_only_ppo_imports_its_rollout():
    outside = [m for m, ds in graph().items() if "rlhfkit.stages.ppo.rollout" in ds
               and not m.startswith("rlhfkit.stages.ppo")]
    assert not outside, outside


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "a.x"}, "a.x": set(), "b": set()}) is None


@pytest.mark.parametrize("name", ["sft", "rm", "ppo", "pretrain"])
def test_a_stage_is_one_folder(name):
    folder = PACKAGE / "stages" / name
    assert (folder / "config.py").exists() and (folder / "builder.py").exists()
