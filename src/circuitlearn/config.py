"""Run configurations: a TOML document that fully determines a training run.

```toml
[network]                 # kind = "random" | "lattice" | "board" | "edges"
kind = "random"
n_nodes = 64
seed = 0

[task]                    # kind = "regression" | "allostery" | "iris"
kind = "regression"
n_inputs = 3
n_outputs = 2

[rule]                    # kind = "CoupledLearning" | "SteppedCoupledLearning" | "GradientDescent"
kind = "CoupledLearning"
lr = 0.5
eta = 0.5

[schedule]                # kind = "Synchronous" | "Bernoulli" | "RandomSubset" | "PoissonClocks"
kind = "Bernoulli"
p = 0.5

[train]                   # steps or updates_per_edge, batch_size (omit: full batch), seed,
steps = 1000              # record_every, record_state, backend
seed = 0
```

Every key is checked against the constructor it feeds; an unknown key is an error naming it.
"""

from __future__ import annotations

import copy
import inspect
import tomllib
from pathlib import Path
from typing import Any

from ._validation import TRAIN_PARAMS, check_conductances, check_train_args
from .errors import ValidationError
from .gallery import lab_board
from .hardware import SteppedCoupledLearning  # noqa: F401  (registers its TOML kind)
from .network import Network
from .rules import RULES
from .schedules import SCHEDULES, steps_for
from .tasks import allostery, iris, regression

NETWORKS = {
    "random": Network.random,
    "lattice": Network.lattice,
    "board": lab_board,
    "edges": Network.from_edges,
}
TASKS = {"regression": regression, "allostery": allostery, "iris": iris}
TRAIN_KEYS = tuple(name for name, p in TRAIN_PARAMS.items() if p.in_toml)
SECTIONS = ("name", "network", "task", "rule", "schedule", "train")


def _params(fn) -> tuple[list[str], list[str]]:
    """(all keyword names, required names) of a constructor, skipping the leading network."""
    sig = inspect.signature(fn)
    names, required = [], []
    for name, p in sig.parameters.items():
        if name in ("self", "cls", "net"):
            continue
        names.append(name)
        if p.default is inspect.Parameter.empty:
            required.append(name)
    return names, required


def _check_keys(section: str, given: dict, fn) -> None:
    names, required = _params(fn)
    for key in given:
        if key == "kind":
            continue
        if key not in names:
            raise ValidationError(
                f"unknown key {section}.{key} in the config: allowed keys for "
                f"kind = {given.get('kind')!r} are {['kind', *names]}"
            )
    missing = [r for r in required if r not in given]
    if missing:
        raise ValidationError(f"config section [{section}] is missing required key(s) {missing}")


def _kind(section: str, table: dict, choices: dict, default: str | None = None) -> str:
    kind = table.get("kind", default)
    if kind is None:
        raise ValidationError(f"config section [{section}] needs kind = one of {list(choices)}")
    if kind not in choices:
        raise ValidationError(f"{section}.kind must be one of {list(choices)}; got {kind!r}")
    return kind


def validate_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Check a run config (as parsed from TOML) and return a normalised deep copy.

    Raises ``ValidationError`` naming the offending key for unknown sections or keys, unknown
    kinds, missing required keys, and any invalid value (by building the objects).
    """
    if not isinstance(cfg, dict):
        raise ValidationError(f"a config must be a table (dict); got {type(cfg).__name__}")
    cfg = copy.deepcopy(cfg)
    for key in cfg:
        if key not in SECTIONS:
            raise ValidationError(
                f"unknown key {key!r} at the top of the config: allowed are {list(SECTIONS)}"
            )
    if "name" in cfg and not isinstance(cfg["name"], str):
        raise ValidationError(f"name must be a string; got {cfg['name']!r}")
    for section in ("network", "task"):
        if section not in cfg:
            raise ValidationError(f"the config needs a [{section}] section")
    for section in ("network", "task", "rule", "schedule", "train"):
        cfg.setdefault(section, {})
        if not isinstance(cfg[section], dict):
            raise ValidationError(f"config key {section!r} must be a table [{section}]")
    _check_keys("network", cfg["network"], NETWORKS[_kind("network", cfg["network"], NETWORKS)])
    _check_keys("task", cfg["task"], TASKS[_kind("task", cfg["task"], TASKS)])
    rk = _kind("rule", cfg["rule"], RULES, "CoupledLearning")
    cfg["rule"]["kind"] = rk
    _check_keys("rule", cfg["rule"], RULES[rk])
    sk = _kind("schedule", cfg["schedule"], SCHEDULES, "Synchronous")
    cfg["schedule"]["kind"] = sk
    _check_keys("schedule", cfg["schedule"], SCHEDULES[sk])
    for key in cfg["train"]:
        if key not in TRAIN_KEYS:
            raise ValidationError(
                f"unknown key train.{key} in the config: allowed are {list(TRAIN_KEYS)}"
            )
    net, _, _, schedule, kw = build(cfg)  # value checks happen in the constructors
    _check_train(kw, net, schedule)
    return cfg


def _check_train(kw: dict, net: Network, schedule) -> None:
    """Check the [train] values up front against the one table of training arguments."""
    from .train import check_backend

    try:
        check_train_args({k: v for k, v in kw.items() if k != "k0"})
        if "k0" in kw:
            check_conductances(kw["k0"], net.n_edges, "k0")
        if "backend" in kw:
            check_backend(kw["backend"])
    except ValidationError as exc:
        raise ValidationError(f"[train] {exc}") from None
    try:
        schedule.check(net.n_edges)
    except ValidationError as exc:
        raise ValidationError(f"[schedule] {exc}") from None


def _call(section: str, fn, kwargs: dict, *args):
    try:
        return fn(*args, **kwargs)
    except ValidationError as exc:
        raise ValidationError(f"[{section}] {exc}") from None
    except TypeError as exc:
        raise ValidationError(f"[{section}] bad value: {exc}") from None


def build(cfg: dict[str, Any]):
    """Build ``(net, task, rule, schedule, train_kwargs)`` from a run config."""
    net_cfg = {k: v for k, v in cfg["network"].items() if k != "kind"}
    net = _call("network", NETWORKS[cfg["network"]["kind"]], net_cfg)
    task_cfg = {k: v for k, v in cfg["task"].items() if k != "kind"}
    task = _call("task", TASKS[cfg["task"]["kind"]], task_cfg, net)
    rule_cfg = dict(cfg.get("rule", {}))
    rule = _call("rule", RULES[rule_cfg.pop("kind", "CoupledLearning")], rule_cfg)
    sched_cfg = dict(cfg.get("schedule", {}))
    schedule = _call("schedule", SCHEDULES[sched_cfg.pop("kind", "Synchronous")], sched_cfg)
    kw = dict(cfg.get("train", {}))
    if "updates_per_edge" in kw:
        # Schedules compare at equal updates per edge: derive the step count from the rate.
        if "steps" in kw:
            raise ValidationError("give train.steps or train.updates_per_edge, not both")
        upe = kw.pop("updates_per_edge")
        try:
            kw["steps"] = steps_for(upe, schedule, net.n_edges)
        except ValidationError as exc:
            raise ValidationError(f"[train] {exc}") from None
    return net, task, rule, schedule, kw


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """Parse a TOML file; a missing file or a syntax error is a ``ValidationError``."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{what} {str(path)!r} does not exist")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{path} is not valid TOML: {exc}") from None


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and validate a TOML run config."""
    return validate_config(read_toml(path))


def run_config(cfg: dict[str, Any], progress: bool | None = None):
    """Validate ``cfg``, build everything and train; the result carries the full config."""
    from .train import train

    cfg = validate_config(cfg)
    net, task, rule, schedule, kw = build(cfg)
    result = train(net, task, rule=rule, schedule=schedule, progress=progress, **kw)
    full = copy.deepcopy(cfg)
    full["rule"], full["schedule"] = result.config["rule"], result.config["schedule"]
    full["train"] = {**result.config["train"], **({"k0": kw["k0"]} if "k0" in kw else {})}
    result.config = full
    return result
