"""Compare peak counts on one spectrum by Bayes free energy.

Run ``python examples/compare_models.py`` (K = 1..4, a few minutes) or ``--quick`` (K = 2..3
with short sampler settings). Prints the ranked table and writes ``compare_models.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import datasets
import deconv


def main(argv: list[str] | None = None) -> deconv.Selection:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer candidates, short runs")
    parser.add_argument("--out", type=Path, default=Path("compare_models.png"))
    args = parser.parse_args(argv)

    spectrum = datasets.nagata2012(seed=0).spectrum
    sampler = {"n_warmup": 300, "n_samples": 600, "n_independent": 2} if args.quick else None
    selection = deconv.select(
        spectrum,
        n_peaks=[2, 3] if args.quick else range(1, 5),
        shapes="gaussian",
        baselines="none",
        priors="nagata2012",
        key=0,
        sampler=sampler,
        compute_wbic=not args.quick,
    )
    columns = ["model", "F", "F_se", "delta_F", "probability", "WBIC"]
    print(selection.table[columns].to_string(index=False, float_format=lambda f: f"{f:.3f}"))
    axes = selection.plot()
    axes[0].figure.savefig(args.out, dpi=150)
    print(f"figure: {args.out}")
    return selection


if __name__ == "__main__":
    main()
