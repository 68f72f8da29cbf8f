"""Figures of fits. Every function takes ``axes=``/``ax=``, returns Axes and never shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from deconv.results import Fit


def _two_panels(axes: Any) -> np.ndarray:
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(
            2, 1, figsize=(7.0, 5.0), sharex=True, height_ratios=(3, 1), layout="constrained"
        )
    axes = np.atleast_1d(axes)
    if axes.size != 2:
        raise ValueError(f"axes must hold 2 Axes (fit, residuals); got {axes.size}")
    return axes


def plot_fit(
    fit: Fit,
    axes: Any = None,
    *,
    n_draws: int = 200,
    hdi_prob: float = 0.94,
    components: bool = True,
) -> np.ndarray:
    """Data, posterior mean curve with its credible band, peak components and residuals.

    Parameters
    ----------
    fit : Fit
        The result to draw.
    axes : pair of matplotlib Axes, optional
        Top (fit) and bottom (residual) panels; created when omitted.
    n_draws : int
        Posterior draws used for the band and the mean curve.
    hdi_prob : float
        Probability mass of the central credible band of the noise-free curve.
    components : bool
        Draw each peak (posterior mean) on top of the baseline, and the baseline's posterior
        band (``hdi_prob``; e.g. a spline baseline's uncertainty).

    Returns
    -------
    numpy.ndarray of Axes
        The two panels.
    """
    top, bottom = _two_panels(axes)
    spectrum = fit.spectrum
    prediction = fit.predict(n_draws=n_draws)
    x, total = prediction["x"], prediction["total"]
    mean = total.mean(axis=0)
    tail = (1.0 - hdi_prob) / 2.0
    low, high = np.quantile(total, [tail, 1.0 - tail], axis=0)
    top.plot(x, spectrum.y, ".", color="0.35", markersize=2.5, label="data", zorder=1)
    if total.shape[0] > 1:
        top.fill_between(
            x, low, high, color="C0", alpha=0.3, lw=0, label=f"{hdi_prob:.0%} band", zorder=2
        )
    top.plot(x, mean, color="C0", lw=1.5, label="posterior mean", zorder=3)
    if components:
        draws = prediction["baseline"]
        baseline = draws.mean(axis=0)
        top.plot(x, baseline, color="0.5", ls="--", lw=1, label="baseline")
        if draws.shape[0] > 1 and np.ptp(draws, axis=0).max() > 0:
            below, above = np.quantile(draws, [tail, 1.0 - tail], axis=0)
            top.fill_between(x, below, above, color="0.5", alpha=0.25, lw=0, zorder=2)
        for k, peak in enumerate(prediction["peaks"].mean(axis=0), start=1):
            top.plot(x, baseline + peak, lw=1, ls="-", color=f"C{k}", label=f"peak {k}")
    top.set_ylabel(spectrum.y_unit or "intensity")
    top.set_title(f"{spectrum.name}: {fit.model.label} ({fit.method})", fontsize=10)
    top.legend(fontsize=7, frameon=False, ncols=2)
    bottom.plot(x, spectrum.y - mean, ".", color="0.35", markersize=2)
    bottom.axhline(0.0, color="C0", lw=1)
    bottom.set_ylabel("residual")
    bottom.set_xlabel(spectrum.x_unit or "x")
    if spectrum.descending and not top.xaxis_inverted():
        top.invert_xaxis()
    return np.array([top, bottom])


def plot_trace(fit: Fit, ax: Axes | None = None, *, quantity: str = "centre") -> Axes:
    """Trace of one per-peak quantity for every chain (a quick look at mixing)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 3.0), layout="constrained")
    values = fit.idata.posterior[quantity]
    for chain in values["chain"].to_numpy():
        for peak in values["peak"].to_numpy():
            ax.plot(values.sel(chain=chain, peak=peak).to_numpy(), lw=0.5, color=f"C{chain}")
    ax.set_xlabel("draw")
    ax.set_ylabel(quantity)
    return ax


def plot_selection(selection: Any, axes: Any = None) -> np.ndarray:
    """Delta F against K per shape and baseline (error bars: one standard error), best fit.

    Parameters
    ----------
    selection : Selection
        The ranked candidates.
    axes : sequence of three Axes, optional
        Free-energy panel, best-fit panel and its residual panel; created when omitted.

    Returns
    -------
    numpy.ndarray of Axes
    """
    import matplotlib.pyplot as plt

    if axes is None:
        figure = plt.figure(figsize=(11.0, 4.5), layout="constrained")
        mosaic = figure.subplot_mosaic(
            [["F", "fit"], ["F", "res"]], width_ratios=(1, 1.6), height_ratios=(3, 1)
        )
        axes = np.array([mosaic["F"], mosaic["fit"], mosaic["res"]])
        mosaic["fit"].sharex(mosaic["res"])
    axes = np.atleast_1d(axes)
    if axes.size != 3:
        raise ValueError(f"axes must hold 3 Axes (F, fit, residuals); got {axes.size}")
    table = selection.table
    best = table["F"].min()
    for index, ((shape, baseline), group) in enumerate(table.groupby(["shape", "baseline"])):
        group = group.sort_values("n_peaks")
        axes[0].errorbar(
            group["n_peaks"],
            group["F"] - best,
            yerr=group["F_se"],
            marker="o",
            capsize=3,
            color=f"C{index}",
            label=f"{shape} + {baseline}",
        )
    from matplotlib.ticker import MaxNLocator

    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_xlabel("number of peaks K")
    axes[0].set_ylabel(r"$\Delta F$ = F - F$_{min}$ (nats)")
    axes[0].set_yscale("symlog", linthresh=1.0)
    axes[0].axhline(0.0, color="0.6", lw=0.8)
    axes[0].legend(fontsize=8, frameon=False)
    axes[0].set_title("free energy per candidate", fontsize=10)
    plot_fit(selection.best_fit, axes=axes[1:])
    return axes


def plot_probabilities(table: Any, ax: Any = None, *, column: str = "probability") -> Any:
    """Posterior model probabilities as horizontal bars, most probable at the top.

    Parameters
    ----------
    table : pandas.DataFrame
        A ranked table with a ``model`` column and ``column``: the ``table`` of a
        :class:`deconv.selection.Selection` or of a :class:`gp_property.SeriesSelection`.
    ax : matplotlib Axes, optional
        Where to draw; created when omitted.
    column : str
        The probability column (``"probability"``; ``"spectrum_only_probability"`` for a
        series selection's spectrum-only column).

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if column not in table:
        raise ValueError(f"column must name a column of the table; got {column!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 0.45 * len(table) + 1.2), layout="constrained")
    ordered = table.sort_values(column, ascending=True, kind="stable")
    probabilities = ordered[column].to_numpy(dtype=float)
    ax.barh(ordered["model"].astype(str), probabilities, color="C0")
    for y, p in enumerate(probabilities):
        ax.text(min(p, 1.0) + 0.01, y, f"{p:.3g}", va="center", fontsize=8)
    ax.set_xlim(0.0, 1.15)
    ax.set_xlabel("posterior model probability")
    return ax
