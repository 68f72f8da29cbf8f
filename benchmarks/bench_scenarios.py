"""Property-informed selection on scenarios (a) and (b) over several seeds.

For every seed, :func:`gp_property.select_series` ranks the candidates of a scenario at its
documented settings (``datasets.weak_band`` for (a), ``datasets.unknown_background`` for (b))
with the property weight 1. Per seed it records which structure spectrum-only selection
(lowest sum F) and the combined selector (lowest F_total = sum F - log L_prop) choose, and the
two differences that decide, true candidate minus the best wrong one (by the same column):

* ``d_sum_F`` > 0: spectrum-only evidence prefers a wrong structure;
* ``d_prop`` < 0: the property term prefers the true structure;
* ``d_F_total = d_sum_F + d_prop`` < 0: the combined selector picks the truth.

Each is given with its standard error (per-sample F se added in quadrature; the Monte Carlo se
of log L_prop). Every sample's replica exchange runs cold (``--warm`` warm-starts along the
series instead); the study's series are shuffled, so neighbours are not alike. Candidates:
(a) K = 1, 2 Gaussian, no baseline; (b) K = 2, 3 Gaussian on a linear baseline. Features, the
same rule for every candidate: (a) every peak's area; (b) the area of the second peak in centre
order (the analyst knows which band drives the property; ``--peaks`` overrides).

Results are written after every seed to a JSON file (a rerun skips seeds already there with
the same settings, so an interrupted study resumes) and printed as Markdown.

Run::

    python benchmarks/bench_scenarios.py --scenarios b --seeds 10   # the study: ~11 min/seed
    python benchmarks/bench_scenarios.py --quick                    # plumbing check, ~5 min
    python benchmarks/bench_scenarios.py --scenarios b --first-seed 5 --seeds 10 --out b5.json
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import datasets
from deconv.exceptions import SpecbayesWarning
from gp_property import Candidate, select_series

RESULTS = Path(__file__).resolve().parent / "results"

SCENARIOS: dict[str, dict[str, Any]] = {
    "a": {
        "make": datasets.weak_band,
        "candidates": [Candidate(1, "gaussian", "none"), Candidate(2, "gaussian", "none")],
        "peaks": None,
    },
    "b": {
        "make": datasets.unknown_background,
        "candidates": [Candidate(2, "gaussian", "linear"), Candidate(3, "gaussian", "linear")],
        "peaks": (2,),
    },
}

STUDY = {
    "sampler": {"n_warmup": 1000, "n_samples": 1500, "n_independent": 2},
    "n_starts": 8,
    "warm_start": False,
    "scenario_kwargs": {},
}
QUICK = {
    "sampler": {"n_warmup": 100, "n_samples": 200, "n_independent": 2},
    "n_starts": 4,
    "scenario_kwargs": {"n_samples": 4},
}


def run_seed(name: str, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    """One scenario and seed: the selection and the deciding differences."""
    spec = SCENARIOS[name]
    scenario = spec["make"](seed, **settings["scenario_kwargs"])
    started = time.perf_counter()
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", SpecbayesWarning)  # short runs: se flags are expected
        selection = select_series(
            scenario.series,
            scenario.property_name,
            spec["candidates"],
            features=("area",),
            peaks=settings.get("peaks", spec["peaks"]),
            weight=1.0,
            key=seed,
            sampler=settings["sampler"],
            n_starts=settings["n_starts"],
            warm_start=settings.get("warm_start", True),
            progress=False,
        )
    wall = time.perf_counter() - started
    table = selection.table.set_index("n_peaks")
    truth = scenario.true_n_peaks
    wrong = table.drop(index=truth)

    def difference(column: str) -> tuple[float, float]:
        other = wrong[column].idxmin()
        value = float(table.loc[truth, column] - table.loc[other, column])
        se = float(np.hypot(table.loc[truth, f"{column}_se"], table.loc[other, f"{column}_se"]))
        return value, se

    d_sum_f, d_sum_f_se = difference("sum_F")
    other = wrong["sum_F"].idxmin()
    d_prop = float(table.loc[truth, "neg_log_L_prop"] - table.loc[other, "neg_log_L_prop"])
    d_prop_se = float(
        np.hypot(table.loc[truth, "neg_log_L_prop_se"], table.loc[other, "neg_log_L_prop_se"])
    )
    per_sample_se = [e.free_energy_se for ev in selection.evidences.values() for e in ev]
    labels = {str(m): int(k) for k, m in zip(table.index, table["model"], strict=True)}
    return {
        "seed": seed,
        "true_n_peaks": truth,
        "spectrum_only_n_peaks": labels[selection.spectrum_only_choice],
        "combined_n_peaks": labels[selection.chosen],
        "d_sum_F": d_sum_f,
        "d_sum_F_se": d_sum_f_se,
        "d_prop": d_prop,
        "d_prop_se": d_prop_se,
        "d_F_total": d_sum_f + d_prop,
        "max_sample_F_se": float(np.max(per_sample_se)),
        "per_sample_F": {
            str(c.n_peaks): [e.free_energy for e in selection.evidences[c.label]]
            for c in spec["candidates"]
        },
        "per_sample_F_se": {
            str(c.n_peaks): [e.free_energy_se for e in selection.evidences[c.label]]
            for c in spec["candidates"]
        },
        "table": json.loads(selection.table.to_json(orient="records")),
        "wall_s": wall,
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Counts over seeds: spectrum-only wrong, combined right, both."""
    wrong = [r["spectrum_only_n_peaks"] != r["true_n_peaks"] for r in rows]
    right = [r["combined_n_peaks"] == r["true_n_peaks"] for r in rows]
    return {
        "seeds": len(rows),
        "spectrum_only_wrong": int(sum(wrong)),
        "combined_right": int(sum(right)),
        "flipped_to_truth": int(sum(w and r for w, r in zip(wrong, right, strict=True))),
    }


def markdown(results: dict[str, Any]) -> str:
    """Per-seed table and counts of every scenario in ``results``."""
    lines = []
    for name, block in results["scenarios"].items():
        rows = [block["seeds"][k] for k in sorted(block["seeds"], key=int)]
        if not rows:
            continue
        counts = summary(rows)
        lines += [
            f"Scenario ({name}), candidates K = {block['candidates']}, truth K = "
            f"{rows[0]['true_n_peaks']}: spectrum-only wrong in {counts['spectrum_only_wrong']}"
            f" of {counts['seeds']}, combined right in {counts['combined_right']} of "
            f"{counts['seeds']}.",
            "",
            "| seed | spectrum-only K | combined K | d sum F (se) | d -log L_prop (se) "
            "| d F_total | max per-sample F se | wall |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in rows:
            lines.append(
                f"| {r['seed']} | {r['spectrum_only_n_peaks']} | {r['combined_n_peaks']} "
                f"| {r['d_sum_F']:+.1f} ({r['d_sum_F_se']:.1f}) "
                f"| {r['d_prop']:+.1f} ({r['d_prop_se']:.2f}) | {r['d_F_total']:+.1f} "
                f"| {r['max_sample_F_se']:.2f} | {r['wall_s']:.0f} s |"
            )
        lines.append("")
    return "\n".join(lines)


def _option(text: str) -> tuple[str, Any]:
    """``"name=value"`` -> (name, Python literal: a number, or a tuple such as zones)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--scenario-option must read NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise SystemExit(
            f"--scenario-option value must be a Python literal, got {value!r}"
        ) from None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--scenarios", nargs="+", choices=sorted(SCENARIOS), default=["a", "b"])
    parser.add_argument("--quick", action="store_true", help="4 samples, tiny sampler, 1 seed")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (Markdown beside it)")
    parser.add_argument("--fresh", action="store_true", help="ignore results already in --out")
    parser.add_argument(
        "--scenario-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a generator setting with a Python literal, e.g. background_height=0.0128 "
        'or "background_centres=((18, 30), (62, 80))" (repeatable)',
    )
    parser.add_argument(
        "--peaks",
        type=int,
        nargs="+",
        default=None,
        help="1-based peaks whose areas are the GP features, for every scenario run (default: "
        "the scenario's own: every peak for (a), the driving second band for (b))",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="warm-start every sample's replica exchange from the previous sample's run "
        "(the study runs every sample cold: its series are shuffled)",
    )
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else STUDY
    if args.peaks is not None:
        settings = {**settings, "peaks": args.peaks}
    if args.warm:
        settings = {**settings, "warm_start": True}
    if args.scenario_option:
        options = dict(_option(text) for text in args.scenario_option)
        settings = {**settings, "scenario_kwargs": {**settings["scenario_kwargs"], **options}}
    settings = json.loads(json.dumps(settings))  # tuples as lists, comparable with a stored run
    seeds = [args.first_seed] if args.quick else range(args.first_seed, args.seeds)
    out = args.out or RESULTS / ("scenarios_quick.json" if args.quick else "scenarios.json")
    results: dict[str, Any] = {"scenarios": {}}
    if out.exists() and not args.fresh:
        results = json.loads(out.read_text())
    results["command"] = "python benchmarks/bench_scenarios.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    results["threads"] = os.environ.get("OMP_NUM_THREADS", "unset")
    for name in args.scenarios:
        block = results["scenarios"].get(name)
        if block is None or block.get("settings") != settings:
            block = {"settings": settings, "seeds": {}}
        block["candidates"] = [c.n_peaks for c in SCENARIOS[name]["candidates"]]
        block["feature_peaks"] = settings.get("peaks", SCENARIOS[name]["peaks"])
        results["scenarios"][name] = block
        for seed in seeds:
            if str(seed) in block["seeds"]:
                continue
            row = run_seed(name, seed, settings)
            block["seeds"][str(seed)] = row
            print(
                f"({name}) seed {seed}: spectrum-only K={row['spectrum_only_n_peaks']}, "
                f"combined K={row['combined_n_peaks']}, d sum F {row['d_sum_F']:+.2f} "
                f"+- {row['d_sum_F_se']:.2f}, d prop {row['d_prop']:+.2f}, "
                f"{row['wall_s']:.0f} s",
                flush=True,
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1, default=float))
    text = markdown(results)
    out.with_suffix(".md").write_text(text + "\n")
    print(text)
    return results


if __name__ == "__main__":
    main()
