"""Peaks on a background that no polynomial follows: a spline baseline inferred with them.

``datasets.smooth_background`` puts three Gaussian peaks (a close pair at 4.0 and 4.6, one at
6.5) on a sigmoid step plus a broad hump. The script fits K = 3 with ``baseline="spline"``
(NUTS: the background's uncertainty reaches the peak table) and with a cubic (MAP), prints
both peak tables beside the truth and draws the spline fit, its baseline's 94 % band and the
true background, above the cubic's fit.

Run from the repository root (about two minutes on one core)::

    python examples/spline_background.py [--seed 2] [--out spline_background.png]
"""

from __future__ import annotations

import argparse
import warnings

import matplotlib

matplotlib.use("Agg")


def main(argv: list[str] | None = None) -> dict:
    import matplotlib.pyplot as plt

    import datasets
    import deconv
    from deconv.exceptions import ConvergenceWarning

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--out", default="spline_background.png")
    parser.add_argument("--draws", type=int, default=500, help="NUTS draws per chain")
    args = parser.parse_args(argv)

    case = datasets.smooth_background(args.seed, n_points=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        spline = deconv.fit(
            case.spectrum, 3, shape="gaussian", baseline="spline", key=args.seed,
            num_warmup=args.draws, num_samples=args.draws, num_chains=2,
        )  # fmt: skip
    cubic = deconv.fit(
        case.spectrum, 3, shape="gaussian", baseline="cubic", key=args.seed, method="map"
    )
    columns = ["centre", "fwhm", "height"]
    print("truth\n", case.truth.peaks[columns].round(3).to_string())
    print("spline (NUTS)\n", spline.peak_table[[*columns, "centre_sd"]].round(4).to_string())
    print("cubic (MAP)\n", cubic.peak_table[columns].round(3).to_string())

    figure, axes = plt.subplots(
        4, 1, figsize=(7.0, 7.5), sharex=True, layout="constrained",
        gridspec_kw={"height_ratios": [3, 1, 3, 1]},
    )  # fmt: skip
    spline.plot(axes=axes[:2])
    axes[0].plot(case.spectrum.x, case.truth.background, color="k", lw=0.8, label="true background")
    axes[0].legend(fontsize=7, frameon=False, ncols=2)
    axes[0].set_title(
        f"K=3 gaussian + spline (NUTS): smooth_background seed {args.seed}", fontsize=9
    )
    cubic.plot(axes=axes[2:])
    axes[2].plot(case.spectrum.x, case.truth.background, color="k", lw=0.8)
    axes[2].set_title("K=3 gaussian + cubic (MAP): the cubic cannot follow the step", fontsize=9)
    figure.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return {"spline": spline, "cubic": cubic, "truth": case.truth}


if __name__ == "__main__":
    main()
