"""The command line's answer to every user mistake: one line, named, before any work.

Each case runs ``python -m circuitlearn ...`` in a subprocess (this checkout's ``src`` first on
``PYTHONPATH``), in a scratch directory holding the inputs, and checks that the command

- exits with code 2,
- prints exactly one line on stderr, ``error: ...``, naming the field or option (and no
  traceback),
- writes nothing and changes nothing: the scratch directory is byte-for-byte the same after.

The mistakes are those of the newcomer review's bad-input table that reach the command line
(rows 1-17, 19-30, 34-38; each case names its row), plus the path and option mistakes around
them. Every mistake is caught before any training starts, so each case costs about one
interpreter start-up; the cases run a few at a time. Ctrl-C during training exits with code
130 and one ``interrupted:`` line.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

NETWORK = '[network]\nkind = "random"\nn_nodes = 20\nseed = 0\n'
TASK = '[task]\nkind = "regression"\nn_inputs = 2\nn_outputs = 1\nn_train = 8\nn_test = 4\n'
RULE = '[rule]\nkind = "CoupledLearning"\nlr = 0.5\neta = 0.5\n'
SCHEDULE = '[schedule]\nkind = "Bernoulli"\np = 0.5\n'
TRAIN = "[train]\nsteps = 20\nseed = 0\n"
GOOD = NETWORK + TASK + RULE + SCHEDULE + TRAIN
BOARD_IRIS = (
    '[network]\nkind = "board"\n[task]\nkind = "iris"\nencoding = "levels"\n'
    "input_nodes = [0, 2, 3, 6]\noutput_nodes = [4]\nground_nodes = [7]\n"
)
STEPPED = '[rule]\nkind = "SteppedCoupledLearning"\neta = 0.5\ntaps = 16\n'


def _spec(grid: str, base: str = GOOD) -> str:
    """A sweep spec: ``base`` with each section moved under [base.*], then ``grid``."""
    return base.replace("[", "[base.") + "[grid]\n" + grid


#: Scratch files every case can refer to by name (relative to the scratch directory).
FILES = {
    "good.toml": GOOD,
    "malformed.toml": "[network\nkind = 'random'\n",
    "unknown_key.toml": GOOD.replace("lr = 0.5", "learning_rate = 0.5"),
    "section_typo.toml": GOOD.replace("[train]", "[trian]"),
    "p_half.toml": GOOD.replace("p = 0.5", 'p = "half"'),
    "p_zero.toml": GOOD.replace("p = 0.5", "p = 0"),
    "p_15.toml": GOOD.replace("p = 0.5", "p = 1.5"),
    "eta0.toml": GOOD.replace("eta = 0.5", "eta = 0"),
    "lr_inf.toml": GOOD.replace("lr = 0.5", "lr = inf"),
    "taps1.toml": GOOD.replace(RULE, STEPPED.replace("taps = 16", "taps = 1")),
    "rminmax.toml": GOOD.replace(RULE, STEPPED + "r_min = 20000\nr_max = 10000\n"),
    "seed_neg.toml": GOOD.replace("n_nodes = 20\nseed = 0", "n_nodes = 20\nseed = -1"),
    "steps_bool.toml": GOOD.replace("steps = 20", "steps = true"),
    "nnodes_str.toml": GOOD.replace("n_nodes = 20", 'n_nodes = "64"'),
    "both_roles.toml": BOARD_IRIS.replace("output_nodes = [4]", "output_nodes = [3]") + TRAIN,
    "floating.toml": (  # a triangle 0-1-2 with no path to the chain 3-8 holding every role
        '[network]\nkind = "edges"\nn_nodes = 9\n'
        "edges = [[0, 1], [1, 2], [0, 2], [3, 4], [4, 5], [5, 6], [6, 7], [7, 8]]\n"
        '[task]\nkind = "iris"\nencoding = "levels"\n'
        "input_nodes = [3, 4, 5, 6]\noutput_nodes = [7]\nground_nodes = [8]\n" + TRAIN
    ),
    "empty.toml": "",
    "section_str.toml": 'network = "board"\n' + TASK,
    "saved_config.toml": RULE + SCHEDULE + TRAIN,  # what cl.save wrote in 0.1.0
    "binary.toml": bytes(range(256)) * 4,
    "afile": "a file, not a directory\n",
    "sweep_empty_axis.toml": _spec('"train.seed" = []\n'),
    "sweep_scalar_axis.toml": _spec('"schedule.p" = 0.5\n'),
    "sweep_bad_p.toml": _spec('"schedule.p" = [1.0, 2.0]\n'),
    "sweep_bad_key.toml": _spec('"schedule.q" = [0.1]\n'),
    "sweep_ok.toml": _spec('"train.seed" = [0, 1]\n'),
    "adir/keep.txt": "a directory that is neither a run nor a demo output\n",
    "fakerun/config.toml": "",
    "nodask/distributed/__init__.py": "raise ImportError('dask.distributed hidden by the test')\n",
}


@dataclass(frozen=True)
class Mistake:
    row: str  # the newcomer table's row, or "+" for an added case
    args: tuple[str, ...]
    names: tuple[str, ...]  # words the one error line must contain
    pythonpath: tuple[str, ...] = ()  # scratch directories put first on PYTHONPATH


def _m(row, args: str, *names: str, pythonpath=()) -> Mistake:
    return Mistake(row, tuple(args.split()), names, tuple(pythonpath))


MISTAKES = {
    "malformed TOML": _m("1", "train malformed.toml", "malformed.toml", "not valid TOML"),
    "unknown key": _m("2", "train unknown_key.toml", "rule.learning_rate"),
    "misspelt section": _m("3", "train section_typo.toml", "'trian'"),
    "p is a string": _m("4", "train p_half.toml", "[schedule] p must be", "'half'"),
    "p = 0": _m("5", "train p_zero.toml", "[schedule] p must be", "got 0"),
    "eta = 0": _m("6", "train eta0.toml", "[rule] eta must be"),
    "lr = inf": _m("18", "train lr_inf.toml", "[rule] lr must be", "inf"),
    "taps = 1": _m("7", "train taps1.toml", "[rule] taps must be"),
    "r_min above r_max": _m("8", "train rminmax.toml", "[rule] r_min (20000)"),
    "negative network seed": _m("9", "train seed_neg.toml", "[network] seed must be"),
    "steps = true": _m("10", "train steps_bool.toml", "[train] steps", "True"),
    "node in two roles": _m("11", "train both_roles.toml", "input_nodes and output_nodes"),
    "floating component": _m("12", "train floating.toml", "free nodes"),
    "config missing": _m("13", "train nope.toml", "nope.toml", "does not exist"),
    "config is a directory": _m("14", "train adir", "'adir' is a directory"),
    "config is binary": _m("15", "train binary.toml", "binary.toml", "not a text TOML file"),
    "config is empty": _m("16", "train empty.toml", "[network] section"),
    "section given as a string": _m("17", "train section_str.toml", "must be a table [network]"),
    "--out exists": _m("19", "train good.toml --out adir", "--out 'adir' already exists"),
    "--out is a file": _m("20", "train good.toml --out afile --overwrite", "'afile' is a file"),
    "--out under a file": _m("21", "train good.toml --out afile/sub", "under 'afile'"),
    "sweep --out is a file": _m("23", "sweep sweep_ok.toml --out afile", "--out 'afile'"),
    "empty grid axis": _m("24", "sweep sweep_empty_axis.toml", "train.seed", "non-empty"),
    "scalar grid axis": _m("25", "sweep sweep_scalar_axis.toml", "schedule.p"),
    "grid value out of range": _m(
        "26", "sweep sweep_bad_p.toml", "sweep point 1", "[schedule] p must be"
    ),
    "unknown grid key": _m("27", "sweep sweep_bad_key.toml", "schedule.q"),
    "run config given to sweep": _m("28", "sweep good.toml", "[base] is the run config"),
    "--workers 0": _m("29", "sweep sweep_ok.toml --workers 0", "--workers", "got 0"),
    "--dask without the extra": _m(
        "30",
        "sweep sweep_ok.toml --dask",
        "pip install 'circuitlearn[dask]'",
        pythonpath=["nodask"],
    ),
    "demo --seeds 0": _m("34", "demo --seeds 0", "seeds", "got 0"),
    "demo --steps -5": _m("35", "demo --steps -5", "steps", "got -5"),
    "unknown experiment": _m("36", "reproduce e9 --quick", "unknown experiment 'e9'"),
    "plot a non-run directory": _m("37", "plot adir", "neither a run directory"),
    "plot --format gif": _m("37", "plot fakerun --format gif --out figs", "formats", "gif"),
    "cl.save config without [network]": _m("38", "train saved_config.toml", "[network] section"),
    # Added: option and path mistakes around the table's rows.
    "sweep spec is a directory": _m("+", "sweep adir", "sweep spec 'adir' is a directory"),
    "demo --out is a file": _m("+", "demo --out afile", "--out 'afile' is a file"),
    "demo --out holds other files": _m("+", "demo --out adir", "not a demo output"),
    "plot --out is a file": _m("+", "plot adir --out afile", "--out 'afile' is a file"),
    "reproduce --docs is a file": _m("+", "reproduce e1 --quick --docs afile", "--docs 'afile'"),
    "bench --out is a directory": _m("+", "bench --quick --out adir", "'adir' is a directory"),
    "not an integer": _m("+", "demo --steps abc", "--steps", "integer"),
    "unknown option": _m("+", "train good.toml --bogus", "--bogus"),
}


def _snapshot(root: Path) -> dict[str, str]:
    """Path -> content hash (or "dir") of everything under ``root``."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_scratch(root: Path) -> Path:
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def read_only_dir(scratch: Path) -> tuple[Path, str]:
    """A directory this user cannot write (row 22), and the words its refusal must contain;
    where the user can write anyway (root), a path under a file, which fails for everyone."""
    ro = scratch / "ro"
    ro.mkdir(exist_ok=True)
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):
        ro.chmod(0o755)
        return scratch / "afile" / "ro", "which is a file"
    return ro, "not writable"


def run_cli(args, cwd: Path, pythonpath: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*pythonpath, str(SRC)])
    env["COLUMNS"] = "80"  # a narrow terminal must not wrap the error line either
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run(
        [sys.executable, "-m", "circuitlearn", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # far above the ~1 s a refused command takes; a run that starts is a bug
    )


def assert_refused(res: subprocess.CompletedProcess, names) -> str:
    """Exit 2, one ``error:`` line on stderr naming every word of ``names``, no traceback."""
    err = res.stderr
    assert "Traceback" not in err and "Traceback" not in res.stdout, err
    assert res.returncode == 2, (res.returncode, err, res.stdout)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


#: Row 22, a read-only output directory, for every command that writes.
READ_ONLY = {
    "read-only train --out": _m("22", "train good.toml --out {ro}/run1", "--out", "{why}"),
    "read-only sweep --out": _m("22", "sweep sweep_ok.toml --out {ro}/sweep", "--out", "{why}"),
    "read-only demo --out": _m("22", "demo --out {ro}/demo", "--out", "{why}"),
    "read-only plot --out": _m("22", "plot fakerun --out {ro}/figs", "--out", "{why}"),
    "read-only reproduce --out": _m(
        "22", "reproduce e1 --quick --out {ro}/repro", "--out", "{why}"
    ),
}
ALL = {**MISTAKES, **READ_ONLY}


def _attempt(name: str, root: Path):
    mistake = ALL[name]
    scratch = make_scratch(root / name.replace(" ", "_").replace("/", "_"))
    ro, why = read_only_dir(scratch)
    args = [a.format(ro=ro) for a in mistake.args]
    names = [n.format(why=why) if n == "{why}" else n for n in mistake.names]
    try:
        before = _snapshot(scratch)
        res = run_cli(args, scratch, tuple(str(scratch / p) for p in mistake.pythonpath))
        after = _snapshot(scratch)
    finally:
        (scratch / "ro").chmod(0o755)
    return res, names, before, after


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case run once, several at a time (each is an interpreter start-up)."""
    root = tmp_path_factory.mktemp("cli-mistakes")
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {name: pool.submit(_attempt, name, root) for name in ALL}
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", list(ALL))
def test_cli_mistake_is_one_named_line_and_writes_nothing(name, outcomes):
    res, names, before, after = outcomes[name]
    assert_refused(res, names)
    assert after == before


def test_the_catalogue_covers_the_cli_rows_of_the_newcomer_table():
    rows = {m.row for m in ALL.values()}
    # Not here: 31-33 need a Dask cluster or a second running sweep, 39-47 are Python API cases
    # (tests/test_validation_catalogue.py).
    cli_rows = {str(r) for r in (*range(1, 31), *range(34, 39))}
    assert cli_rows <= rows, sorted(cli_rows - rows, key=int)
    assert len(ALL) >= 30


def test_experiment_names_are_case_insensitive(tmp_path):
    # "E1" is accepted: the refusal that follows is about the empty --out, not the name.
    res = run_cli(["reproduce", "E1", "--report-only", "--out", "none"], tmp_path)
    line = assert_refused(res, ["no experiment summaries"])
    assert "unknown experiment" not in line


def test_version_flags(tmp_path):
    from circuitlearn import __version__

    for flag in ("--version", "-V"):
        res = run_cli([flag], tmp_path)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == f"circuitlearn {__version__}"


def test_help_keeps_bracketed_words_and_readable_metavars(tmp_path):
    res = run_cli(["sweep", "--help"], tmp_path)
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())
    assert "[base] config, [grid] axes" in text
    assert "Usage: circuitlearn sweep [OPTIONS] SPEC" in text
    assert "{" not in text and "<bool>" not in text
    # Docstring line breaks are reflowed, not kept: no line ends mid-sentence at "resumes".
    assert not any(line.rstrip().endswith("resumes") for line in res.stdout.splitlines())


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    """Ctrl-C during training: exit code 130 and one ``interrupted:`` line, no traceback."""
    (tmp_path / "long.toml").write_text(GOOD.replace("steps = 20", "steps = 100_000_000"))
    env = dict(os.environ, PYTHONPATH=str(SRC))
    # The entry point of ``python -m circuitlearn``, run once the package is imported, so that
    # the interrupt lands inside the command (an interrupt during the import exits quietly).
    code = (
        "import sys; from circuitlearn.cli import main; "
        "print('ready', file=sys.stderr, flush=True); main()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "train", "long.toml", "--out", "out", "-q"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr.readline().strip() == "ready"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: "), err
