"""Figures of the property layer. Functions take ``axes=``, return Axes, never show."""

from __future__ import annotations

from typing import Any

import numpy as np

COLUMNS = (
    ("sum_F", "spectra: sum F_i"),
    ("neg_log_L_prop", "property: -log L"),
    ("F_total", "total: F_total"),
)


def plot_ranking(selection: Any, ax: Any = None) -> Any:
    """Grouped bars of the three columns per candidate, each relative to its own minimum; the
    title names the choice and the criterion that made it."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 3.5), layout="constrained")
    table = selection.table.sort_values("n_peaks")
    positions = np.arange(len(table))
    width = 0.8 / len(COLUMNS)
    for index, (column, label) in enumerate(COLUMNS):
        values = table[column].to_numpy()
        errors = table[f"{column}_se"].to_numpy()
        ax.bar(
            positions + (index - 1) * width,
            values - values.min(),
            width,
            yerr=errors,
            capsize=2,
            label=label,
            color=f"C{index}",
        )
    ax.set_xticks(positions, table["model"], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("nats above the column's best")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.legend(fontsize=8, frameon=False)
    criterion = getattr(selection, "criterion", "joint")
    ax.set_title(
        f"chosen: {selection.chosen} by {criterion} "
        f"(spectra alone: {selection.spectrum_only_choice})",
        fontsize=9,
    )
    return ax


def plot_feature_property(selection: Any, ax: Any = None, *, model: str | None = None) -> Any:
    """Posterior feature against the property with the GP mean and 94 % band.

    With one feature the x axis is that feature; with several, a parity plot of GP prediction
    against the measured property.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.5), layout="constrained")
    model = model or selection.chosen
    draws = selection.features[model]
    gp = selection.property_likelihoods[model].regressor
    mean = draws.values.mean(axis=0)
    spread = draws.values.std(axis=0)
    t = selection.properties
    if mean.shape[1] == 1:
        grid = np.linspace(mean[:, 0].min(), mean[:, 0].max(), 200)[:, None]
        prediction, sd = gp.predict(grid, return_std=True)
        ax.fill_between(
            grid[:, 0],
            prediction - 1.88 * sd,
            prediction + 1.88 * sd,
            alpha=0.3,
            color="C0",
            lw=0,
            label="GP 94 % band",
        )
        ax.plot(grid[:, 0], prediction, color="C0", label="GP mean")
        ax.errorbar(mean[:, 0], t, xerr=spread[:, 0], fmt="o", color="k", ms=3, label="samples")
        ax.set_xlabel(draws.names[0])
    else:
        prediction, sd = gp.predict(mean, return_std=True)
        ax.errorbar(t, prediction, yerr=sd, fmt="o", color="k", ms=3)
        low, high = float(min(t.min(), prediction.min())), float(max(t.max(), prediction.max()))
        ax.plot([low, high], [low, high], color="0.6", lw=0.8)
        ax.set_xlabel("measured property")
        ax.set_ylabel("GP prediction")
    if mean.shape[1] == 1:
        ax.set_ylabel("property")
        ax.legend(fontsize=8, frameon=False)
    ax.set_title(model, fontsize=9)
    return ax


def plot_series_selection(selection: Any, axes: Any = None) -> np.ndarray:
    """Ranking panel, then feature against property for the chosen model and, where the
    spectra alone chose another one, for that model too.

    With ``axes=None`` the figure has three panels when the two choices differ and two when
    they agree; given ``axes`` must hold 2 Axes (ranking, chosen model) or 3 (the third for the
    spectrum-only choice).
    """
    import matplotlib.pyplot as plt

    if axes is None:
        n_panels = 2 if selection.spectrum_only_choice == selection.chosen else 3
        _, axes = plt.subplots(
            1,
            n_panels,
            figsize=(5.5 + 4.5 * (n_panels - 1), 3.8),
            layout="constrained",
            width_ratios=(1.4,) + (1,) * (n_panels - 1),
        )
    axes = np.atleast_1d(axes)
    if axes.size not in (2, 3):
        raise ValueError(
            "axes must hold 2 Axes (ranking, chosen model's feature) or 3 (and the "
            f"spectrum-only choice's feature); got {axes.size}"
        )
    plot_ranking(selection, axes[0])
    plot_feature_property(selection, axes[1])
    if axes.size == 3:
        plot_feature_property(selection, axes[2], model=selection.spectrum_only_choice)
    return axes


def plot_importance(
    importance: Any, ax: Any = None, *, spectra: bool = True, color: str = "C3"
) -> Any:
    """ARD importance of the axis regions drawn under the spectra (the seed paper's Fig. 9).

    The spectra (thin lines, left axis) over the importance density per unit x (each bin's
    importance over its width, a filled step on a second y axis, drawn beneath them).

    Parameters
    ----------
    importance : gp_property.importance.RegionImportance
        The result of :func:`gp_property.importance.region_importance`.
    ax : matplotlib Axes, optional
        Where to draw (a new figure if omitted).
    spectra : bool
        Draw the spectra the GP saw.
    color : str
        Colour of the importance.

    Returns
    -------
    matplotlib Axes
        The spectra's axes; the importance is on its twin (``ax.twinx()``, the last Axes of
        ``ax.figure`` after the call).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.5), layout="constrained")
    twin = ax.twinx()
    edges = importance.bin_edges
    density = importance.bin_importance / np.diff(edges)
    twin.stairs(density, edges, fill=True, color=color, alpha=0.35, lw=0, label="importance")
    twin.set_ylim(0.0, 1.05 * float(density.max()) if density.max() > 0 else 1.0)
    twin.set_ylabel("importance per unit x (1/l^2, normalised)", color=color, fontsize=8)
    twin.tick_params(axis="y", colors=color, labelsize=8)
    # the spectra in front of the importance
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    if spectra:
        for row in importance.spectra:
            ax.plot(importance.x, row, lw=0.6, color="0.25", alpha=0.6)
    ax.set_xlabel("x")
    ax.set_ylabel(importance.source, fontsize=8)
    ax.set_title(
        f"ARD importance, {importance.n_bins} bins ({importance.x_scaling} input scale)",
        fontsize=9,
    )
    return ax
