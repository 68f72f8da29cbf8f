"""Trust benchmark: every per-spectrum free energy of every route against a careful reference.

Routes (default settings, as a user runs them):

* ``series``: :func:`gp_property.select_series` / ``specbayes batch --method evidence``, which
  are one computation (:func:`deconv.batch.fit_series`, warm-started along the series);
* ``lone``: :func:`deconv.free_energy` on each spectrum alone, cold (what :func:`deconv.select`
  computes for each candidate: the same function);
* ``reference``: :func:`deconv.free_energy` with 4x the starts, 4x the sampling sweeps, 8
  independent runs and another key.

For each route the script reports the fraction of per-spectrum F within 2 standard errors of
the reference (the route's se and the reference's combined), the worst |dF| / se, and whether
every estimate off by more than 5 se carried a typed warning (the route's ``warning`` column).

Series: the CO-adsorption IR series (``../shared/data/spectrochempy-co-adsorption-ir``), the
MORB Raman series (``rampy-morb-iron-raman``, the BD spectra of the second spectrometer,
cropped to the silicate band) and a synthetic series with realistic misfit (Lorentzian bands
fitted with Gaussians on a sloping background).

Run from the repository root (one process per series suits a 2-core machine)::

    python benchmarks/trust.py --series co --out benchmarks/results/trust_co.json
    python benchmarks/trust.py --series morb --out benchmarks/results/trust_morb.json
    python benchmarks/trust.py --series misfit --out benchmarks/results/trust_misfit.json
    python benchmarks/trust.py --summarise benchmarks/results/trust_*.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

REFERENCE_FACTOR = 4  # starts and sampling sweeps of the reference, relative to the defaults


def _shared() -> Path:
    root = os.environ.get("SPECBAYES_SHARED_DATA")
    return Path(root) if root else HERE.parents[1] / "shared" / "data"


def co_series(every: int):
    """The CO-adsorption series in 2040-2240 cm^-1 (as examples/co_adsorption.py reads it)."""
    sys.path.insert(0, str(HERE.parent / "examples"))
    from co_adsorption import load_series

    series, _ = load_series(step=2, samples=None, source_pressures=False)
    return _every(series, every), [(k, "pseudo_voigt", "linear") for k in (2, 3, 4)]


def morb_series(every: int):
    """BD spectra of the MORB Raman series, cropped to 850-1200 cm^-1 and thinned 4x."""
    import pandas as pd

    from deconv import SpectrumSeries
    from deconv.io import read_spectrum

    folder = _shared() / "rampy-morb-iron-raman"
    table = pd.read_csv(folder / "datalist_T64000.csv")
    spectra = [read_spectrum(folder / "spectra" / name) for name in table["spectra"]]
    x = spectra[0].x
    keep = (x >= 850.0) & (x <= 1200.0)
    rows = [np.interp(x[keep], s.x, s.y) for s in spectra]
    ids = [str(name).removesuffix(".txt") for name in table["spectra"]]
    series = SpectrumSeries(x[keep][::4], np.array(rows)[:, ::4], sample_ids=ids)
    return _every(series, every), [(k, "gaussian", "linear") for k in (2, 3, 4)]


def misfit_series(every: int):
    """Six spectra of two Lorentzian bands on a slope, fitted with Gaussians (misfit)."""
    import datasets
    from deconv import SpectrumSeries

    x = np.linspace(0.0, 100.0, 200)
    rows = []
    for i in range(6):
        truth = {"centre": [40.0, 58.0], "fwhm": [9.0, 7.0], "height": [1.0, 0.4 + 0.1 * i]}
        rows.append(
            datasets.synthetic_spectrum(
                x, truth, shape="lorentzian", baseline=(0.1, 0.002), noise_sd=0.005, seed=i
            ).spectrum.y
        )
    series = SpectrumSeries(x, np.array(rows), sample_ids=[f"m{i}" for i in range(6)])
    return _every(series, every), [(k, "gaussian", "linear") for k in (2, 3)]


def _every(series, every: int):
    from deconv import SpectrumSeries

    ids = series.sample_ids[::every]
    return SpectrumSeries(series.x, np.stack([series[i].y for i in ids]), sample_ids=ids)


SERIES = {"co": co_series, "morb": morb_series, "misfit": misfit_series}


def _run_series_route(series, k, shape, baseline, key):
    from deconv.batch import fit_series

    result = fit_series(
        series, k, shape=shape, baseline=baseline, method="evidence", key=key,
        chunk_size=len(series), progress=False,
    )  # fmt: skip
    table = result.summary.set_index("sample_id")
    return {
        sid: {
            "F": float(table.loc[sid, "free_energy"]),
            "se": float(table.loc[sid, "free_energy_se"]),
            "warned": bool(str(table.loc[sid, "warning"]).strip() not in ("", "nan")),
            "status": str(table.loc[sid, "status"]),
            "reason": str(table.loc[sid, "reason"]),
        }
        for sid in series.sample_ids
    }


def _run_lone(series, k, shape, baseline, key, *, factor: int = 1):
    from deconv import free_energy
    from deconv.exceptions import SpecbayesWarning
    from deconv.selection import EVIDENCE_STARTS

    sampler = None
    if factor > 1:
        sampler = {"n_samples": 4000 * factor, "n_independent": 8}
    out = {}
    for index, sid in enumerate(series.sample_ids):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = free_energy(
                    series[sid], k, shape=shape, baseline=baseline, key=key + index,
                    n_starts=EVIDENCE_STARTS * factor, compute_wbic=False, sampler=sampler,
                )  # fmt: skip
            except Exception as error:  # recorded, as a batch would
                out[sid] = {"F": np.nan, "se": np.nan, "warned": True, "status": "failed",
                            "reason": f"{type(error).__name__}: {error}"}  # fmt: skip
                continue
        warned = any(issubclass(w.category, SpecbayesWarning) for w in caught)
        out[sid] = {"F": result.free_energy, "se": result.free_energy_se, "warned": warned,
                    "status": "done", "reason": ""}  # fmt: skip
    return out


def run(name: str, every: int, key: int) -> dict:
    series, candidates = SERIES[name](every)
    record = {"series": name, "n_spectra": len(series), "n_points": series.n_points, "models": {}}
    for k, shape, baseline in candidates:
        label = f"K={k} {shape} + {baseline}"
        timings, routes = {}, {}
        calls = {
            "series": (_run_series_route, (key,), {}),
            "lone": (_run_lone, (1000 * key,), {}),
            "reference": (_run_lone, (1000 * key + 500,), {"factor": REFERENCE_FACTOR}),
        }
        for route, (call, extra, options) in calls.items():
            start = time.perf_counter()
            routes[route] = call(series, k, shape, baseline, *extra, **options)
            timings[route] = time.perf_counter() - start
            print(f"{name} {label} {route}: {timings[route]:.0f} s", flush=True)
        record["models"][label] = {"routes": routes, "seconds": timings}
    return record


def summarise(records: list[dict]) -> dict:
    """Per route: spectra compared, fraction within 2 se, worst |dF|/se, unflagged > 5 se."""
    stats: dict[str, dict] = {}
    for record in records:
        for label, model in record["models"].items():
            reference = model["routes"]["reference"]
            for route in ("series", "lone"):
                empty = {"n": 0, "within": 0, "worst": 0.0, "unflagged_beyond_5": [], "failed": 0}
                entry = stats.setdefault(route, empty)
                for sid, ours in model["routes"][route].items():
                    ref = reference[sid]
                    if ours["status"] != "done" or ref["status"] != "done":
                        entry["failed"] += ours["status"] != "done"
                        continue
                    se = float(np.hypot(ours["se"], ref["se"]))
                    z = abs(ours["F"] - ref["F"]) / se
                    entry["n"] += 1
                    entry["within"] += z <= 2.0
                    entry["worst"] = max(entry["worst"], z)
                    if z > 5.0 and not ours["warned"]:
                        entry["unflagged_beyond_5"].append(f"{record['series']} {label} {sid}")
    for entry in stats.values():
        entry["fraction_within_2se"] = entry["within"] / max(entry["n"], 1)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", choices=sorted(SERIES))
    parser.add_argument("--every", type=int, default=1, help="keep every n-th spectrum")
    parser.add_argument("--key", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--summarise", nargs="+", type=Path, default=None)
    args = parser.parse_args()
    if args.summarise:
        records = [json.loads(path.read_text()) for path in args.summarise]
        print(json.dumps(summarise(records), indent=2))
        return
    from deconv import enable_compilation_cache

    enable_compilation_cache()
    record = run(args.series, args.every, args.key)
    record["summary"] = summarise([record])
    text = json.dumps(record, indent=2, default=float)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(json.dumps(record["summary"], indent=2))


if __name__ == "__main__":
    main()
