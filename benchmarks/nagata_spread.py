"""Seed-to-seed spread of the Nagata 2012 free energies for chosen K and sampler settings.

One ``deconv.free_energy`` call per key and K (library defaults unless ``--sampler`` overrides
them), printed as JSON lines and summarised as mean, sd over keys and mean reported se, beside
the nested-sampling reference of ``benchmarks/results/nagata_dynesty.json``.

Run::

    python benchmarks/nagata_spread.py --keys 0-9 --ks 4 5
    python benchmarks/nagata_spread.py --keys 0-4 --ks 4 --sampler '{"n_warmup": 1500}'
    python benchmarks/nagata_spread.py --keys 0-9 --ks 5 --n-starts 96
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from bench_evidence import reference

import datasets
import deconv


def _keys(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main(argv: list[str] | None = None) -> dict[int, np.ndarray]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=_keys, default=_keys("0-9"), help="e.g. 0-9 or 3")
    parser.add_argument("--ks", type=int, nargs="+", default=[4, 5])
    parser.add_argument("--sampler", type=json.loads, default={}, help="JSON of settings")
    parser.add_argument("--n-starts", type=int, default=24, help="multi-start MAP starts")
    args = parser.parse_args(argv)
    spectrum = datasets.nagata2012(seed=0).spectrum
    rows = []
    for key in args.keys:
        for k in args.ks:
            started = time.perf_counter()
            result = deconv.free_energy(
                spectrum, k, shape="gaussian", baseline="none", priors="nagata2012", key=key,
                n_starts=args.n_starts, compute_wbic=False, sampler=args.sampler,
            )  # fmt: skip
            row = {"K": k, "key": key, "F": result.free_energy, "se": result.free_energy_se,
                   "wall_s": time.perf_counter() - started}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    nested = {k: row["F_mean"] for k, row in reference().items()}
    values = {}
    for k in args.ks:
        f = np.array([r["F"] for r in rows if r["K"] == k])
        se = np.mean([r["se"] for r in rows if r["K"] == k])
        sd = f.std(ddof=1) if f.size > 1 else float("nan")
        print(
            f"K={k}: mean {f.mean():.3f} sd {sd:.3f} mean se {se:.3f} "
            f"(reference {nested.get(k, float('nan')):.3f})"
        )
        values[k] = f
    return values


if __name__ == "__main__":
    main()
