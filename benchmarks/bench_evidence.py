"""Free energies on the Nagata (2012) benchmark: our replica exchange beside the alternatives.

Side by side, on the same likelihood and priors (``datasets.nagata2012(seed=0)``, K Gaussian
peaks, sigma fixed at 0.1, ``priors="nagata2012"``):

* ``deconv.select`` (multi-start MAP + replica exchange, stepping-stone F) for several seeds;
* WBIC from a tempered HMC chain at beta = 1 / log n (``deconv.evidence.wbic``), the cheap screen;
* dynesty static nested sampling (``benchmarks/nagata_reference.py`` problem), a few runs per K
  at a modest ``nlive``, for wall time and likelihood calls at a comparable error; the long
  reference values come from ``benchmarks/results/nagata_dynesty.json`` when present.

Usage::

    .venv/bin/python benchmarks/bench_evidence.py --kmax 5 --seeds 3 --dynesty-runs 2 \\
        --dynesty-nlive 500 --out benchmarks/results/bench_evidence.json
    .venv/bin/python benchmarks/bench_evidence.py --seeds 10 --dynesty-runs 0 \\
        --sampler '{"n_samples": 2000}'          # a cheaper setting of ours
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datasets  # noqa: E402
from deconv.evidence import wbic  # noqa: E402
from deconv.inference import make_problem, multi_start_map  # noqa: E402
from deconv.selection import _inits, evidence_densities, select  # noqa: E402


def ours(
    spectrum, ks: list[int], seeds: list[int], reference: str = "auto", sampler: dict | None = None
) -> dict[int, dict]:
    out: dict[int, dict] = {k: {"F": [], "se": [], "wall": [], "grads": []} for k in ks}
    totals = []
    for seed in seeds:
        started = time.perf_counter()
        selection = select(
            spectrum,
            ks,
            shapes="gaussian",
            baselines="none",
            priors="nagata2012",
            key=seed,
            compute_wbic=False,
            progress=False,
            sampler={"reference": reference, **(sampler or {})},
        )
        totals.append(time.perf_counter() - started)
        for k in ks:
            result = selection.results[f"K={k} gaussian + none"]
            out[k]["F"].append(result.free_energy)
            out[k]["se"].append(result.free_energy_se)
            out[k]["wall"].append(result.fit.diagnostics["wall_time_s"])
            out[k]["grads"].append(result.evidence.n_gradient_evals)
        best = int(selection.table["n_peaks"].iloc[0])
        print(f"seed {seed}: K=1..{max(ks)} in {totals[-1]:.1f} s, argmin K = {best}", flush=True)
    return {"per_k": out, "total_wall": totals}


def wbic_screen(spectrum, ks: list[int]) -> dict[int, dict]:
    out = {}
    for k in ks:
        problem = make_problem(spectrum, k, shape="gaussian", baseline="none", priors="nagata2012")
        optima, table = multi_start_map(problem, n_starts=24, seed=0)
        log_prior, log_likelihood = evidence_densities(problem)
        started = time.perf_counter()
        result = wbic(
            log_prior,
            log_likelihood,
            _inits(problem, optima, table),
            n_data=spectrum.n_points,
            key=jax.random.PRNGKey(0),
        )
        out[k] = {
            "WBIC": result.wbic,
            "se": result.wbic_se,
            "wall": time.perf_counter() - started,
            "grads": result.n_gradient_evals,
        }
    return out


def dynesty_runs(ks: list[int], runs: int, nlive: int) -> dict[int, dict]:
    import nagata_reference as ref

    x, y = ref.load_data()
    args = argparse.Namespace(
        prior="ordered", nlive=nlive, bound="multi", sample="rslice", slices=None, dlogz=0.01
    )
    out = {}
    for k in ks:
        problem = ref.Problem(x, y, k)
        results = [ref.run_one(problem, args, seed) for seed in range(runs)]
        out[k] = {
            "F": [r["F"] for r in results],
            "err": [r["logzerr"] for r in results],
            "wall": [r["wall_s"] for r in results],
            "calls": [r["ncall"] for r in results],
        }
        print(
            f"dynesty K={k}: F={np.mean(out[k]['F']):.3f} wall {np.mean(out[k]['wall']):.1f} s",
            flush=True,
        )
    return out


def reference() -> dict[int, dict]:
    path = HERE / "results" / "nagata_dynesty.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {int(row["K"]): row for row in data["per_K"]}


def table(ks, mine, screen, nested, long_ref) -> str:
    lines = [
        "| K | F ours (mean ± sd over seeds) | mean se | wall s/K | grad evals | WBIC | "
        "dynesty F (nlive run) | dynesty wall s | dynesty calls | long reference F ± se |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k in ks:
        row = mine["per_k"][k]
        f = np.array(row["F"])
        spread = np.std(f, ddof=1) if f.size > 1 else float("nan")
        d = nested.get(k)
        r = long_ref.get(k)
        lines.append(
            f"| {k} | {f.mean():.3f} ± {spread:.3f} | {np.mean(row['se']):.3f} | "
            f"{np.mean(row['wall']):.1f} | {np.mean(row['grads']):.3g} | "
            f"{screen[k]['WBIC']:.2f} | "
            + (
                f"{np.mean(d['F']):.3f} | {np.mean(d['wall']):.1f} | {np.mean(d['calls']):.3g} | "
                if d
                else "- | - | - | "
            )
            + (f"{r['F_mean']:.3f} ± {r['logz_se']:.3f} |" if r else "- |")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kmax", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dynesty-runs", type=int, default=2)
    parser.add_argument("--dynesty-nlive", type=int, default=500)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--reference", choices=("auto", "prior", "laplace"), default="auto",
        help="the beta = 0 end of our ladder (replica_exchange's reference)",
    )  # fmt: skip
    parser.add_argument(
        "--sampler", type=json.loads, default={},
        help='JSON of replica-exchange settings for ours, e.g. \'{"n_samples": 2000}\'',
    )  # fmt: skip
    args = parser.parse_args(argv)
    spectrum = datasets.nagata2012(seed=0).spectrum
    ks = list(range(1, args.kmax + 1))
    mine = ours(spectrum, ks, list(range(args.seeds)), args.reference, args.sampler)
    screen = wbic_screen(spectrum, ks)
    nested = dynesty_runs(ks, args.dynesty_runs, args.dynesty_nlive) if args.dynesty_runs else {}
    text = table(ks, mine, screen, nested, reference())
    print(text)
    print(
        f"\nours: K=1..{args.kmax} total wall per seed: "
        + ", ".join(f"{t:.1f} s" for t in mine["total_wall"])
    )
    print("command: python benchmarks/bench_evidence.py " + " ".join(sys.argv[1:]))
    if args.out:
        payload = {
            "ours": mine,
            "wbic": screen,
            "dynesty": nested,
            "table": text,
            "command": " ".join(sys.argv),
        }
        args.out.write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
