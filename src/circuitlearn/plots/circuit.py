"""The network drawn with its conductances: each edge's colour and width set by its
conductance, the task's input, output and ground nodes marked; and before / after / change
panels of a training run."""

from __future__ import annotations

import numpy as np

from .._validation import check_conductances
from ..errors import ValidationError
from ..network import Network
from .style import new_axes, pyplot, wrap

__all__ = ["network", "network_change"]


def _check_net_k(net, k, name="k") -> np.ndarray:
    if not isinstance(net, Network):
        raise ValidationError(f"net must be a circuitlearn.Network; got {type(net).__name__}")
    return check_conductances(k, net.n_edges, name)


def _segments(net) -> np.ndarray:
    pos = net.layout()
    return pos[net.edges]  # (E, 2, 2)


def _draw_nodes(ax, net, task, size: float) -> None:
    pos = net.layout()
    if net.n_nodes <= 400:
        ax.scatter(pos[:, 0], pos[:, 1], s=size, color="0.55", zorder=3, linewidths=0)
    if task is None:
        return
    roles = (
        ("input_nodes", "s", "tab:red", "input"),
        ("output_nodes", "D", "tab:blue", "output"),
        ("ground_nodes", "v", "black", "ground (0 V)"),
    )
    for attr, marker, colour, label in roles:
        nodes = np.asarray(getattr(task, attr), dtype=int)
        nodes = nodes[(nodes >= 0) & (nodes < net.n_nodes)]
        if nodes.size:
            ax.scatter(
                pos[nodes, 0],
                pos[nodes, 1],
                marker=marker,
                s=size * 3.5,
                color=colour,
                edgecolors="white",
                linewidths=0.6,
                zorder=4,
                label=label,
            )
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=3,
        frameon=False,
        fontsize="small",
        handletextpad=0.3,
    )


def _frame(ax) -> None:
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def _colorbar(fig, mappable, ax, label: str):
    """A colour bar with plain-number tick labels (also on the minor ticks of a narrow log
    scale)."""
    from matplotlib.ticker import FuncFormatter

    bar = fig.colorbar(mappable, ax=ax, label=label, shrink=0.85)
    plain = FuncFormatter(lambda v, _pos: f"{v:.3g}")
    bar.ax.yaxis.set_major_formatter(plain)
    norm = mappable.norm
    if getattr(norm, "vmax", None) and norm.vmin and norm.vmax / norm.vmin < 100:
        bar.ax.yaxis.set_minor_formatter(plain)
    return bar


def _widths(frac: np.ndarray, width: tuple[float, float]) -> np.ndarray:
    return width[0] + (width[1] - width[0]) * np.clip(frac, 0.0, 1.0)


def _k_norm(*ks: np.ndarray):
    from matplotlib.colors import LogNorm

    lo = min(float(k.min()) for k in ks)
    hi = max(float(k.max()) for k in ks)
    if hi / lo < 1.05:  # (nearly) uniform: a range of +-10 % around it
        lo, hi = lo / 1.1, hi * 1.1
    return LogNorm(vmin=lo, vmax=hi)


def network(
    net,
    k,
    ax=None,
    task=None,
    norm=None,
    cmap: str = "viridis",
    width: tuple[float, float] = (0.6, 6.0),
    colorbar: bool = True,
    title: str | None = None,
):
    """Draw the network with each edge's width and colour set by its conductance.

    Parameters
    ----------
    net : Network
        Drawn at ``net.layout()`` (its positions, or a spring layout).
    k : array, shape (E,)
        Conductances (S), strictly positive.
    ax : Axes, optional
    task : Task, optional
        Marks the input, output and ground nodes.
    norm : matplotlib Normalize, optional
        Colour scale of ``k`` (default: logarithmic over the range of ``k``); pass one to
        share a scale between panels.
    cmap : str
        Colormap (low conductance dark, high bright with the default).
    width : (float, float)
        Line widths (points) of the lowest and highest conductance on the scale.
    colorbar : bool
        Add a colour bar, labelled in siemens.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection

    k = _check_net_k(net, k)
    fig, ax = new_axes(ax, (5.6, 4.8))
    norm = _k_norm(k) if norm is None else norm
    frac = np.asarray(norm(k), dtype=float)
    cm = colormaps[cmap]
    lines = LineCollection(
        _segments(net), colors=cm(frac), linewidths=_widths(frac, width), capstyle="round"
    )
    lines.set_zorder(1)
    ax.add_collection(lines)
    ax.autoscale_view()
    _draw_nodes(ax, net, task, size=18 if net.n_nodes <= 100 else 6)
    _frame(ax)
    if colorbar:
        _colorbar(fig, ScalarMappable(norm=norm, cmap=cm), ax, "conductance k (S)")
    if title:
        ax.set_title(title)
    return fig


def network_change(
    net,
    k0,
    k1,
    task=None,
    axes=None,
    cmap: str = "viridis",
    change_cmap: str = "RdBu_r",
    width: tuple[float, float] = (0.6, 6.0),
    title: str | None = None,
):
    """Three panels: the network before training, after training (one shared conductance
    scale), and the change, coloured by the ratio ``k1 / k0`` (red: conductance rose, blue:
    fell) with width growing with ``|log10(k1 / k0)|``.

    Parameters
    ----------
    net : Network
    k0, k1 : array, shape (E,)
        Conductances (S) before and after training (``TrainResult.initial_conductances`` and
        ``TrainResult.conductances``).
    task : Task, optional
        Marks the input, output and ground nodes.
    axes : three Axes, optional
    cmap, change_cmap : str
        Colormaps of the conductances and of the change.
    width : (float, float)
        Line widths (points) at the ends of each colour scale.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import LogNorm

    k0 = _check_net_k(net, k0, "k0")
    k1 = _check_net_k(net, k1, "k1")
    if axes is None:
        fig, axes = pyplot().subplots(1, 3, figsize=(16, 5.0), layout="constrained")
    axes = np.asarray(axes).ravel()
    if axes.size != 3:
        raise ValidationError(f"axes must hold three Axes; got {axes.size}")
    fig = axes[0].figure
    shared = _k_norm(k0, k1)
    network(net, k0, ax=axes[0], task=task, norm=shared, cmap=cmap, width=width, colorbar=False)
    network(net, k1, ax=axes[1], task=task, norm=shared, cmap=cmap, width=width, colorbar=False)
    axes[0].set_title("before training")
    axes[1].set_title("after training")
    _colorbar(
        fig,
        ScalarMappable(norm=shared, cmap=colormaps[cmap]),
        axes[:2].tolist(),
        "conductance k (S)",
    )
    ratio = k1 / k0
    decades = np.abs(np.log10(ratio))
    top = max(float(decades.max()), 1e-3)
    rnorm = LogNorm(vmin=10.0**-top, vmax=10.0**top)
    cm = colormaps[change_cmap]
    ax = axes[2]
    lines = LineCollection(
        _segments(net),
        colors=cm(rnorm(ratio)),
        linewidths=_widths(decades / top, width),
        capstyle="round",
    )
    lines.set_zorder(1)
    ax.add_collection(lines)
    ax.autoscale_view()
    _draw_nodes(ax, net, task, size=18 if net.n_nodes <= 100 else 6)
    _frame(ax)
    ax.set_title("change")
    _colorbar(
        fig,
        ScalarMappable(norm=rnorm, cmap=cm),
        ax,
        "conductance ratio k$_\\mathrm{after}$ / k$_\\mathrm{before}$",
    )
    if title:
        fig.suptitle(wrap(title, 120), fontsize="medium")
    return fig
