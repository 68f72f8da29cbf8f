"""The seed paper's two experiments (Okubo et al. 2026, Tables 1-2) through the package.

For each seed, both series at the paper's published settings (``datasets.paper_noise_series``
and ``datasets.paper_background_series``: 6 spectra of 600 points; the background case
pre-corrected by AsLS with lambda = 1e3, p = 1e-4), the paper's uniform priors
(``okubo2026_noise`` / ``okubo2026_background``) and the candidates of its tables (1 or 2
Gaussian peaks; 2 or 3 after AsLS), the script reports per candidate:

* FE_spec = sum F (spectra alone), with its standard error;
* the paper's FE~ = -log E[p(Z | Y)]: a GP on the whole posterior predictive spectrum
  (rational-quadratic kernel for the noise case, RBF for the background case), its
  hyperparameters refitted on every draw (``policy="per_draw"``), 100 draws;
* our F_total = sum F - log L_prop with peak centres as features (the property is
  10 |mu1 - mu2|) and hyperparameters fitted once (``policy="fixed"``);

and each criterion's choice. The free energies are computed once per seed and candidate (a
result store per seed) and shared by both property terms.

Run from the repository root (one process per core; each seed is written as it finishes)::

    python benchmarks/paper_study.py --case noise --seeds 0-9 --out noise.json
    python benchmarks/paper_study.py --case background --seeds 0-9 --out background.json
    python benchmarks/paper_study.py --summarise noise.json background.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CASES = {
    "noise": {"candidates": (1, 2), "truth": 2, "spectra_claim": 1, "kernel": "rational_quadratic"},
    "background": {"candidates": (2, 3), "truth": 2, "spectra_claim": 3, "kernel": "rbf"},
}
SAMPLER = {"n_samples": 1500, "n_independent": 2}  # per spectrum; warm-started along the series
N_PAIRS = 100  # the paper's S


def _series(case: str, seed: int):
    import datasets
    from deconv.precorrect import PAPER_ASLS, subtract_baseline

    if case == "noise":
        return datasets.paper_noise_series(seed=seed).series, "okubo2026_noise"
    series = datasets.paper_background_series(seed=seed).series
    return subtract_baseline(series, "asls", **PAPER_ASLS), "okubo2026_background"


def one_seed(case: str, seed: int, store: Path) -> dict:
    from gp_property import Candidate, select_series

    spec = CASES[case]
    series, priors = _series(case, seed)
    candidates = [Candidate(k, "gaussian", "none") for k in spec["candidates"]]
    common = {
        "candidates": candidates, "priors": priors, "sampler": SAMPLER, "key": seed,
        "out": store, "progress": False, "n_pairs": N_PAIRS,
    }  # fmt: skip
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paper = select_series(
            series, "delta", features="predictive_spectrum", kernel=spec["kernel"],
            policy="per_draw", criterion="property", **common,
        )  # fmt: skip
        ours = select_series(
            series, "delta", features=("centre",), policy="fixed", criterion="joint", **common
        )
    seconds = time.perf_counter() - start
    rows = {}
    for row in paper.table.itertuples():
        rows[int(row.n_peaks)] = {"FE_spec": row.sum_F, "FE_spec_se": row.sum_F_se,
                                  "FE_tilde": row.neg_log_L_prop,
                                  "FE_tilde_se": row.neg_log_L_prop_se}  # fmt: skip
    for row in ours.table.itertuples():
        rows[int(row.n_peaks)].update({"F_total": row.F_total, "F_total_se": row.F_total_se,
                                       "neg_log_L_prop_ours": row.neg_log_L_prop})  # fmt: skip
    columns = {"spectra": "FE_spec", "FE_tilde": "FE_tilde", "F_total": "F_total"}
    choice = {name: _choice(rows, column) for name, column in columns.items()}
    return {"case": case, "seed": seed, "seconds": seconds, "models": rows, "choice": choice}


def _choice(rows: dict, column: str) -> int | None:
    """The candidate with the lowest ``column``, or None (a tie) when the two lowest differ by
    less than twice their combined standard error."""
    ranked = sorted(rows, key=lambda k: rows[k][column])
    best, runner_up = rows[ranked[0]], rows[ranked[1]]
    gap = runner_up[column] - best[column]
    se = (best[f"{column}_se"] ** 2 + runner_up[f"{column}_se"] ** 2) ** 0.5
    return ranked[0] if gap > 2 * se else None


def summarise(records: list[dict]) -> dict:
    """Per case: how often each criterion picks the paper's claim or the truth, and how often
    it cannot choose (the two candidates within twice their combined se)."""
    out = {}
    for case, spec in CASES.items():
        runs = [r for r in records if r["case"] == case]
        if not runs:
            continue
        columns = {"spectra": "FE_spec", "FE_tilde": "FE_tilde", "F_total": "F_total"}
        picks = [
            {name: _choice(_by_k(r["models"]), column) for name, column in columns.items()}
            for r in runs
        ]
        out[case] = {
            "seeds": len(runs),
            "spectra_pick_paper_claim": sum(p["spectra"] == spec["spectra_claim"] for p in picks),
            "FE_tilde_picks_truth": sum(p["FE_tilde"] == spec["truth"] for p in picks),
            "F_total_picks_truth": sum(p["F_total"] == spec["truth"] for p in picks),
            "ties": {name: sum(p[name] is None for p in picks) for name in columns},
            "minutes_per_seed": sum(r["seconds"] for r in runs) / len(runs) / 60,
        }
    return out


def _by_k(models: dict) -> dict:
    return {int(k): row for k, row in models.items()}  # JSON keys are strings


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--stores", type=Path, default=Path("paper_study_stores"))
    parser.add_argument("--summarise", nargs="+", type=Path)
    args = parser.parse_args()
    if args.summarise:
        records = [r for p in args.summarise for r in json.loads(p.read_text())["seeds"]]
        print(json.dumps(summarise(records), indent=2))
        return
    from deconv import enable_compilation_cache

    enable_compilation_cache()
    records = []
    for seed in _seeds(args.seeds):
        records.append(one_seed(args.case, seed, args.stores / f"{args.case}_{seed}"))
        print(json.dumps(records[-1]["choice"]), records[-1]["seconds"], flush=True)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"seeds": records, "summary": summarise(records)}, indent=2)
            args.out.write_text(text + "\n")
    print(json.dumps(summarise(records), indent=2))


if __name__ == "__main__":
    main()
