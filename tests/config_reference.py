"""Generate docs/config.md, the reference of every key of a run config and of a sweep spec.

Everything in the tables comes from the code: the kinds from ``config.NETWORKS``,
``config.TASKS``, ``rules.RULES`` and ``schedules.SCHEDULES``; each kind's keys, defaults and
required keys from its constructor's signature (``config._params``, the function the config
checker uses); each key's type and meaning from the "Parameters" section of the constructor's
numpy-style docstring; the ``[train]`` keys from ``_validation.TRAIN_PARAMS``; the sweep spec's
tables from ``grid``. Only the introductions and the two examples are written here.

Regenerate with ``python tests/config_reference.py > docs/config.md``;
tests/test_config_reference.py fails while the committed file differs from ``render()``.
"""

from __future__ import annotations

import inspect
import re
import sys
import tomllib

from circuitlearn import config, grid
from circuitlearn._validation import TRAIN_PARAMS
from circuitlearn.rules import RULES
from circuitlearn.schedules import SCHEDULES

EXAMPLE_CONFIG = """\
name = "desync-demo"

[network]
kind = "random"
n_nodes = 64
seed = 0

[task]
kind = "regression"
n_inputs = 3
n_outputs = 2
n_train = 40

[rule]
kind = "CoupledLearning"
lr = 0.5
eta = 0.5

[schedule]
kind = "Bernoulli"
p = 0.5

[train]
updates_per_edge = 500
batch_size = 8
seed = 0
"""

EXAMPLE_SPEC = """\
[sweep]
name = "desync"

[base]
network = {kind = "random", n_nodes = 32, seed = 0}
task = {kind = "regression", n_inputs = 2, n_outputs = 1}
rule = {kind = "CoupledLearning", lr = 0.5, eta = 0.5}
schedule = {kind = "Bernoulli", p = 1.0}
train = {updates_per_edge = 100, seed = 0}

[grid]
"schedule.p" = [1.0, 0.5, 0.1]
"train.seed" = [0, 1]
"rule.lr|train.updates_per_edge" = [[0.5, 100], [0.1, 500]]
"""

SECTION_KINDS = {
    "network": config.NETWORKS,
    "task": config.TASKS,
    "rule": RULES,
    "schedule": SCHEDULES,
}

# A unit named in a parameter's description: "(ohm)", "in S", "Learning rate, S/V^2".
_UNIT = re.compile(r"(?:\(|\bin |, )(S/V\^2|V\^2|ohm|V|S)(?=[\s).,;]|$)")
_HEADER = re.compile(r"^(\w[\w ]*)\n-+\n", re.MULTILINE)


def numpydoc_params(doc: str | None) -> dict[str, tuple[str, str]]:
    """``name -> (type, description)`` from the "Parameters" section of a numpy docstring.

    A line ``a, b : float`` documents both names; the description is the indented lines below
    it, joined into one line.
    """
    doc = inspect.cleandoc(doc or "")
    headers = list(_HEADER.finditer(doc))
    body = ""
    for i, m in enumerate(headers):
        if m.group(1).strip() == "Parameters":
            end = headers[i + 1].start() if i + 1 < len(headers) else len(doc)
            body = doc[m.end() : end]
    out: dict[str, tuple[str, str]] = {}
    names: list[str] = []
    for line in body.splitlines():
        if line and not line[0].isspace():
            head, _, kind = line.partition(" : ")
            names = [n.strip() for n in head.split(",")]
            for n in names:
                out[n] = (kind.strip(), "")
        elif line.strip() and names:
            for n in names:
                kind, text = out[n]
                out[n] = (kind, f"{text} {line.strip()}".strip())
    return out


def _doc_of(fn) -> str | None:
    """The docstring that documents a constructor's arguments (the class's, or __init__'s)."""
    doc = inspect.getdoc(fn)
    if inspect.isclass(fn) and "__init__" in vars(fn) and vars(fn)["__init__"].__doc__:
        init = inspect.getdoc(vars(fn)["__init__"])
        if "Parameters" in init:
            doc = f"{doc}\n\n{init}"
    return doc


def _summary(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    return " ".join(inspect.cleandoc(doc or "").split("\n\n")[0].split())


def toml_value(value) -> str:
    """A default as it would be written in TOML; None (no TOML value) as "(none)"."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "—"


def _unit(text: str) -> str:
    m = _UNIT.search(text)
    return m.group(1) if m else ""


def kind_table(fn) -> list[str]:
    """Markdown rows ``key | default | type | unit | meaning`` for one constructor."""
    names, required = config._params(fn)
    sig = inspect.signature(fn).parameters
    docs = numpydoc_params(_doc_of(fn))
    rows = ["| key | default | allowed / type | unit | meaning |", "|---|---|---|---|---|"]
    for name in names:
        default = "*required*" if name in required else f"`{toml_value(sig[name].default)}`"
        ann = sig[name].annotation
        kind, text = docs.get(name, ("", ""))
        kind = kind or ("" if ann is inspect.Parameter.empty else str(ann))
        rows.append(
            f"| `{name}` | {default} | {_cell(kind)} | {_cell(_unit(text))} | {_cell(text)} |"
        )
    return rows


def _default_kinds() -> dict[str, str]:
    """The kind a section gets when the config leaves it out (asked of ``validate_config``)."""
    cfg = tomllib.loads(EXAMPLE_CONFIG)
    del cfg["rule"], cfg["schedule"]
    cfg["train"] = {"steps": 1}
    checked = config.validate_config(cfg)
    return {s: checked[s]["kind"] for s in ("rule", "schedule")}


def _kind_sections(section: str, kinds: dict, default: str | None) -> list[str]:
    lines = [f"## [{section}]", ""]
    choice = ", ".join(f'`"{k}"`' for k in kinds)
    if default is None:
        lines.append(f"`kind` is required: one of {choice}.")
    else:
        lines.append(f'`kind` is one of {choice}; without it (or the section), `"{default}"`.')
    lines.append("")
    for kind, fn in kinds.items():
        lines += [f'### {section}.kind = "{kind}"', "", _summary(_doc_of(fn)), ""]
        if config._params(fn)[0]:
            lines += [*kind_table(fn), ""]
        else:
            lines += ["No other keys.", ""]
    return lines


def train_table() -> list[str]:
    """Markdown rows for the [train] keys: the TOML-settable entries of ``TRAIN_PARAMS``."""
    rows = ["| key | default | allowed | unit | meaning |", "|---|---|---|---|---|"]
    for p in TRAIN_PARAMS.values():
        if not p.in_toml:
            continue
        allowed = p.allowed() + (", or omitted" if p.optional else "")
        rows.append(
            f"| `{p.name}` | `{toml_value(p.default)}` | {_cell(allowed)} | {_cell(p.unit)} "
            f"| {_cell(p.doc)} |"
        )
    return rows


def render() -> str:
    """The whole of docs/config.md."""
    defaults = _default_kinds()
    sections = ", ".join(f"`{s}`" if s == "name" else f"`[{s}]`" for s in config.SECTIONS)
    lines = [
        "# Run configs and sweep specs: every key",
        "",
        "<!-- Generated by tests/config_reference.py from the code; do not edit by hand.",
        "     Regenerate: python tests/config_reference.py > docs/config.md -->",
        "",
        "A run config is a TOML file that fully determines one training run: the network, the",
        "task, the learning rule, the update schedule and the training arguments. Run it with",
        "`circuitlearn train CONFIG.toml` (or `cl.run_config(cl.load_config(path))`); the",
        "results are written next to a copy of the full config. Every key is checked before",
        "training starts: an unknown section, kind or key, a missing required key, or a bad",
        "value is an error naming it (see [errors.md](errors.md)).",
        "",
        f"Top-level keys: {sections}.",
        "`[network]` and `[task]` are required; the others may be left out. In each of",
        "`[network]`, `[task]`, `[rule]` and `[schedule]`, `kind` picks the constructor and",
        "the other keys are its keyword arguments, listed below per kind. A default of",
        "`(none)` means the key is optional and has no TOML value: leave it out.",
        "",
        "```toml",
        EXAMPLE_CONFIG.rstrip("\n"),
        "```",
        "",
        "## name",
        "",
        "Optional top-level string: the run's name, kept in the saved config.",
        "",
    ]
    for section, kinds in SECTION_KINDS.items():
        lines += _kind_sections(section, kinds, defaults.get(section))
    lines += [
        "## [train]",
        "",
        "The training arguments of `cl.train` that a config can set (one table,",
        "`TRAIN_PARAMS`, serves `cl.train`, `train_many`, the config and the command line).",
        "Give `steps` or `updates_per_edge`, not both: `updates_per_edge` derives the step",
        "count from the schedule's update rate, so schedules compare at equal updates per edge.",
        "",
        *train_table(),
        "",
        "## Sweep specs",
        "",
        "A sweep spec (`circuitlearn sweep SWEEP.toml --out DIR`, `cl.sweep(spec, out)`) is a",
        "run config plus the axes to vary; [sweeps.md](sweeps.md) describes running one.",
        f"Its top-level tables are {', '.join(f'`[{k}]`' for k in grid.SPEC_KEYS)}:",
        "",
        "| table | keys |",
        "|---|---|",
        f"| `[sweep]` | {', '.join(f'`{k}`' for k in grid.SWEEP_KEYS)} (optional string) |",
        "| `[base]` | a run config, as above, shared by every point |",
        "| `[grid]` | axes: a dotted config key mapped to a non-empty list of values |",
        "",
        "The points are the Cartesian product of the axes (last axis fastest). A grid key",
        f"starts with a config section ({', '.join(f'`{s}`' for s in config.SECTIONS)}):",
        '`"schedule.p" = [1.0, 0.5]` sets one key, `rule = [{kind = "CoupledLearning", ...},',
        '...]` replaces a whole table. A paired axis `"a|b"` zips its keys instead of',
        "crossing them: each value is a list with one entry per key, e.g.",
        '`"rule.taps|train.steps" = [[16, 400], [128, 2000]]`. Every point\'s config is',
        "validated, as a run config, before the first run starts.",
        "",
        "```toml",
        EXAMPLE_SPEC.rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render())
