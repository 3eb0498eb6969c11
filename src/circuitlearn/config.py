"""Run configurations: a TOML document that fully determines a training run.

```toml
[network]                 # kind = "random" | "lattice" | "board" | "transistor-torus" | ...
kind = "random"
n_nodes = 64
seed = 0

[task]                    # kind = "regression" | "allostery" | "iris" | "xor" | "square"
kind = "regression"
n_inputs = 3
n_outputs = 2

[rule]                    # kind = "CoupledLearning" | "SteppedCoupledLearning" | ...
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

from ._validation import TRAIN_PARAMS, check_conductances, check_text_file, check_train_args
from .eqprop import EquilibriumPropagation
from .errors import TrainingDiverged, TrainingInterrupted, ValidationError
from .gallery import diode_board, lab_board, transistor_torus
from .hardware import SteppedCoupledLearning
from .network import Network
from .rules import RULES, register_rule
from .schedules import SCHEDULES, steps_for
from .store import read_network, read_task
from .tasks import Task, allostery, iris, regression, square, xor
from .train import check_backend, train


def network_file(path: str) -> Network:
    """A network saved with a run (``network.npz``).

    Parameters
    ----------
    path : str
        The ``.npz`` file; a relative path is relative to the config file.
    """
    return read_network(path)


def task_file(net: Network, path: str) -> Task:
    """A task saved with a run (``task.npz``): node roles and data, for your own data too
    (``np.savez`` with ``input_nodes``, ``output_nodes``, ``ground_nodes``, ``x_train``,
    ``y_train``, optional ``x_test``/``y_test``, and a JSON ``meta`` of encoding, levels, name).

    Parameters
    ----------
    path : str
        The ``.npz`` file; a relative path is relative to the config file.
    """
    task = read_task(path)
    task.check_network(net)
    return task


NETWORKS = {
    "random": Network.random,
    "lattice": Network.lattice,
    "board": lab_board,
    "transistor-torus": transistor_torus,
    "diode-board": diode_board,
    "edges": Network.from_edges,
    "file": network_file,
}
TASKS = {
    "regression": regression,
    "allostery": allostery,
    "iris": iris,
    "xor": xor,
    "square": square,
    "file": task_file,
}
# Every built-in rule is a TOML kind, listed here rather than through an import side effect;
# users add theirs with ``circuitlearn.rules.register_rule``.
register_rule(SteppedCoupledLearning)
register_rule(EquilibriumPropagation)
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
    """Parse a TOML file; a missing, binary or malformed file is a ``ValidationError``."""
    path = check_text_file(what, path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{path} is not valid TOML: {exc}") from None


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and validate a TOML run config; ``"file"`` kinds' relative paths are taken
    relative to the config file's directory."""
    cfg = read_toml(path)
    for section in ("network", "task"):
        table = cfg.get(section)
        if isinstance(table, dict) and table.get("kind") == "file" and "path" in table:
            if isinstance(table["path"], str) and not Path(table["path"]).is_absolute():
                table["path"] = str(Path(path).parent / table["path"])
    return validate_config(cfg)


def run_config(cfg: dict[str, Any], progress: bool | None = None, **train_kwargs):
    """Validate ``cfg``, build everything and train; the result carries the full config.

    ``train_kwargs`` go to ``train`` as they are (``checkpoint``, ``checkpoint_every``,
    ``resume``, ``callback``). A ``TrainingInterrupted`` or ``TrainingDiverged`` raised by
    ``train`` carries the partial result with the full config too.
    """
    cfg = validate_config(cfg)
    net, task, rule, schedule, kw = build(cfg)

    def full_config(result) -> dict:
        full = copy.deepcopy(cfg)
        full["rule"], full["schedule"] = result.config["rule"], result.config["schedule"]
        full["train"] = result.config["train"]
        return full

    try:
        result = train(
            net, task, rule=rule, schedule=schedule, progress=progress, **kw, **train_kwargs
        )
    except (TrainingInterrupted, TrainingDiverged) as exc:
        if exc.result is not None:
            exc.result.config = full_config(exc.result)
        raise
    result.config = full_config(result)
    return result
