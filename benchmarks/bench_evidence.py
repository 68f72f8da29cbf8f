"""Free energies on the Nagata (2012) benchmark: our replica exchange beside the alternatives.

Side by side, on the same likelihood and priors (``datasets.nagata2012(seed=0)``, K Gaussian
peaks, sigma fixed at 0.1, ``priors="nagata2012"``):

* ``deconv.select`` (multi-start MAP + replica exchange, stepping-stone F) for several seeds;
* WBIC from a tempered HMC chain at beta = 1 / log n (``deconv.evidence.wbic``), the cheap screen,
  and with ``--nuts-wbic`` from NumPyro's NUTS on the same tempered posterior;
* dynesty static nested sampling (``benchmarks/nagata_reference.py`` problem), a few runs per K
  at a modest ``nlive``, for wall time and likelihood calls at a comparable error; the long
  reference values come from ``benchmarks/results/nagata_dynesty.json`` when present.

Usage (dynesty, for ``--dynesty-runs``, is not a dependency: ``pip install dynesty``)::

    .venv/bin/python benchmarks/bench_evidence.py --kmax 5 --seeds 3 --dynesty-runs 2 \\
        --dynesty-nlive 500 --nuts-wbic --out benchmarks/results/bench_evidence.json
    .venv/bin/python benchmarks/bench_evidence.py --seeds 10 --dynesty-runs 0 \\
        --sampler '{"n_samples": 2000}'          # a cheaper setting of ours
"""

from __future__ import annotations

import argparse
import json
import math
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


def nuts_wbic(spectrum, ks: list[int], n_chains: int = 4) -> dict[int, dict]:
    """WBIC from NumPyro's NUTS on the tempered posterior p(θ) p(y|θ)^β, β = 1 / log n, four
    chains (500 warm-up + 1000 draws) from the MAP optima: the usual way to get WBIC."""
    from numpyro.infer import MCMC, NUTS

    beta = 1.0 / math.log(spectrum.n_points)
    out = {}
    for k in ks:
        problem = make_problem(spectrum, k, shape="gaussian", baseline="none", priors="nagata2012")
        optima, table = multi_start_map(problem, n_starts=24, seed=0)
        log_prior, log_likelihood = evidence_densities(problem)
        starts = _inits(problem, optima, table)
        init = {name: a[np.arange(n_chains) % a.shape[0]] for name, a in starts.items()}

        def potential(z, log_prior=log_prior, log_likelihood=log_likelihood):
            return -(log_prior(z) + beta * log_likelihood(z))

        kernel = NUTS(potential_fn=potential, dense_mass=True)
        mcmc = MCMC(
            kernel, num_warmup=500, num_samples=1000, num_chains=n_chains,
            chain_method="sequential", progress_bar=False,
        )  # fmt: skip
        started = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(0), init_params=init, extra_fields=("num_steps",))
        draws = mcmc.get_samples(group_by_chain=True)
        log_lik = np.asarray(jax.vmap(jax.vmap(log_likelihood))(draws))  # (chains, draws)
        wall = time.perf_counter() - started
        steps = int(np.sum(mcmc.get_extra_fields()["num_steps"]))
        out[k] = {
            "WBIC": float(-log_lik.mean()),
            "se": float(log_lik.mean(axis=1).std(ddof=1) / math.sqrt(n_chains)),
            "wall": wall,
            "grads": steps,
        }
        print(f"NUTS WBIC K={k}: {out[k]['WBIC']:.2f} in {wall:.1f} s", flush=True)
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


def table(ks, mine, screen, nested, long_ref, nuts=None) -> str:
    nuts = nuts or {}
    lines = [
        "| K | F ours (mean ± sd over seeds) | mean se | wall s/K | grad evals | WBIC | "
        "WBIC, NUTS (wall s, grad evals) | "
        "dynesty F (nlive run) | dynesty wall s | dynesty calls | long reference F ± se |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
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
                f"{nuts[k]['WBIC']:.2f} ({nuts[k]['wall']:.1f}, {nuts[k]['grads']:.3g}) | "
                if k in nuts
                else "- | "
            )
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
        "--nuts-wbic", action="store_true", help="also WBIC from NumPyro NUTS (4 chains)"
    )
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
    nuts = nuts_wbic(spectrum, ks) if args.nuts_wbic else {}
    nested = dynesty_runs(ks, args.dynesty_runs, args.dynesty_nlive) if args.dynesty_runs else {}
    text = table(ks, mine, screen, nested, reference(), nuts)
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
            "wbic_nuts": nuts,
            "dynesty": nested,
            "table": text,
            "command": " ".join(sys.argv),
        }
        args.out.write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
