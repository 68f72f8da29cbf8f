"""Peak-count selection on the IR-like carbonyl band, and how the weak shoulder fades with noise.

``datasets.ir_carbonyl`` (1000 points, three pseudo-Voigt peaks on a linear baseline, a weak
shoulder at 10 % of the main height) at several noise levels (sd as a fraction of the maximum),
several noise realisations each. For every realisation ``deconv.select`` compares K = 2, 3, 4
pseudo-Voigt peaks on a linear baseline (noise sd inferred) and the script records the free
energies, the chosen K and Delta F = F(K=2) - F(K=3), the evidence for the weak shoulder in
nats (positive: the data ask for it).

Results are written after every realisation to a JSON file; a rerun skips those already there
with the same settings, so an interrupted study resumes.

Run::

    python benchmarks/bench_ir_noise.py --noise 0.01 --seeds 10     # the 9-of-10 check
    python benchmarks/bench_ir_noise.py --noise 0.02 0.05 0.1 --seeds 3 --ks 2 3 \
        --out benchmarks/results/ir_noise_curve.json                  # Delta F against noise
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import datasets
from deconv import select
from deconv.exceptions import SpecbayesWarning

RESULTS = Path(__file__).resolve().parent / "results"
KS = (2, 3, 4)
TRUE_K = 3


def one_realisation(noise: float, seed: int, sampler: dict, ks: tuple[int, ...] = KS) -> dict:
    """Free energies of K in ``ks`` (default 2, 3, 4) for one noise realisation."""
    spectrum = datasets.ir_carbonyl(seed=seed, noise=noise).spectrum
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SpecbayesWarning)
        selection = select(
            spectrum,
            ks,
            shapes="pseudo_voigt",
            baselines="linear",
            key=seed,
            compute_wbic=False,
            sampler=sampler,
            progress=False,
        )
    by_k = {int(row.n_peaks): row for row in selection.table.itertuples()}
    paths = {m.model.n_peaks: m.evidence.reference for m in selection.results.values()}
    return {
        "noise": noise,
        "seed": seed,
        "F": {k: float(by_k[k].F) for k in ks},
        "se": {k: float(by_k[k].F_se) for k in ks},
        "path": {k: paths[k] for k in ks},
        "best_K": int(selection.table["n_peaks"].iloc[0]),
        "delta_F_weak": float(by_k[2].F - by_k[3].F),
        "wall_s": time.perf_counter() - started,
        "warnings": sorted({str(w.message)[:160] for w in caught}),
    }


def summary(rows: list[dict]) -> str:
    """Markdown: per noise level, how often K = 3 wins and Delta F for the weak shoulder."""
    lines = [
        "| noise (sd / max) | K compared | realisations | argmin K = 3 | chosen K (counts) | "
        "Delta F = F(2) - F(3), mean ± sd [min, max] | F(4) - F(3), mean | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for noise, ks in sorted({(r["noise"], tuple(sorted(r["F"]))) for r in rows}):
        group = [r for r in rows if r["noise"] == noise and tuple(sorted(r["F"])) == ks]
        delta = np.array([r["delta_F_weak"] for r in group])
        extra = np.array([r["F"]["4"] - r["F"]["3"] if "4" in ks else np.nan for r in group])
        chosen = np.array([r["best_K"] for r in group])
        counts = ", ".join(f"{k}: {int(np.sum(chosen == int(k)))}" for k in ks)
        spread = float(np.std(delta, ddof=1)) if delta.size > 1 else float("nan")
        lines.append(
            f"| {noise:g} | {', '.join(ks)} | {len(group)} | "
            f"{int(np.sum(chosen == TRUE_K))}/{len(group)} | "
            f"{counts} | {delta.mean():.1f} ± {spread:.1f} [{delta.min():.1f}, {delta.max():.1f}]"
            f" | {extra.mean():.2f} | {np.mean([r['wall_s'] for r in group]):.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.01])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=None, help="default: the library's")
    parser.add_argument("--samples", type=int, default=None, help="default: the library's")
    parser.add_argument("--out", type=Path, default=RESULTS / "ir_noise.json")
    parser.add_argument(
        "--ks", type=int, nargs="+", default=list(KS),
        help="peak counts to compare (2 and 3 suffice for Delta F of the weak shoulder)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not {2, 3} <= set(args.ks):
        parser.error("--ks must include 2 and 3 (Delta F of the weak shoulder)")
    chosen = {"n_warmup": args.warmup, "n_samples": args.samples}
    sampler = {name: value for name, value in chosen.items() if value is not None}
    stored = json.loads(args.out.read_text()) if args.out.exists() else {"rows": []}
    if stored.get("sampler", sampler) != sampler:
        sys.exit(f"{args.out} holds results for sampler {stored['sampler']}; use another --out")
    rows = stored["rows"]
    ks = tuple(sorted(args.ks))
    done = {(r["noise"], r["seed"], tuple(sorted(int(k) for k in r["F"]))) for r in rows}
    for noise in args.noise:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if (noise, seed, ks) in done:
                continue
            row = json.loads(json.dumps(one_realisation(noise, seed, sampler, ks)))  # str keys
            rows.append(row)
            print(
                f"noise {noise:g} seed {seed}: best K={row['best_K']}, "
                f"F(2)-F(3)={row['delta_F_weak']:.1f}, {row['wall_s']:.0f} s",
                flush=True,
            )
            args.out.write_text(json.dumps({"sampler": sampler, "rows": rows}, indent=1))
    print(summary(rows))
    print("command: python benchmarks/bench_ir_noise.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
