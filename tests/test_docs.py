"""The documentation runs and its links resolve.

Every ```python block of the tutorial and the extension guide runs, in order, in one namespace
(as a reader pasting them into one session would), inside a fresh working directory. Every
relative link in README.md and docs/*.md must name a file that exists.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNABLE = [
    "README.md",
    "docs/tutorial.md",
    "docs/extending.md",
    "docs/hardware.md",
    "docs/diagnostics.md",
    pytest.param(
        "docs/spice.md",
        marks=pytest.mark.skipif(
            shutil.which("ngspice") is None, reason="ngspice not installed: apt-get install ngspice"
        ),
    ),
]

_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# [text](target) with a target that is not a URL or an in-page anchor; images included.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_CODE = re.compile(r"^```.*?^```[ \t]*$|`[^`\n]*`", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of a Markdown text, in order."""
    return [m.group(1) for m in _BLOCK.finditer(text)]


def relative_links(text: str) -> list[str]:
    """Link targets that point at files of the repository (no scheme, no pure anchor)."""
    out = []
    for target in _LINK.findall(_CODE.sub("", text)):  # code such as f[i](x) is no link
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue
        out.append(target.split("#", 1)[0])
    return out


def test_block_extraction_finds_fenced_python_only():
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = x\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = x\n"]


@pytest.fixture
def registries():
    """Leave the rule, schedule, task and backend tables as they were: the extension guide
    registers its examples in them, and other tests list what is registered."""
    from circuitlearn import config, physics, rules, schedules

    tables = [rules.RULES, schedules.SCHEDULES, config.TASKS, physics.BACKENDS]
    saved = [dict(t) for t in tables]
    yield
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        table.update(before)


@pytest.mark.parametrize("doc", RUNNABLE)
def test_python_blocks_run(doc, tmp_path, monkeypatch, registries):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks((ROOT / doc).read_text())
    assert blocks, f"{doc} has no python blocks"
    # __name__ == "__main__" so that the guarded sweep block runs, as in a script.
    namespace = {"__name__": "__main__"}
    for i, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{doc}[block {i}]", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{doc}, python block {i} failed:\n{block}") from exc
    try:
        import matplotlib.pyplot as plt

        plt.close("all")
    except ImportError:
        pass


def test_link_check_sees_broken_links():
    text = (
        "[ok](docs/a.md) [web](https://x.org) [anchor](#b) ![img](figures/c.png#x)\n"
        "`RULES[kind](cfg)`\n```python\nSCHEDULES[k](x)\n```\n[last](d.md)"
    )
    assert relative_links(text) == ["docs/a.md", "figures/c.png", "d.md"]


@pytest.mark.parametrize(
    "doc", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
)
def test_relative_links_resolve(doc):
    path = ROOT / doc
    missing = [t for t in relative_links(path.read_text()) if not (path.parent / t).exists()]
    assert not missing, f"{doc} links to missing files: {missing}"


def test_extension_examples_leave_no_registration_behind():
    from circuitlearn import config, physics, rules, schedules

    assert "LogCoupledLearning" not in rules.RULES
    assert "RandomBlock" not in schedules.SCHEDULES
    assert "csv" not in config.TASKS
    assert "dense-lu" not in physics.BACKENDS
