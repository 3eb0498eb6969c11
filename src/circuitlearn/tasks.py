"""Learning tasks: which nodes are inputs, ground and outputs, and the data (docs/design.md §3).

Inputs are held at the feature voltages ``x`` (V), ground nodes at 0 V, and the outputs should
settle at the targets ``y`` (V). The error is ``mean((V_out - y)**2)`` over examples and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import disjoint, finite_array, in_range, node_list
from .errors import ValidationError
from .network import Network

ENCODINGS = (None, "levels", "one-hot")


@dataclass(frozen=True, eq=False)
class Task:
    """A supervised task on a network's nodes.

    Parameters
    ----------
    input_nodes : sequence of int, shape (n_in,)
    output_nodes : sequence of int, shape (n_out,)
    x_train : array, shape (M, n_in)
        Input voltages (V), one row per example.
    y_train : array, shape (M, n_out)
        Target output voltages (V).
    x_test, y_test : arrays, optional
        Held-out examples, same layouts.
    ground_nodes : sequence of int
        Nodes held at 0 V.
    encoding : {None, "levels", "one-hot"}
        For classification: ``"levels"`` maps each class to a target voltage in ``levels`` (one
        output, predicted class = nearest level); ``"one-hot"`` predicts the highest output.
    levels : sequence of float, optional
        Target voltage of each class for ``"levels"``.
    name : str

    Notes
    -----
    ``source_nodes`` lists the nodes fixed in the free state, inputs then ground: the
    ``fixed_nodes`` of ``cl.solve`` for this task (give their voltages as ``[*x, 0, ...]``).
    """

    input_nodes: np.ndarray
    output_nodes: np.ndarray
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    ground_nodes: np.ndarray = field(default=())
    encoding: str | None = None
    levels: tuple[float, ...] | None = None
    name: str = "custom"

    def __post_init__(self) -> None:
        inp = node_list("input_nodes", self.input_nodes, None)
        out = node_list("output_nodes", self.output_nodes, None)
        gnd = node_list("ground_nodes", self.ground_nodes, None)
        if out.size == 0:
            raise ValidationError("output_nodes is empty: a task needs at least one output node")
        disjoint({"input_nodes": inp, "output_nodes": out, "ground_nodes": gnd})
        if inp.size == 0 and gnd.size == 0:
            raise ValidationError(
                "a task needs at least one input or ground node to hold the network's voltages"
            )
        object.__setattr__(self, "input_nodes", inp)
        object.__setattr__(self, "output_nodes", out)
        object.__setattr__(self, "ground_nodes", gnd)
        xs = self._data("x_train", self.x_train, inp.size)
        ys = self._data("y_train", self.y_train, out.size)
        if xs.shape[0] != ys.shape[0]:
            raise ValidationError(
                f"x_train has {xs.shape[0]} examples but y_train has {ys.shape[0]}: give one "
                "target row per input row"
            )
        if xs.shape[0] == 0:
            raise ValidationError("x_train is empty: a task needs at least one training example")
        object.__setattr__(self, "x_train", xs)
        object.__setattr__(self, "y_train", ys)
        if (self.x_test is None) != (self.y_test is None):
            raise ValidationError("give both x_test and y_test, or neither")
        if self.x_test is not None:
            xt = self._data("x_test", self.x_test, inp.size)
            yt = self._data("y_test", self.y_test, out.size)
            if xt.shape[0] != yt.shape[0]:
                raise ValidationError(
                    f"x_test has {xt.shape[0]} examples but y_test has {yt.shape[0]}"
                )
            object.__setattr__(self, "x_test", xt)
            object.__setattr__(self, "y_test", yt)
        if not isinstance(self.name, str):
            raise ValidationError(f"name must be a string; got {self.name!r}")
        if self.encoding not in ENCODINGS:
            raise ValidationError(
                f"encoding must be one of {list(ENCODINGS)}; got {self.encoding!r}"
            )
        if self.encoding == "levels":
            if self.levels is None or len(self.levels) < 2:
                raise ValidationError('encoding="levels" needs levels: two or more class voltages')
            if out.size != 1:
                raise ValidationError(
                    f'encoding="levels" uses one output node; got {out.size} output_nodes'
                )
            lv = tuple(float(v) for v in finite_array("levels", self.levels, ndim=1))
            object.__setattr__(self, "levels", lv)
        if self.encoding == "one-hot" and out.size < 2:
            raise ValidationError('encoding="one-hot" needs one output node per class (>= 2)')

    @staticmethod
    def _data(name: str, value, width: int) -> np.ndarray:
        arr = finite_array(name, value, ndim=(1, 2))
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1) if width == 1 else arr.reshape(1, -1)
        if arr.shape[1] != width:
            raise ValidationError(
                f"{name} must have shape (M, {width}), one column per "
                f"{'input' if name.startswith('x') else 'output'} node; got {arr.shape}"
            )
        return arr

    # ------------------------------------------------------------------ geometry
    def check_network(self, net: Network) -> None:
        """Raise if a node index is outside ``net``."""
        for name in ("input_nodes", "output_nodes", "ground_nodes"):
            node_list(name, getattr(self, name), net.n_nodes)

    @property
    def n_inputs(self) -> int:
        return int(self.input_nodes.size)

    @property
    def n_outputs(self) -> int:
        return int(self.output_nodes.size)

    @property
    def source_nodes(self) -> np.ndarray:
        """Nodes fixed in the free state: inputs then ground."""
        return np.concatenate([self.input_nodes, self.ground_nodes])

    @property
    def has_test(self) -> bool:
        return self.x_test is not None

    # ------------------------------------------------------------------ scoring
    def error(self, v_out: np.ndarray, y: np.ndarray) -> float | np.ndarray:
        """Mean squared error (V^2) over examples and outputs: (M, n_out) -> float, or with
        leading replica axes (..., M, n_out) -> (...)."""
        err = np.mean((np.asarray(v_out) - y) ** 2, axis=(-2, -1))
        return float(err) if np.ndim(err) == 0 else err

    def labels(self, v: np.ndarray) -> np.ndarray | None:
        """Class of each row of output voltages (or targets), (..., M, n_out) -> (..., M), or
        None for regression: the nearest level, or the highest output (the first on a tie)."""
        v = np.asarray(v)
        if self.encoding == "levels":
            # one level at a time: no (..., M, levels) temporary for large replica stacks
            v0 = v[..., 0]
            best = np.abs(v0 - self.levels[0])
            lab = np.zeros(v0.shape, dtype=np.int64)
            for i, level in enumerate(self.levels[1:], start=1):
                dist = np.abs(v0 - level)
                closer = dist < best  # strict: the first level wins a tie, as argmin
                lab[closer] = i
                best = np.where(closer, dist, best)
            return lab
        if self.encoding == "one-hot":
            return v.argmax(axis=-1)
        return None

    def accuracy(self, v_out: np.ndarray, y: np.ndarray) -> float | np.ndarray | None:
        """Fraction of examples whose predicted class matches the target's (float, or (...)
        with leading replica axes), or None for regression."""
        if self.encoding is None:
            return None
        acc = np.mean(self.labels(v_out) == self.labels(y), axis=-1)
        return float(acc) if np.ndim(acc) == 0 else acc

    def __repr__(self) -> str:
        m_test = 0 if self.x_test is None else len(self.x_test)
        return (
            f"Task({self.name!r}, n_in={self.n_inputs}, n_out={self.n_outputs}, "
            f"n_ground={self.ground_nodes.size}, train={len(self.x_train)}, test={m_test})"
        )


def _check_net(net) -> None:
    if not isinstance(net, Network):
        raise ValidationError(f"net must be a circuitlearn.Network; got {type(net).__name__}")


def _pick_nodes(net: Network, counts: dict[str, int], rng: np.random.Generator) -> dict:
    total = sum(counts.values())
    if total > net.n_nodes:
        raise ValidationError(
            f"the task needs {total} distinct nodes ({counts}) but the network has "
            f"{net.n_nodes}: use a larger network or fewer nodes"
        )
    chosen = rng.permutation(net.n_nodes)[:total]
    out, i = {}, 0
    for name, c in counts.items():
        out[name] = np.sort(chosen[i : i + c])
        i += c
    return out


def teacher_conductances(net: Network, rng: np.random.Generator) -> np.ndarray:
    """Random conductances of a teacher network: log-uniform in [0.1, 10] S, so that the
    targets differ clearly from those of an untrained network (all 1 S)."""
    return 10.0 ** rng.uniform(-1.0, 1.0, net.n_edges)


def _teacher_outputs(net, k, nodes, x) -> np.ndarray:
    from .physics import solve

    fixed = np.concatenate([nodes["input_nodes"], nodes["ground_nodes"]])
    vals = np.concatenate([x, np.zeros((len(x), nodes["ground_nodes"].size))], axis=1)
    return solve(net, k, fixed, vals)[:, nodes["output_nodes"]]


def regression(
    net: Network,
    n_inputs: int = 3,
    n_outputs: int = 2,
    n_train: int = 40,
    n_test: int = 40,
    seed: int = 0,
    n_ground: int = 1,
) -> Task:
    """Inputs ``x ~ U(0, 1)`` V; targets are the outputs of a random teacher network of the
    same topology, so every target is reachable. Node roles are drawn at random from ``seed``.

    Parameters
    ----------
    n_inputs, n_outputs : int
        Input and output nodes (>= 1).
    n_train, n_test : int
        Training (>= 1) and test (>= 0) examples.
    seed : int
        Draws the node roles, the teacher's conductances (log-uniform in [0.1, 10] S) and the
        inputs.
    n_ground : int
        Ground nodes (>= 0), held at 0 V.
    """
    n_inputs = in_range("n_inputs", n_inputs, 1, None, integer=True)
    n_outputs = in_range("n_outputs", n_outputs, 1, None, integer=True)
    n_train = in_range("n_train", n_train, 1, None, integer=True)
    n_test = in_range("n_test", n_test, 0, None, integer=True)
    n_ground = in_range("n_ground", n_ground, 0, None, integer=True)
    seed = in_range("seed", seed, 0, None, integer=True)
    _check_net(net)
    rng = np.random.default_rng(seed)
    nodes = _pick_nodes(
        net, {"input_nodes": n_inputs, "output_nodes": n_outputs, "ground_nodes": n_ground}, rng
    )
    k_teacher = teacher_conductances(net, rng)
    x = rng.random((n_train + n_test, n_inputs))
    y = _teacher_outputs(net, k_teacher, nodes, x)
    return Task(
        x_train=x[:n_train],
        y_train=y[:n_train],
        x_test=x[n_train:] if n_test else None,
        y_test=y[n_train:] if n_test else None,
        name="regression",
        **nodes,
    )


def allostery(
    net: Network, n_inputs: int = 2, n_outputs: int = 2, seed: int = 0, n_ground: int = 1
) -> Task:
    """One fixed input pattern (M = 1, inputs ``U(0, 1)`` V) and target output voltages set by
    a random teacher network of the same topology (so they are reachable).

    Parameters
    ----------
    n_inputs, n_outputs : int
        Input and output nodes (>= 1).
    seed : int
        Draws the node roles, the teacher's conductances and the input pattern.
    n_ground : int
        Ground nodes (>= 0), held at 0 V.
    """
    task = regression(net, n_inputs, n_outputs, 1, 0, seed=seed, n_ground=n_ground)
    return Task(
        task.input_nodes,
        task.output_nodes,
        task.x_train,
        task.y_train,
        ground_nodes=task.ground_nodes,
        name="allostery",
    )


def iris(
    net: Network,
    encoding: str = "levels",
    n_train: int = 30,
    seed: int = 0,
    input_nodes=None,
    output_nodes=None,
    ground_nodes=None,
    levels: tuple[float, ...] = (0.1, 0.3, 0.5),
    low: float = 0.1,
    high: float = 0.5,
    node_seed: int = 0,
) -> Task:
    """Fisher's Iris data (bundled with scikit-learn) as a voltage task.

    The four features are min-max scaled to [0, 1] V with the training split's range. The split
    is stratified: ``n_train`` examples (equal per species, drawn with ``seed``), the rest test.

    Parameters
    ----------
    encoding : {"levels", "one-hot"}
        ``"levels"``: one output, target ``levels[class]`` (species ordered setosa, versicolor,
        virginica, as along the petal features); ``"one-hot"``: three outputs, ``high`` on the
        true class and ``low`` on the others.
    n_train : int
        Training examples, a multiple of 3 in [3, 147]; the other examples are the test set.
    seed : int
        Draws the stratified split.
    input_nodes, output_nodes, ground_nodes : optional
        Node roles; by default drawn at random from ``node_seed`` (4 inputs, 1 or 3 outputs,
        1 ground).
    levels : tuple of float
        Target voltage (V) of each species with ``"levels"``.
    low, high : float
        Target voltages (V) of the wrong and the true class with ``"one-hot"``.
    node_seed : int
        Draws the node roles when they are not given.
    """
    from sklearn.datasets import load_iris

    if encoding not in ("levels", "one-hot"):
        raise ValidationError(f'encoding must be "levels" or "one-hot"; got {encoding!r}')
    n_train = in_range("n_train", n_train, 3, 147, integer=True)
    seed = in_range("seed", seed, 0, None, integer=True)
    node_seed = in_range("node_seed", node_seed, 0, None, integer=True)
    _check_net(net)
    if encoding == "levels":
        levels = finite_array("levels", levels, ndim=1)
        if levels.shape != (3,):
            raise ValidationError(
                f"levels must give 3 voltages, one per species; got {levels.tolist()}"
            )
    else:
        low = in_range("low", low)
        high = in_range("high", high)
        if not low < high:
            raise ValidationError(f"low ({low}) must be below high ({high}) (V)")
    data = load_iris()
    xall, lab = data.data.astype(float), data.target
    rng = np.random.default_rng(seed)
    per = n_train // 3
    train = np.sort(
        np.concatenate(
            [rng.permutation(np.flatnonzero(lab == c))[: per + (c < n_train % 3)] for c in range(3)]
        )
    )
    test = np.setdiff1d(np.arange(len(lab)), train)
    lo, hi = xall[train].min(axis=0), xall[train].max(axis=0)
    x = (xall - lo) / (hi - lo)
    n_out = 1 if encoding == "levels" else 3
    if encoding == "levels":
        y = np.asarray(levels, dtype=float)[lab][:, None]
    else:
        y = np.where(np.eye(3, dtype=bool)[lab], high, low)
    nodes = {"input_nodes": input_nodes, "output_nodes": output_nodes, "ground_nodes": ground_nodes}
    if any(v is None for v in nodes.values()):
        drawn = _pick_nodes(
            net,
            {"input_nodes": 4, "output_nodes": n_out, "ground_nodes": 1},
            np.random.default_rng(node_seed),
        )
        nodes = {k: drawn[k] if v is None else v for k, v in nodes.items()}
    task = Task(
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        encoding=encoding,
        levels=tuple(levels) if encoding == "levels" else None,
        name="iris",
        **nodes,
    )
    task.check_network(net)
    return task
