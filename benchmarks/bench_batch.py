"""Batch MAP speed: specbayes' vectorised optimiser against an lmfit loop on one series.

A series of synthetic IR-like spectra (three pseudo-Voigt peaks on a linear baseline, heights
varying from spectrum to spectrum, Gaussian noise) is fitted under one model twice:

* ``deconv.batch.fit_series(method="map")``: one compiled, vmapped Levenberg-Marquardt;
* an lmfit loop: ``PseudoVoigtModel`` x 3 + ``LinearModel``, least squares, one spectrum at a
  time, started from the same data-driven guess (:func:`deconv.starts.initial_guesses`, its
  greedy start) that specbayes uses as its first start.

It prints a markdown table: spectra per second (the first specbayes run includes compiling),
the chi-square of each fit against the known noise level, and how far the peak centres land
from the truth. MAP maximises the posterior, lmfit minimises chi-square, so lmfit's chi-square
is the lower bound; specbayes should sit within a fraction of a unit of it per spectrum.

A second table compares free-energy batches (``method="evidence"``, replica exchange) on a
second series of 100 spectra (two Gaussian bands drifting smoothly along the series on a
linear baseline, 200 points, noise sd 0.02; fitted as K=2 Gaussian + linear): independent cold
runs against runs warm-started from the previous spectrum (``warm_start=True``), with the same
sampler settings: spectra per second, gradient evaluations per spectrum, the mean standard
error of F, their product evals x se^2 (the cost of a fixed standard error, since se^2 falls
as 1 / draws), the compilations of the sampler and the agreement of the two F's.

Run::

    python benchmarks/bench_batch.py [--spectra 100] [--points 400] [--chunk-size 50]
        [--evidence-spectra 100] [--samples 1000] [--independent 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np

import datasets
from deconv import batch
from deconv.inference import make_problem
from deconv.model import mean_curve, to_user_units
from deconv.spectrum import Spectrum
from deconv.starts import initial_guesses

SHAPE, BASELINE, N_PEAKS = "pseudo_voigt", "linear", 3
NOISE = 0.01
CENTRES = (1718.0, 1745.0, 1784.0)


@dataclass
class Run:
    """One method's results over the series."""

    name: str
    seconds: float
    chi2: np.ndarray
    centres: np.ndarray  # (n_spectra, K)


def make_series(n_spectra: int, n_points: int, seed: int = 0):
    """Spectra with drifting heights and centres, and their true peak tables."""
    x = np.linspace(1650.0, 1850.0, n_points)
    rng = np.random.default_rng(seed)
    spectra, truths = [], []
    for i in range(n_spectra):
        phase = i / max(n_spectra - 1, 1)
        peaks = {
            "centre": [CENTRES[0] + 2 * phase, CENTRES[1], CENTRES[2] - 3 * phase],
            "fwhm": [18.0, 22.0, 15.0],
            "height": [0.4 + 0.6 * phase, 0.8, 0.9 - 0.5 * phase],
            "eta": [0.3, 0.5, 0.6],
        }
        synthetic = datasets.synthetic_spectrum(
            x,
            peaks,
            shape=SHAPE,
            baseline=(0.05, 1e-4 * rng.uniform(0.5, 1.5)),
            noise_sd=NOISE,
            seed=seed * 100_000 + i,
            name=f"s{i:03d}",
        )
        spectra.append(synthetic.spectrum)
        truths.append(synthetic.truth.peaks)
    return spectra, truths


def chi_square(spectrum: Spectrum, curve: np.ndarray) -> float:
    return float(np.sum((spectrum.y - curve) ** 2) / NOISE**2)


def specbayes_curve(spectrum: Spectrum, internal: dict) -> np.ndarray:
    problem = make_problem(spectrum, N_PEAKS, shape=SHAPE, baseline=BASELINE)
    curve = mean_curve(internal, problem.u, problem.model, problem.scaling)
    return problem.scaling.ys * np.asarray(curve)


def run_specbayes(spectra, name: str, **options) -> Run:
    started = time.perf_counter()
    result = batch.fit_series(
        spectra, N_PEAKS, shape=SHAPE, baseline=BASELINE, progress=False, **options
    )
    seconds = time.perf_counter() - started
    if result.counts["failed"]:
        print(f"warning: {result.counts['failed']} spectra failed", file=sys.stderr)
    chi2 = [chi_square(s, specbayes_curve(s, result[s.name].internal)) for s in spectra]
    columns = [f"centre[{k}]" for k in range(1, N_PEAKS + 1)]
    return Run(name, seconds, np.array(chi2), result.summary[columns].to_numpy())


def lmfit_start(spectrum: Spectrum):
    """The greedy data-driven start of specbayes, as lmfit parameters (user units)."""
    from lmfit.models import LinearModel, PseudoVoigtModel

    problem = make_problem(spectrum, N_PEAKS, shape=SHAPE, baseline=BASELINE)
    start = initial_guesses(
        np.asarray(problem.u),
        np.asarray(problem.v),
        problem.model,
        problem.scaling,
        n_starts=1,
        seed=0,
    )[0]
    user = to_user_units(
        {k: np.asarray(a)[None] for k, a in start.items()}, problem.model, problem.scaling
    )
    model = LinearModel(prefix="b_")
    for k in range(N_PEAKS):
        model = model + PseudoVoigtModel(prefix=f"p{k}_")
    params = model.make_params()
    x0, dx, _ = problem.scaling
    c0, c1 = user["baseline"][0]  # Chebyshev T0, T1 on t = 2 (x - x0) / dx - 1
    params["b_slope"].set(value=2 * c1 / dx)
    params["b_intercept"].set(value=c0 - c1 - 2 * c1 * x0 / dx)
    for k in range(N_PEAKS):
        params[f"p{k}_center"].set(value=user["centre"][0, k])
        params[f"p{k}_sigma"].set(value=user["fwhm"][0, k] / 2, min=1e-6)
        params[f"p{k}_amplitude"].set(value=user["area"][0, k])
        params[f"p{k}_fraction"].set(value=user["eta"][0, k], min=0.0, max=1.0)
    return model, params


def run_lmfit(spectra) -> Run:
    chi2, centres = [], []
    started = time.perf_counter()
    for spectrum in spectra:
        model, params = lmfit_start(spectrum)
        fitted = model.fit(spectrum.y, params, x=spectrum.x)
        chi2.append(chi_square(spectrum, fitted.best_fit))
        centres.append(sorted(fitted.params[f"p{k}_center"].value for k in range(N_PEAKS)))
    return Run(
        "lmfit loop (1 start)", time.perf_counter() - started, np.array(chi2), np.array(centres)
    )


@dataclass
class EvidenceRun:
    """One free-energy batch over the series."""

    name: str
    seconds: float
    summary: object  # pandas.DataFrame
    compiles: int


def make_evidence_series(n_spectra: int, n_points: int = 200, seed: int = 1):
    """Two Gaussian bands whose heights and centres drift smoothly along the series."""
    x = np.linspace(0.0, 100.0, n_points)
    spectra = []
    for i in range(n_spectra):
        phase = i / max(n_spectra - 1, 1)
        peaks = {
            "centre": [40.0 + 3 * phase, 58.0],
            "fwhm": [12.0, 9.0],
            "height": [1.0, 0.2 + 0.4 * phase],
        }
        synthetic = datasets.synthetic_spectrum(
            x,
            peaks,
            shape="gaussian",
            baseline=(0.05, 0.001),
            noise_sd=0.02,
            seed=seed * 100_000 + i,
            name=f"e{i:03d}",
        )
        spectra.append(synthetic.spectrum)
    return spectra


def run_evidence(spectra, name: str, *, warm: bool, sampler: dict, chunk_size: int):
    from deconv.evidence import compile_count

    before = sum(compile_count().values())
    started = time.perf_counter()
    result = batch.fit_series(
        spectra,
        2,
        shape="gaussian",
        baseline="linear",
        method="evidence",
        progress=True,
        sampler=sampler,
        warm_start=warm,
        chunk_size=chunk_size,
    )
    seconds = time.perf_counter() - started
    compiles = sum(compile_count().values()) - before
    return EvidenceRun(name, seconds, result.summary, compiles)


def evidence_table(runs: list[EvidenceRun]) -> str:
    lines = [
        "| free energies | time (s) | spectra/s | grad evals / spectrum | mean se (nat) "
        "| evals x se^2 | sampler compilations |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        table = run.summary
        evals = float(table["n_gradient_evals"].mean())
        se = float(table["free_energy_se"].mean())
        lines.append(
            f"| {run.name} | {run.seconds:.1f} | {len(table) / run.seconds:.2f} | {evals:.3g} "
            f"| {se:.3f} | {evals * se**2:.3g} | {run.compiles} |"
        )
    cold, warm = runs[0].summary, runs[1].summary
    gap = np.abs(cold["free_energy"] - warm["free_energy"])
    z = gap / np.hypot(cold["free_energy_se"], warm["free_energy_se"])
    ratio = cold["n_gradient_evals"].mean() / warm["n_gradient_evals"].mean()
    lines.append(
        f"\ncold / warm gradient evaluations: {ratio:.2f}; |F_cold - F_warm|: median "
        f"{np.median(gap):.3f} nat, {np.mean(z < 2):.0%} within 2 combined se."
    )
    return "\n".join(lines)


def table(runs: list[Run], reference: Run, truth: np.ndarray, n_points: int) -> str:
    lines = [
        "| method | time (s) | spectra/s | median chi2 | chi2 - lmfit chi2: median, max "
        "| centre RMSE vs truth |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        delta = run.chi2 - reference.chi2
        rmse = float(np.sqrt(np.mean((run.centres - truth) ** 2)))
        lines.append(
            f"| {run.name} | {run.seconds:.2f} | {len(run.chi2) / run.seconds:.1f} "
            f"| {np.median(run.chi2):.1f} | {np.median(delta):+.3f}, {np.max(delta):+.3f} "
            f"| {rmse:.3f} |"
        )
    lines.append(f"\n(chi2 expected ~ {n_points} points; centres in cm^-1.)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spectra", type=int, default=100)
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--chunk-size", type=int, default=50)
    parser.add_argument("--evidence-spectra", type=int, default=100)
    parser.add_argument("--samples", type=int, default=1000, help="replica-exchange sweeps")
    parser.add_argument("--independent", type=int, default=2, help="independent ladders")
    args = parser.parse_args(argv)
    spectra, truths = make_series(args.spectra, args.points)
    truth = np.array([t["centre"].to_numpy() for t in truths])
    chunk = {"chunk_size": args.chunk_size}
    runs = [
        run_specbayes(spectra, "specbayes batch MAP, 2 starts (incl. compile)", **chunk),
        run_specbayes(spectra, "specbayes batch MAP, 2 starts (compiled)", **chunk),
        run_specbayes(spectra, "specbayes batch MAP, 1 start (incl. compile)", n_starts=1, **chunk),
        run_specbayes(spectra, "specbayes batch MAP, 1 start (compiled)", n_starts=1, **chunk),
    ]
    reference = run_lmfit(spectra)
    runs.append(reference)
    print(f"command: python benchmarks/bench_batch.py {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"{args.spectra} spectra x {args.points} points, K={N_PEAKS} {SHAPE} + {BASELINE}, "
        f"noise sd {NOISE}, chunk size {args.chunk_size}\n"
    )
    print(table(runs, reference, truth, args.points))
    if args.evidence_spectra:
        sampler = {"n_samples": args.samples, "n_independent": args.independent}
        subset = make_evidence_series(args.evidence_spectra)
        size = len(subset)
        evidence = [
            run_evidence(subset, "cold runs (incl. compile)", warm=False, sampler=sampler,
                         chunk_size=size),
            run_evidence(subset, "warm-started (compiled)", warm=True, sampler=sampler,
                         chunk_size=size),
        ]  # fmt: skip
        print(
            f"\n{size} spectra x 200 points, K=2 gaussian + linear, replica exchange "
            f"n_samples {args.samples}, "
            f"n_independent {args.independent}, warm-up 500 cold / 100 warm\n"
        )
        print(evidence_table(evidence))
    return 0


if __name__ == "__main__":
    sys.exit(main())
