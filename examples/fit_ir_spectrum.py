"""Fit one IR spectrum: three pseudo-Voigt peaks on a linear baseline.

Run ``python examples/fit_ir_spectrum.py`` (NUTS, about a minute) or with ``--quick`` (MAP,
seconds). Writes ``fit_ir_spectrum.png`` and prints the report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import datasets
import deconv


def main(argv: list[str] | None = None) -> deconv.Fit:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="MAP instead of NUTS")
    parser.add_argument("--out", type=Path, default=Path("fit_ir_spectrum.png"))
    args = parser.parse_args(argv)

    spectrum = datasets.load("ir_carbonyl_demo")  # or deconv.read_spectrum("your_file.csv")
    fit = deconv.fit(
        spectrum,
        n_peaks=3,
        shape="pseudo_voigt",
        baseline="linear",
        method="map" if args.quick else "nuts",
        key=0,
        num_warmup=400,
        num_samples=400,
    )
    print(fit.report())
    axes = fit.plot()
    axes[0].figure.savefig(args.out, dpi=150)
    print(f"figure: {args.out}")
    return fit


if __name__ == "__main__":
    main()
