"""One seed of each of the seed paper's two experiments (Okubo et al. 2026, Tables 1-2).

Both series at the paper's published settings (6 spectra of 600 points, its uniform priors):

* the **noise-dominated case** (``datasets.paper_noise_series``): two Gaussian peaks buried in
  noise; candidates 1 or 2 peaks. The paper: the spectra pick 1, its FE~ the true 2;
* the **unknown-background case** (``datasets.paper_background_series``), pre-corrected by AsLS
  (``deconv.PAPER_ASLS``: lambda 1e3, p 1e-4) as the paper does; candidates 2 or 3 peaks. The
  paper: the spectra pick the pseudo-peak model 3, FE~ the true 2.

Each candidate's free energies are computed once (one result store per case) and ranked three
ways: the spectra alone (sum F), the paper's FE~ (a GP on each sample's whole posterior
predictive spectrum, hyperparameters refitted on each of 100 draws; ``criterion="property"``)
and our F_total (peak centres as the GP's input, hyperparameters fitted once). The figure
shows the three columns side by side for both cases, each relative to its best candidate, with
twice its standard error. ``benchmarks/paper_study.py`` runs the same over 10 seeds; the
counts are in ``docs/benchmarks.md``.

Run ``python examples/paper_experiments.py`` (about 10-30 minutes on one core, both cases at
the study's sampler settings) or ``--quick`` (short sampler runs and 20 draws, a couple of
minutes: a smoke test, not a result). Prints both tables and writes the figure to ``--out``.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import datasets
from deconv.precorrect import PAPER_ASLS, subtract_baseline
from gp_property import Candidate, SeriesSelection, select_series

CASES = {
    "noise": {"candidates": (1, 2), "kernel": "rational_quadratic", "priors": "okubo2026_noise"},
    "background": {"candidates": (2, 3), "kernel": "rbf", "priors": "okubo2026_background"},
}
SAMPLER = {"n_samples": 1500, "n_independent": 2}  # as benchmarks/paper_study.py
QUICK_SAMPLER = {"n_warmup": 100, "n_samples": 200, "n_independent": 2}
COLUMNS = (
    ("sum_F", "spectra: sum F"),
    ("neg_log_L_prop", "paper: FE~"),
    ("F_total", "ours: F_total"),
)


def paper_series(case: str, seed: int):
    """The case's series at the published settings (after AsLS for the background case)."""
    if case == "noise":
        return datasets.paper_noise_series(seed=seed).series
    series = datasets.paper_background_series(seed=seed).series
    return subtract_baseline(series, "asls", **PAPER_ASLS)


def run_case(case: str, seed: int, store: Path, *, quick: bool) -> dict[str, SeriesSelection]:
    """The paper's ranking and ours of one case, from one set of free energies."""
    spec = CASES[case]
    common = {
        "candidates": [Candidate(k, "gaussian", "none") for k in spec["candidates"]],
        "priors": spec["priors"], "sampler": QUICK_SAMPLER if quick else SAMPLER, "key": seed,
        "out": store / case, "progress": False, "n_pairs": 20 if quick else 100,
    }  # fmt: skip
    if quick:
        common["n_starts"] = 32
    series = paper_series(case, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short runs: EvidenceWarning and friends, by design
        paper = select_series(
            series, "delta", features="predictive_spectrum", kernel=spec["kernel"],
            policy="per_draw", criterion="property", **common,
        )  # fmt: skip
        ours = select_series(
            series, "delta", features=("centre",), policy="fixed", criterion="joint", **common
        )
    return {"paper": paper, "ours": ours}


def _column(selections: dict[str, SeriesSelection], column: str) -> tuple[list, list, list]:
    """Candidates, values and standard errors of one column, from the selection that owns it
    (FE~ from the paper's configuration, the others from ours)."""
    table = selections["paper" if column == "neg_log_L_prop" else "ours"].table
    table = table.sort_values("n_peaks")
    return list(table["n_peaks"]), list(table[column]), list(table[f"{column}_se"])


def plot(results: dict[str, dict[str, SeriesSelection]], path: Path) -> None:
    """Both cases, the three columns side by side, relative to each column's best candidate."""
    fig, axes = plt.subplots(len(results), 3, figsize=(10, 3.2 * len(results)), squeeze=False)
    for row, (case, selections) in zip(axes, results.items(), strict=True):
        for ax, (column, title) in zip(row, COLUMNS, strict=True):
            ks, values, ses = _column(selections, column)
            relative = np.asarray(values) - np.nanmin(values)
            ax.bar([f"K={k}" for k in ks], relative, yerr=2 * np.asarray(ses), capsize=4,
                   color=["tab:blue" if v == 0 else "tab:grey" for v in relative])  # fmt: skip
            ax.set_title(f"{case}: {title}", fontsize=10)
            ax.set_ylabel("minus the best (nat)" if column == "sum_F" else "")
    fig.suptitle("The seed paper's experiments: lower is better, bars are 2 se", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, dict[str, SeriesSelection]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="short sampler runs, 20 draws")
    parser.add_argument("--store", type=Path, help="result stores (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=Path("paper_experiments.png"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        store = args.store or Path(scratch)
        results = {case: run_case(case, args.seed, store, quick=args.quick) for case in CASES}
    for case, selections in results.items():
        print(f"\n{case} case, seed {args.seed}")
        print("  the paper's FE~ chooses", selections["paper"].chosen)
        print("  our F_total chooses   ", selections["ours"].chosen)
        print("  the spectra choose    ", selections["ours"].spectrum_only_choice)
    plot(results, args.out)
    print("figure:", args.out)
    return results


if __name__ == "__main__":
    main()
