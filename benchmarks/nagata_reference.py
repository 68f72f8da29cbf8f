"""Independent nested-sampling reference of the Bayes evidence for the Nagata (2012) benchmark.

Problem (identical to ``deconv`` with ``shape="gaussian", baseline="none",
priors="nagata2012"``):

* data: ``datasets.nagata2012(seed=0)``, ``x = 0, 0.01, ..., 3`` (n = 301), three Gaussians
  plus ``0.1 * numpy.random.RandomState(0).randn(301)``;
* model with K peaks: ``f(x) = sum_k a_k exp(-b_k (x - mu_k)**2 / 2)``, no baseline;
* likelihood: ``y_j ~ Normal(f(x_j), sigma = 0.1)`` independent, sigma known,
  ``log L = sum_j log N(y_j; f(x_j), 0.1)`` including the ``-0.5 log(2 pi sigma**2)`` terms;
* priors, i.i.d. per peak: ``a_k ~ Gamma(5, rate 5)``, ``mu_k ~ Normal(1.5, variance 0.2)``,
  ``b_k ~ Gamma(5, rate 0.04)``.

The evidence ``Z = int L(theta) pi(theta) dtheta`` is the same with the unordered i.i.d. prior
and with the order-statistics prior of ``deconv`` (``K!`` times the product density on
``mu_1 < ... < mu_K``), because ``L`` is symmetric under relabelling of the peaks.  The default
``--prior ordered`` uses the exact order-statistics prior transform (sorted uniforms built as
``v_K = u_K**(1/K)``, ``v_k = v_{k+1} u_k**(1/k)``, then the normal inverse CDF), which removes
the ``K!`` label-switching modes and makes the nested sampler far more reliable in 12-15
dimensions; ``--prior unordered`` uses the plain i.i.d. transform (same Z, for cross-checks).

For each K, ``--runs`` independent static ``dynesty.NestedSampler`` runs (different seeds,
single process) are made; the JSON written to ``--out`` holds per K the log Z and dynesty's
error of each run, their mean and standard error across runs, ``F = -log Z``, nlive, the
likelihood calls, wall seconds, the information H, the dynesty version and the command line.
Before sampling, the likelihood is checked against ``deconv.model.pointwise_log_likelihood``.

Command used for ``benchmarks/results/nagata_dynesty.json`` (see the ``command`` field there)::

    .venv/bin/python benchmarks/nagata_reference.py --kmax 5 --nlive 1000 \\
        --runs 6,10,10,10,10 --seed 2012 --out benchmarks/results/nagata_dynesty.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy import special, stats

SIGMA = 0.1
A_SHAPE, A_RATE = 5.0, 5.0
MU_MEAN, MU_VAR = 1.5, 0.2
B_SHAPE, B_RATE = 5.0, 0.04


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """The benchmark data, ``datasets.nagata2012(seed=0)``."""
    import datasets

    d = datasets.nagata2012(seed=0)
    return np.asarray(d.spectrum.x, dtype=float), np.asarray(d.spectrum.y, dtype=float)


class Problem:
    """Log-likelihood and prior transforms for K Gaussian peaks; theta = (a, mu, b)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, k: int) -> None:
        self.x, self.y, self.k = x, y, k
        self.const = -0.5 * x.size * math.log(2.0 * math.pi * SIGMA**2)
        self.inv2var = 0.5 / SIGMA**2
        self.mu_sd = math.sqrt(MU_VAR)

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = self.k
        return theta[:k], theta[k : 2 * k], theta[2 * k :]

    def log_likelihood(self, theta: np.ndarray) -> float:
        a, mu, b = self.split(theta)
        d = self.x[None, :] - mu[:, None]
        f = a @ np.exp(-0.5 * b[:, None] * d * d)
        r = self.y - f
        return self.const - self.inv2var * float(r @ r)

    def transform_unordered(self, u: np.ndarray) -> np.ndarray:
        a, um, b = self.split(u)
        return np.concatenate(
            [
                special.gammaincinv(A_SHAPE, a) / A_RATE,
                MU_MEAN + self.mu_sd * special.ndtri(um),
                special.gammaincinv(B_SHAPE, b) / B_RATE,
            ]
        )

    def transform_ordered(self, u: np.ndarray) -> np.ndarray:
        a, um, b = self.split(u)
        k = self.k
        v = np.empty(k)
        acc = 1.0
        for j in range(k - 1, -1, -1):  # sorted uniforms: v_K = u_K^(1/K), v_j = v_{j+1} u_j^(1/j)
            acc *= um[j] ** (1.0 / (j + 1))
            v[j] = acc
        return np.concatenate(
            [
                special.gammaincinv(A_SHAPE, a) / A_RATE,
                MU_MEAN + self.mu_sd * special.ndtri(v),
                special.gammaincinv(B_SHAPE, b) / B_RATE,
            ]
        )


def check_transforms(problem: Problem, rng: np.random.Generator) -> None:
    """The special-function transforms agree with ``scipy.stats`` ``ppf``; ordering holds."""
    k = problem.k
    u = rng.uniform(size=3 * k)
    got = problem.transform_unordered(u)
    want = np.concatenate(
        [
            stats.gamma(A_SHAPE, scale=1 / A_RATE).ppf(u[:k]),
            stats.norm(MU_MEAN, math.sqrt(MU_VAR)).ppf(u[k : 2 * k]),
            stats.gamma(B_SHAPE, scale=1 / B_RATE).ppf(u[2 * k :]),
        ]
    )
    assert np.allclose(got, want, rtol=1e-12, atol=0), (got, want)
    mu = problem.transform_ordered(u)[k : 2 * k]
    assert np.all(np.diff(mu) > 0), mu


def check_against_deconv(problem: Problem, spectrum, thetas: list[np.ndarray]) -> float:
    """Assert our log L equals ``deconv``'s summed pointwise log-likelihood (to ~1e-9)."""
    import jax.numpy as jnp

    from deconv.inference import make_problem
    from deconv.model import pointwise_log_likelihood

    k = problem.k
    p = make_problem(spectrum, k, shape="gaussian", baseline="none", priors="nagata2012")
    x0, dx, ys = p.scaling
    worst = 0.0
    for theta in thetas:
        a, mu, b = problem.split(theta)
        order = np.argsort(mu)
        a, mu, b = a[order], mu[order], b[order]
        internal = {
            "centre": jnp.asarray((mu - x0) / dx),
            "precision": jnp.asarray(b * dx**2),
            "height": jnp.asarray(a / ys),
        }
        theirs = float(jnp.sum(pointwise_log_likelihood(internal, p.u, p.v, p.model, p.scaling)))
        ours = problem.log_likelihood(np.concatenate([a, mu, b]))
        err = abs(theirs - ours)
        assert err <= 1e-9 * max(1.0, abs(ours)), (k, theta, ours, theirs)
        worst = max(worst, err)
    return worst


def near_truth(k: int, rng: np.random.Generator) -> np.ndarray:
    """A high-likelihood point: the true peaks (first K of them), extra peaks small, shuffled."""
    from datasets.synthetic import NAGATA_CENTRES, NAGATA_HEIGHTS, NAGATA_PRECISIONS

    a = np.array([*NAGATA_HEIGHTS, *rng.uniform(0.01, 0.05, size=max(0, k - 3))])[:k]
    mu = np.array([*NAGATA_CENTRES, *rng.uniform(0.5, 2.5, size=max(0, k - 3))])[:k]
    b = np.array([*NAGATA_PRECISIONS, *rng.uniform(50, 300, size=max(0, k - 3))])[:k]
    perm = rng.permutation(k)
    return np.concatenate([a[perm], mu[perm], b[perm]])


def run_one(problem: Problem, args, seed: int) -> dict:
    import dynesty

    ptform = problem.transform_ordered if args.prior == "ordered" else problem.transform_unordered
    sampler = dynesty.NestedSampler(
        problem.log_likelihood,
        ptform,
        3 * problem.k,
        nlive=args.nlive,
        bound=args.bound,
        sample=args.sample,
        slices=args.slices,
        rstate=np.random.default_rng(seed),
    )
    t0, c0 = time.perf_counter(), time.process_time()
    sampler.run_nested(dlogz=args.dlogz, print_progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    res = sampler.results
    logz = float(res["logz"][-1])
    return {
        "seed": seed,
        "logz": logz,
        "F": -logz,
        "logzerr": float(res["logzerr"][-1]),
        "information": float(res["information"][-1]),
        "ncall": int(np.sum(res["ncall"])),
        "niter": int(res["niter"]),
        "logl_max": float(np.max(res["logl"])),
        "wall_s": wall,
        "cpu_s": cpu,
    }


def summarise(k: int, runs: list[dict], nlive: int) -> dict:
    logz = np.array([r["logz"] for r in runs])
    n = logz.size
    se = float(np.std(logz, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    errs = np.array([r["logzerr"] for r in runs])
    return {
        "K": k,
        "nlive": nlive,
        "n_runs": n,
        "logz_runs": logz.tolist(),
        "logzerr_runs": errs.tolist(),
        "logz_mean": float(logz.mean()),
        "logz_se": se,
        "F_mean": float(-logz.mean()),
        "F_se": se,
        "sd_across_runs": float(np.std(logz, ddof=1)) if n > 1 else float("nan"),
        "dynesty_se_of_mean": float(math.sqrt(np.sum(errs**2)) / n),
        "information_mean": float(np.mean([r["information"] for r in runs])),
        "ncall_total": int(sum(r["ncall"] for r in runs)),
        "wall_s_total": float(sum(r["wall_s"] for r in runs)),
        "cpu_s_total": float(sum(r["cpu_s"] for r in runs)),
        "runs": runs,
    }


def print_table(per_k: list[dict]) -> None:
    print(
        f"{'K':>2} {'runs':>4} {'F = -log Z':>12} {'se':>7} {'sd':>6} {'dyn.err':>7} "
        f"{'H':>6} {'ncall':>10} {'wall s':>8}  F(K)-F(K-1)"
    )
    prev = None
    for s in per_k:
        diff = (
            ""
            if prev is None
            else f"{s['F_mean'] - prev['F_mean']:+.3f} ± "
            + (f"{math.hypot(s['F_se'], prev['F_se']):.3f}")
        )
        print(
            f"{s['K']:>2} {s['n_runs']:>4} {s['F_mean']:>12.4f} {s['F_se']:>7.4f} "
            f"{s['sd_across_runs']:>6.3f} {s['dynesty_se_of_mean']:>7.4f} "
            f"{s['information_mean']:>6.2f} {s['ncall_total']:>10d} "
            f"{s['wall_s_total']:>8.1f}  {diff}"
        )
        prev = s


def parse_runs(text: str, ks: list[int]) -> dict[int, int]:
    parts = [int(p) for p in text.split(",")]
    if len(parts) == 1:
        return dict.fromkeys(ks, parts[0])
    if len(parts) != len(ks):
        raise SystemExit(f"--runs needs 1 or {len(ks)} comma-separated values")
    return dict(zip(ks, parts, strict=True))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kmin", type=int, default=1)
    ap.add_argument("--kmax", type=int, default=5)
    ap.add_argument("--nlive", type=int, default=1000)
    ap.add_argument("--runs", default="4", help="runs per K: one int, or one per K (e.g. 2,3,6)")
    ap.add_argument("--seed", type=int, default=2012, help="run r of K uses seed + 100 K + r")
    ap.add_argument("--bound", default="multi")
    ap.add_argument("--sample", default="rslice", choices=["rslice", "rwalk", "slice", "unif"])
    ap.add_argument("--slices", type=int, default=None, help="rslice slices (dynesty: 3+ndim)")
    ap.add_argument("--prior", default="ordered", choices=["ordered", "unordered"])
    ap.add_argument("--dlogz", type=float, default=0.01)
    ap.add_argument("--out", default="benchmarks/results/nagata_dynesty.json")
    args = ap.parse_args(argv)

    import dynesty

    import datasets

    ks = list(range(args.kmin, args.kmax + 1))
    n_runs = parse_runs(args.runs, ks)
    spectrum = datasets.nagata2012(seed=0).spectrum
    x, y = load_data()
    assert x.size == 301 and np.allclose(x, np.arange(301) * 0.01)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "problem": "nagata2012 seed 0, K Gaussian peaks, sigma=0.1 known, no baseline; "
        "a~Gamma(5,rate 5), mu~Normal(1.5,var 0.2), b~Gamma(5,rate 0.04) i.i.d. per peak",
        "sampler": "dynesty.NestedSampler (static), single process",
        "dynesty_version": dynesty.__version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "per_K": [],
    }
    rng = np.random.default_rng(args.seed)
    for k in ks:
        problem = Problem(x, y, k)
        check_transforms(problem, rng)
        thetas = [problem.transform_unordered(rng.uniform(size=3 * k)) for _ in range(5)]
        thetas.append(near_truth(k, rng))
        worst = check_against_deconv(problem, spectrum, thetas)
        print(f"K={k}: likelihood matches deconv (max |diff| {worst:.2e})", flush=True)
        runs = []
        for r in range(n_runs[k]):
            res = run_one(problem, args, args.seed + 100 * k + r)
            runs.append(res)
            print(
                f"  K={k} run {r}: log Z = {res['logz']:.4f} ± {res['logzerr']:.4f} "
                f"H = {res['information']:.2f} ncall = {res['ncall']} "
                f"wall = {res['wall_s']:.1f}s cpu = {res['cpu_s']:.1f}s",
                flush=True,
            )
            summary = summarise(k, runs, args.nlive)
            summary["likelihood_check_max_abs_diff"] = worst
            meta["per_K"] = [s for s in meta["per_K"] if s["K"] != k] + [summary]
            out.write_text(json.dumps(meta, indent=2) + "\n")
    print_table(meta["per_K"])


if __name__ == "__main__":
    main()
