"""A real counts spectrum: the C 1s XPS line of LG4X's example sample, fitted as counts.

``C1s_sample.csv`` (LG4X example data, MIT; see ``shared/data/lg4x-xps/README.md``) holds
integer counts on a binding-energy axis, 301.5 to 266.5 eV in 0.1 eV steps (descending). The
band is cropped to 279-292 eV and fitted with the Poisson likelihood (``noise="poisson"``: no
noise level to infer, the free energy is the exact -log P(counts | M)). XPS backgrounds rise in
a step under the line (inelastic losses: higher on the high-binding-energy side), which a
straight line cannot follow; the candidates are K pseudo-Voigt peaks on a linear baseline or on
a sigmoid step (a :class:`deconv.CustomBaseline`). For each candidate the script prints the
free energy and what the residual check says (Pearson residuals: the counts' own variance),
and draws the chosen fit.

Run from the repository root::

    python examples/xps_counts.py [--quick] [--out xps_counts.png]

(K = 1-4 on both baselines: about 20 minutes on one core; ``--quick``: MAP fits only, K = 1-3,
about five minutes.) The shared data are found in ``$SPECBAYES_SHARED_DATA`` or in
``../shared/data`` beside the repository.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

DATA = Path("lg4x-xps") / "C1s_sample.csv"
WINDOW = (279.0, 292.0)  # eV


def data_file() -> Path:
    """``C1s_sample.csv`` in ``$SPECBAYES_SHARED_DATA`` or ``../shared/data``."""
    root = os.environ.get("SPECBAYES_SHARED_DATA")
    folder = Path(root) if root else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = folder / DATA
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: set SPECBAYES_SHARED_DATA to the data folder")
    return path


def step_baseline():
    """A sigmoid step, ``low + rise / (1 + exp(-(x - edge) / width))``, rising with binding
    energy; priors in counts and eV."""
    import jax
    from numpyro import distributions as dist

    from deconv import CustomBaseline

    return CustomBaseline(
        lambda x, low, rise, edge, width: low + rise * jax.nn.sigmoid((x - edge) / width),
        priors={
            "low": dist.Uniform(0.0, 3000.0),
            "rise": dist.Uniform(0.0, 3000.0),
            "edge": dist.Uniform(282.0, 288.0),
            "width": dist.Uniform(0.1, 3.0),
        },
        name="step",
    )


def load_counts():
    """The cropped counts spectrum."""
    import deconv

    return deconv.read_spectrum(data_file()).crop(*WINDOW)


def main(argv: list[str] | None = None):
    """Compare the candidates; returns the :class:`deconv.Selection` (``--quick``: a dict of
    MAP fits by model label)."""
    import deconv
    from deconv import ConvergenceWarning, MisfitWarning

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="MAP fits of K = 1-3 only")
    parser.add_argument("--out", type=Path, default=Path("xps_counts.png"))
    args = parser.parse_args(argv)

    spectrum = load_counts()
    print(f"{spectrum.n_points} points, {spectrum.x.min():.1f}-{spectrum.x.max():.1f} eV, "
          f"counts {int(spectrum.y.min())}-{int(spectrum.y.max())}")  # fmt: skip
    baselines = ("linear", step_baseline())
    if args.quick:
        fits = {}
        for baseline in baselines:
            for n_peaks in (1, 2, 3):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", (MisfitWarning, ConvergenceWarning))
                    fitted = deconv.fit(spectrum, n_peaks, shape="pseudo_voigt",
                                        baseline=baseline, noise="poisson", method="map",
                                        key=0)  # fmt: skip
                fits[fitted.model.label] = fitted
                print(f"{fitted.model.label:32s} -log p(y, theta_MAP) = "
                      f"{fitted.optima['neg_log_posterior'].iloc[0]:9.1f}   "
                      f"{fitted.misfit.summary()}")  # fmt: skip
        # MAP values of different models are not a model choice: draw the first fit (in order
        # of K) whose residuals pass the check, and let the full run choose by F
        passing = [f for f in fits.values() if not f.misfit.misfit] or list(fits.values())
        axes = passing[0].plot()
    else:
        selection = deconv.select(
            spectrum,
            n_peaks=range(1, 5),
            shapes="pseudo_voigt",
            baselines=baselines,
            noise="poisson",
            key=0,
            compute_wbic=False,
        )
        columns = ["model", "F", "F_se", "delta_F", "misfit"]
        print(selection.table[columns].to_string(index=False, float_format=lambda f: f"{f:.2f}"))
        print(f"chosen: {selection.best_fit.model.label}; residuals: "
              f"{selection.best_fit.misfit.describe()}")  # fmt: skip
        print(selection.best_fit.peak_table.round(3).to_string())
        axes = selection.best_fit.plot()
        fits = selection
    axes[0].figure.savefig(args.out, dpi=150)
    print(f"figure: {args.out}")
    return fits


if __name__ == "__main__":
    main()
