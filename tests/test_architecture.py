"""The import contract of the package, read from the syntax trees of every module (imports
inside functions included), and a smoke test that every module imports.

Layers, lowest first; a module may import its own layer and the layers below, never above:

    _version, errors < _validation < elements < network < gallery
    < physics, backends, cholmod, stacked, spice, nonlinear
    < signals < rules, hardware, schedules, tasks, sampling, eqprop < measure, nonlinear_measure
    < history, callbacks, loop
    < train, ensemble < config, store, analysis, diagnostics
    < grid, results, executors, sweep, sweep_progress
    < estimators, plots, experiments, bench, demo < cli, cli_support

Besides: physics never imports learning code; learning rules never import physics; nothing
imports ``cli``, ``plots`` or the package root (``circuitlearn/__init__``) from below; the
package root only re-exports and may import anything. A new module must be placed in
``LAYERS`` before this test passes.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import circuitlearn as cl

PACKAGE = "circuitlearn"
ROOT = Path(cl.__file__).resolve().parent

#: The whiteboard's layers, lowest first (subpackages are named by their top-level name).
LAYERS: list[tuple[str, ...]] = [
    ("_version", "errors"),
    ("_validation",),
    ("elements",),
    ("network",),
    ("gallery",),
    ("physics", "backends", "cholmod", "stacked", "spice", "nonlinear"),
    ("signals",),
    ("rules", "hardware", "schedules", "tasks", "sampling", "eqprop"),
    ("measure", "nonlinear_measure"),
    ("history", "callbacks", "loop"),
    ("train", "ensemble"),
    ("config", "store", "checkpoints", "analysis", "diagnostics"),
    ("grid", "results", "executors", "sweep", "sweep_progress"),
    ("estimators", "plots", "experiments", "bench", "demo"),
    ("cli", "cli_support"),
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}

PHYSICS = {"physics", "backends", "cholmod", "stacked", "spice", "nonlinear"}
LEARNING = {
    "signals",
    "rules",
    "hardware",
    "schedules",
    "measure",
    "loop",
    "train",
    "eqprop",
    "nonlinear_measure",
}
RULES = {"rules", "hardware", "eqprop"}
#: (importer group, imported group, why): arrows the whiteboard forbids whatever the layers say.
FORBIDDEN = [
    (PHYSICS, LEARNING, "physics never imports learning code"),
    (RULES, PHYSICS, "a learning rule sees only per-edge arrays, never the physics"),
    ({"network"}, PHYSICS, "topology needs no solver"),
    ({"elements"}, PHYSICS | LEARNING, "element laws need no solver and no learning"),
]
#: Modules nothing may import from a lower layer.
TOP = {"cli", "plots"}


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module under src/circuitlearn."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PACKAGE, *parts])] = path
    return out


MODULES = _modules()


def _component(module: str) -> str | None:
    """``circuitlearn.experiments.e2`` -> ``experiments``; the package root -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every package module ``module`` imports, anywhere in the file, with the line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    here = module.split(".") if is_pkg else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                # `from pkg import name`: a submodule if one exists, else a name of pkg itself
                found.append((sub if sub in MODULES else target, node.lineno))
    return found


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT.parent)) if path.is_relative_to(ROOT.parent) else str(path)


def _edges() -> list[tuple[str, str, str, int]]:
    """(importer module, imported module, file, line) over the whole package."""
    return [
        (mod, target, _shown(path), line)
        for mod, path in MODULES.items()
        for target, line in _imports(mod, path)
    ]


def test_every_module_is_placed_in_a_layer():
    unplaced = sorted(
        {c for m in MODULES if (c := _component(m)) is not None and c not in LAYER} - {"__main__"}
    )
    assert not unplaced, (
        f"modules {unplaced} are not in tests/test_architecture.py LAYERS (and in the layer "
        "list of the developer guide): place them before importing them"
    )


def _violations() -> list[str]:
    bad = []
    for src, dst, where, line in _edges():
        a, b = _component(src), _component(dst)
        at = f"{where}:{line}: {src} imports {dst}"
        if a is None:
            continue  # the package root only re-exports: it may import anything
        if b is None:
            bad.append(f"{at} (the package root; import the defining module instead)")
            continue
        if a == b or a not in LAYER or b not in LAYER:
            continue
        if LAYER[b] > LAYER[a]:
            bad.append(f"{at} (layer {LAYER[a]} imports layer {LAYER[b]}: upward)")
        if b in TOP and LAYER[b] > LAYER[a]:
            bad.append(f"{at} ({b} is imported from below)")
        for importers, imported, why in FORBIDDEN:
            if a in importers and b in imported:
                bad.append(f"{at} ({why})")
    return bad


def test_imports_follow_the_layers():
    bad = _violations()
    assert not bad, "import contract broken:\n" + "\n".join(bad)


def test_the_contract_checker_sees_function_level_and_root_imports(tmp_path, monkeypatch):
    """The checker itself: a function-level upward import and a root import are caught."""
    fake = tmp_path / "network.py"
    fake.write_text(
        "def f():\n    from .physics import solve\n    from . import __version__\n    return 1\n"
    )
    found = _imports(f"{PACKAGE}.network", fake)
    assert (f"{PACKAGE}.physics", 2) in found and (PACKAGE, 3) in found
    monkeypatch.setitem(MODULES, f"{PACKAGE}.network", fake)
    bad = "\n".join(_violations())
    assert "network.py:2" in bad and "topology needs no solver" in bad
    assert "network.py:3" in bad and "package root" in bad


ALL = sorted(m.name for m in pkgutil.walk_packages(cl.__path__, f"{PACKAGE}."))


@pytest.mark.parametrize("name", ALL)
def test_every_module_imports(name):
    importlib.import_module(name)
