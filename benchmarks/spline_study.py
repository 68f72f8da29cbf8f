"""How many peaks each background route finds on a smooth background that no cubic follows.

For each seed, ``datasets.smooth_background(seed)`` (three Gaussian peaks on 0-10, 200 points,
noise 1 % of the tallest peak, a sigmoid step plus a broad hump on a gentle slope) is fitted
with K = 2, 3 and 4 Gaussian peaks by three routes, and each route chooses K by its free
energy:

* ``spline``: the penalised spline inferred with the peaks (``baseline="spline"``);
* ``cubic``: a cubic Chebyshev baseline inferred with the peaks;
* ``asls``: AsLS pre-correction (pybaselines; the seed paper's ``lam = 1e3, p = 1e-4`` at its
  600 points, ``lam`` scaled by ``(200 / 600)**4`` to smooth the same fraction of the range
  here), then no baseline.

The truth is K = 3. Per seed and candidate the script records F, its standard error, the wall
time and whether an ``EvidenceWarning`` was raised; ``--summarise`` prints the table of
``docs/benchmarks.md``. Run from the repository root (each seed is written as it finishes)::

    python benchmarks/spline_study.py --seeds 0-9 --out spline_study.json
    python benchmarks/spline_study.py --summarise spline_study.json
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

CANDIDATES = (2, 3, 4)
TRUTH = 3
ROUTES = ("spline", "cubic", "asls")
N_POINTS = 200
ASLS = {"lam": 1e3 * (N_POINTS / 600) ** 4, "p": 1e-4}
SAMPLER = {"n_warmup": 500, "n_samples": 2000}


def _route(spectrum, route: str):
    """The spectrum and baseline a route fits."""
    if route == "asls":
        from deconv.precorrect import subtract_baseline

        return subtract_baseline(spectrum, "asls", **ASLS), "none"
    return spectrum, route


def run_seed(seed: int) -> dict:
    import datasets
    import deconv
    from deconv.exceptions import ConvergenceWarning, EvidenceWarning, MisfitWarning

    case = datasets.smooth_background(seed, n_points=N_POINTS)
    rows = []
    for route in ROUTES:
        spectrum, baseline = _route(case.spectrum, route)
        for k in CANDIDATES:
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", EvidenceWarning)
                warnings.simplefilter("ignore", (ConvergenceWarning, MisfitWarning))
                result = deconv.free_energy(
                    spectrum, k, shape="gaussian", baseline=baseline, key=seed,
                    compute_wbic=False, sampler=SAMPLER,
                )  # fmt: skip
            centres = result.fit.peak_table["centre"].round(3).tolist()
            rows.append(
                {
                    "route": route,
                    "k": k,
                    "F": result.free_energy,
                    "se": result.free_energy_se,
                    "wall_s": round(time.perf_counter() - start, 1),
                    "warned": any(issubclass(w.category, EvidenceWarning) for w in caught),
                    "centres": centres,
                }
            )
            print(seed, route, k, round(result.free_energy, 2), round(result.free_energy_se, 3),
                  rows[-1]["wall_s"], flush=True)  # fmt: skip
    return {"seed": seed, "rows": rows}


def _choice(rows: list[dict], route: str) -> int:
    mine = [row for row in rows if row["route"] == route]
    return min(mine, key=lambda row: row["F"])["k"]


def _row(rows: list[dict], route: str, k: int) -> dict:
    return next(row for row in rows if row["route"] == route and row["k"] == k)


def _margin(rows: list[dict], route: str) -> str:
    """F(4) - F(3) with its combined se, and the chosen K (a tie: within 2 combined se)."""
    three, four = _row(rows, route, 3), _row(rows, route, 4)
    se = (three["se"] ** 2 + four["se"] ** 2) ** 0.5
    chosen = _choice(rows, route)
    second = sorted((row for row in rows if row["route"] == route), key=lambda row: row["F"])[1]
    tie = (
        abs(second["F"] - _row(rows, route, chosen)["F"])
        < 2 * (second["se"] ** 2 + _row(rows, route, chosen)["se"] ** 2) ** 0.5
    )
    return f"{four['F'] - three['F']:+.2f} +- {se:.2f} | {chosen}{' (tie)' if tie else ''}"


def summarise(paths: list[str]) -> str:
    """A markdown table per seed (F(4) - F(3) and the K chosen by each route), then counts."""
    seeds = sorted(
        (record for path in paths for record in json.loads(Path(path).read_text())),
        key=lambda record: record["seed"],
    )
    header = " | ".join(f"{route}: F(4) - F(3) | {route}: K" for route in ROUTES)
    lines = [f"| seed | {header} |", "|" + " --- |" * (1 + 2 * len(ROUTES))]
    for record in seeds:
        cells = " | ".join(_margin(record["rows"], route) for route in ROUTES)
        lines.append(f"| {record['seed']} | {cells} |")
    lines.append("")
    for route in ROUTES:
        chosen = [_choice(record["rows"], route) for record in seeds]
        mine = [row for record in seeds for row in record["rows"] if row["route"] == route]
        walls = sorted(row["wall_s"] for row in mine if row["k"] == 4)
        lines.append(
            f"- {route}: true K = {TRUTH} chosen in {sum(k == TRUTH for k in chosen)} of "
            f"{len(chosen)} (K per seed: {' '.join(map(str, chosen))}); largest se "
            f"{max(row['se'] for row in mine):.2f} nat; EvidenceWarning in "
            f"{sum(row['warned'] for row in mine)} of {len(mine)} runs; K = 4 wall time median "
            f"{walls[len(walls) // 2]:.0f} s"
        )
    return "\n".join(lines)


def _seeds(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--out", default="spline_study.json")
    parser.add_argument("--summarise", nargs="+", metavar="JSON")
    args = parser.parse_args()
    if args.summarise:
        print(summarise(args.summarise))
        return
    out = Path(args.out)
    records = json.loads(out.read_text()) if out.exists() else []
    done = {record["seed"] for record in records}
    for seed in _seeds(args.seeds):
        if seed in done:
            continue
        records.append(run_seed(seed))
        temporary = out.with_suffix(".tmp")
        temporary.write_text(json.dumps(records, indent=1))
        temporary.replace(out)


if __name__ == "__main__":
    main()
