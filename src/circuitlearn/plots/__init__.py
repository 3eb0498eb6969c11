"""Figures (matplotlib): learning curves, confidence bands over seeds, final error against a
swept parameter, the network drawn with its conductances, and the figure sets that
``circuitlearn plot RUN_OR_SWEEP_DIR`` writes.

=================  ===========================================================================
module             what it draws
=================  ===========================================================================
``curves``         ``learning_curves``, ``run_curves``, ``curves_with_bands``, ``final_vs``
``circuit``        ``network``, ``network_change`` (a module name unlike the function's)
``figures``        ``plot_results``, ``run_figures``, ``sweep_figures`` (the plot command)
``style``          axis labels, legend names and number formats
=================  ===========================================================================

Every drawing function takes an optional ``ax`` (or ``axes``) and returns the ``Figure``.
Statistics over seeds (Student-t intervals, geometric means of errors) come from
``circuitlearn.analysis``; sweep directories are read through ``circuitlearn.results``.
"""

from .circuit import network, network_change
from .curves import curves_with_bands, final_vs, learning_curves, run_curves
from .figures import (
    FORMATS,
    grid_columns,
    is_sweep_dir,
    main_axis,
    plot_results,
    read_sweep,
    run_figures,
    sweep_figures,
)
from .style import SHORT, XLABELS, YLABELS

__all__ = [
    "FORMATS",
    "SHORT",
    "XLABELS",
    "YLABELS",
    "curves_with_bands",
    "final_vs",
    "grid_columns",
    "is_sweep_dir",
    "learning_curves",
    "main_axis",
    "network",
    "network_change",
    "plot_results",
    "read_sweep",
    "run_curves",
    "run_figures",
    "sweep_figures",
]
