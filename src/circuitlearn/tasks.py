"""Learning tasks: which nodes are inputs, ground and outputs, and the data (docs/design.md §3).

Inputs are held at the feature voltages ``x`` (V), ground nodes at 0 V, and the task's readout
of the output nodes should equal the targets ``y`` (V). The readout is the output voltages
themselves (``readout="voltage"``) or, with two output nodes, their difference
``V_plus - V_minus`` (``readout="difference"``, the differential output of the transistor
network of Dillavou et al. 2024). The error is ``mean((readout - y)**2)`` over examples and
readout columns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ._validation import disjoint, finite_array, in_range, node_list
from .errors import ValidationError
from .gallery import TRANSISTOR_TORUS_ROLES
from .network import Network

ENCODINGS = (None, "levels", "one-hot")
READOUTS = ("voltage", "difference")


@dataclass(frozen=True, eq=False)
class Task:
    """A supervised task on a network's nodes.

    Parameters
    ----------
    input_nodes : sequence of int, shape (n_in,)
    output_nodes : sequence of int, shape (n_out,)
        With ``readout="difference"``: two nodes, ``(plus, minus)``.
    x_train : array, shape (M, n_in)
        Input voltages (V), one row per example.
    y_train : array, shape (M, n_targets)
        Targets of the readout (V): ``n_targets = n_out`` output voltages, or one column of
        ``V_plus - V_minus`` with ``readout="difference"``.
    x_test, y_test : arrays, optional
        Held-out examples, same layouts.
    ground_nodes : sequence of int
        Nodes held at 0 V.
    encoding : {None, "levels", "one-hot"}
        For classification: ``"levels"`` maps each class to a target voltage in ``levels`` (one
        output, predicted class = nearest level); ``"one-hot"`` predicts the highest output.
    levels : sequence of float, optional
        Target voltage of each class for ``"levels"``.
    readout : {"voltage", "difference"}
        What is compared with ``y``: the output voltages, or the difference of the two output
        nodes. The clamped state moves the readout a fraction ``eta`` of the way to its target
        with the smallest change of the output voltages (``clamp``).
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
    readout: str = "voltage"

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
        if self.readout not in READOUTS:
            raise ValidationError(f"readout must be one of {list(READOUTS)}; got {self.readout!r}")
        if self.readout == "difference" and out.size != 2:
            raise ValidationError(
                f'readout="difference" reads V_plus - V_minus of two output_nodes (plus, minus); '
                f"got {out.size} output_nodes"
            )
        xs = self._data("x_train", self.x_train, inp.size)
        ys = self._data("y_train", self.y_train, self.n_targets)
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
            yt = self._data("y_test", self.y_test, self.n_targets)
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
            if self.n_targets != 1:
                raise ValidationError(
                    f'encoding="levels" uses one output node; got {out.size} output_nodes'
                )
            lv = tuple(float(v) for v in finite_array("levels", self.levels, ndim=1))
            object.__setattr__(self, "levels", lv)
        if self.encoding == "one-hot" and self.n_targets < 2:
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
    def n_targets(self) -> int:
        """Columns of ``y``: the output nodes, or 1 for ``readout="difference"``."""
        return 1 if self.readout == "difference" else int(np.asarray(self.output_nodes).size)

    def read(self, v_out: np.ndarray) -> np.ndarray:
        """The readout of output voltages: (..., n_out) -> (..., n_targets), in V."""
        v_out = np.asarray(v_out, dtype=np.float64)
        if self.readout == "difference":
            return v_out[..., :1] - v_out[..., 1:2]
        return v_out

    def clamp(self, v_out: np.ndarray, y: np.ndarray, eta: float) -> np.ndarray:
        """Output voltages (..., n_out) of the clamped state, from the free ones ``v_out``
        (..., n_out) and the targets ``y`` (..., n_targets), in V.

        The readout moves from its free value ``r`` to ``r + eta (y - r)`` by the smallest
        change of the output voltages: ``v + eta (y - v)`` for the voltage readout,
        ``v_plus + eta/2 (y - r)`` and ``v_minus - eta/2 (y - r)`` for the difference.
        """
        v_out = np.asarray(v_out, dtype=np.float64)
        step = eta * (np.asarray(y, dtype=np.float64) - self.read(v_out))
        if self.readout == "difference":
            return v_out + 0.5 * step * np.array([1.0, -1.0])
        return v_out + step

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
        readout = "" if self.readout == "voltage" else f", readout={self.readout!r}"
        return (
            f"Task({self.name!r}, n_in={self.n_inputs}, n_out={self.n_outputs}{readout}, "
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
    from .physics import solve  # diode networks included: solve dispatches to Newton

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
    roles: dict | None = None,
) -> Task:
    """Inputs ``x ~ U(0, 1)`` V; targets are the outputs of a random teacher network of the
    same topology, so every target is reachable. Node roles are drawn at random from ``seed``.

    The teacher has the network's elements: on a network with diodes (``gallery.diode_board``)
    its targets are a nonlinear function of the inputs. Its learnable parameters are
    conductances, so networks with transistor edges are refused.

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
    roles : mapping, optional
        ``input_nodes``, ``output_nodes``, ``ground_nodes`` to use instead of drawn ones (for
        example ``gallery.DIODE_BOARD_ROLES``); ``n_inputs``, ``n_outputs`` and ``n_ground``
        are then ignored.
    """
    if roles is not None:
        n_inputs, n_outputs, n_ground = (
            len(roles.get(k, ())) for k in ("input_nodes", "output_nodes", "ground_nodes")
        )
    n_inputs = in_range("n_inputs", n_inputs, 1, None, integer=True)
    n_outputs = in_range("n_outputs", n_outputs, 1, None, integer=True)
    n_train = in_range("n_train", n_train, 1, None, integer=True)
    n_test = in_range("n_test", n_test, 0, None, integer=True)
    n_ground = in_range("n_ground", n_ground, 0, None, integer=True)
    seed = in_range("seed", seed, 0, None, integer=True)
    _check_net(net)
    if any(el.kind == "transistor" for el, _ in net.element_groups):
        raise ValidationError(
            "regression draws a teacher's conductances; this network has transistor edges "
            "(gate voltages): use tasks.square or tasks.xor on it"
        )
    rng = np.random.default_rng(seed)
    counts = {"input_nodes": n_inputs, "output_nodes": n_outputs, "ground_nodes": n_ground}
    nodes = _pick_nodes(net, counts, rng)  # drawn even with roles: the same rng stream
    if roles is not None:
        nodes = {k: node_list(k, roles.get(k, ()), net.n_nodes) for k in counts}
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
    return dataclasses.replace(task, name="allostery")


def _rail_roles(net: Network, roles, n_inputs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input nodes, rail nodes, output nodes) of a differential-output task."""
    roles = TRANSISTOR_TORUS_ROLES if roles is None else roles
    missing = {"input_nodes", "rail_nodes", "output_nodes"} - set(roles)
    if missing:
        raise ValidationError(
            f"roles must map input_nodes, rail_nodes and output_nodes (like "
            f"gallery.TRANSISTOR_TORUS_ROLES); missing {sorted(missing)}"
        )
    inp = node_list("input_nodes", roles["input_nodes"], net.n_nodes)
    if inp.size < n_inputs:
        raise ValidationError(f"input_nodes needs {n_inputs} nodes; got {inp.tolist()}")
    return (
        inp[:n_inputs],
        node_list("rail_nodes", roles["rail_nodes"], net.n_nodes),
        node_list("output_nodes", roles["output_nodes"], net.n_nodes),
    )


def _rail_task(net, roles, x, y, x_test, y_test, rails, name, **kw) -> Task:
    inp, rail_nodes, out = _rail_roles(net, roles, x.shape[1])
    rails = finite_array("rails", rails, ndim=1)
    if rails.size != rail_nodes.size:
        raise ValidationError(
            f"rails gives {rails.size} voltages for {rail_nodes.size} rail_nodes "
            f"{rail_nodes.tolist()}: give one voltage (V) per rail node"
        )

    def with_rails(a):
        return None if a is None else np.concatenate([a, np.tile(rails, (len(a), 1))], axis=1)

    task = Task(
        input_nodes=np.concatenate([inp, rail_nodes]),
        output_nodes=out,
        x_train=with_rails(x),
        y_train=y,
        x_test=with_rails(x_test),
        y_test=y_test,
        readout="difference",
        name=name,
        **kw,
    )
    task.check_network(net)
    return task


def xor(
    net: Network,
    v_high: float = 0.45,
    rails: tuple[float, ...] = (0.11, 0.33),
    levels: tuple[float, float] = (0.0, -0.03),
    roles: dict | None = None,
) -> Task:
    """XOR of two inputs with a differential output, for the transistor lattice
    (``gallery.transistor_torus``).

    Each input is 0 V (false) or ``v_high`` (true) on its node; the rail nodes are held at
    ``rails``; the readout is ``V_plus - V_minus`` (``readout="difference"``) and its target is
    ``levels[0]`` for false (00, 11), ``levels[1]`` for true (01, 10); the predicted class is the
    nearest level. The four examples are both the training and the test set.

    XOR needs the readout's interaction ``O(00) + O(11) - O(01) - O(10)`` to equal
    ``-2 levels[1]``, which the transistors' nonlinearity must supply at input swings of
    ``v_high``. The default target -0.03 V is one coupled learning reaches: on
    ``transistor_torus()`` with gates from U(1.5, 4.5) V (lr 30 V/V^2, eta 0.5, 3000
    synchronous steps) it learned XOR on 6 of 8 seeds, against 3 of 8 with -0.087 V.

    Parameters
    ----------
    v_high : float
        Input voltage (V) of a true bit.
    rails : tuple of float
        Voltage (V) of each rail node.
    levels : tuple of float
        Target readout (V) of false and of true.
    roles : mapping, optional
        ``input_nodes`` (the first two are used), ``rail_nodes``, ``output_nodes`` (plus,
        minus); default ``gallery.TRANSISTOR_TORUS_ROLES``.
    """
    _check_net(net)
    v_high = in_range("v_high", v_high, 0, None, low_open=True)
    levels = finite_array("levels", levels, ndim=1)
    if levels.shape != (2,) or levels[0] == levels[1]:
        raise ValidationError(
            f"levels must give 2 different readout voltages (false, true); got {levels.tolist()}"
        )
    bits = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = levels[(bits[:, 0] != bits[:, 1]).astype(int)][:, None]
    x = v_high * bits
    levels = tuple(levels.tolist())
    return _rail_task(net, roles, x, y, x, y, rails, "xor", encoding="levels", levels=levels)


def square(
    net: Network,
    n_train: int = 16,
    n_test: int = 32,
    seed: int = 0,
    v_high: float = 0.45,
    rails: tuple[float, ...] = (0.11, 0.33),
    scale: float = 0.05,
    roles: dict | None = None,
) -> Task:
    """Nonlinear regression ``y = scale * x**2`` for ``x ~ U(0, 1)``, with a differential
    output, for the transistor lattice (``gallery.transistor_torus``).

    The input node is held at ``v_high * x`` (V), the rail nodes at ``rails``, and the readout
    ``V_plus - V_minus`` should equal ``scale * x**2`` (V). The best straight line leaves an
    RMS error of ``|scale| / sqrt(180)`` (0.0037 V by default): a network that does better
    has learned curvature. The default, positive curvature is the one the lattice reaches:
    with ``scale = -0.05`` or ``-0.1`` no probe run got below the straight line.

    Parameters
    ----------
    n_train, n_test : int
        Training (>= 2) and test (>= 0) examples.
    seed : int
        Draws the ``x``.
    v_high : float
        Input voltage (V) at ``x = 1``.
    rails : tuple of float
        Voltage (V) of each rail node.
    scale : float
        Target readout (V) at ``x = 1``.
    roles : mapping, optional
        ``input_nodes`` (the first is used), ``rail_nodes``, ``output_nodes`` (plus, minus);
        default ``gallery.TRANSISTOR_TORUS_ROLES``.
    """
    _check_net(net)
    n_train = in_range("n_train", n_train, 2, None, integer=True)
    n_test = in_range("n_test", n_test, 0, None, integer=True)
    seed = in_range("seed", seed, 0, None, integer=True)
    v_high = in_range("v_high", v_high, 0, None, low_open=True)
    scale = in_range("scale", scale)
    if scale == 0:
        raise ValidationError("scale must be nonzero (V): the target would be constant")
    u = np.random.default_rng(seed).random((n_train + n_test, 1))
    x, y = v_high * u, scale * u**2
    test = (x[n_train:], y[n_train:]) if n_test else (None, None)
    return _rail_task(net, roles, x[:n_train], y[:n_train], *test, rails, "square")


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
