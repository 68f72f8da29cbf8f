"""The vmapped samplers on an accelerator against the same machine's CPU.

Replica exchange runs every replica of every temperature and independent run in one vmapped
program, and the batch MAP optimiser vmaps over spectra. On a CPU their cost grows with the
number of lanes; on a GPU a sweep costs about the same for 4 or 64 independent runs until the
chip fills. This script measures that, item by item, and appends one JSON line per item to
``--out`` as soon as it is done (so a run stopped at its deadline keeps what it measured):

* ``evidence``: ``deconv.free_energy`` on the Nagata 2012 data (Gaussian, no baseline, the
  preset priors) for each K and ``n_independent`` asked for, over several keys; the first key
  of a structure includes compilation (``compile_s``), the later ones do not;
* ``select``: the whole K = 1..5 selection at the defaults;
* ``batch_map``: ``batch.fit_series(method="map")`` on an IR-like series in one chunk, twice
  (the first call compiles).

Usage (``--platform cpu`` sets ``JAX_PLATFORMS=cpu`` before JAX is imported)::

    python benchmarks/bench_gpu.py --platform gpu --deadline 300 --out gpu.jsonl
    python benchmarks/bench_gpu.py --platform cpu --deadline 150 --out cpu.jsonl \\
        --plan evidence:5:4:0,1 evidence:5:64:0,1
    python benchmarks/bench_gpu.py --platform gpu --deadline 270 --out jumps.jsonl \\
        --sampler '{"mode_jumps": true}' --plan evidence:5:4:0-9 evidence:4:4:0-9
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

DEFAULT_PLAN = (
    "evidence:5:4:0,1",
    "evidence:5:64:0,1,2,3",
    "evidence:3:64:0,1",
    "select:0",
    "batch_map:1000",
)


def _evidence(k: int, n_independent: int, keys: list[int], sampler: dict) -> Iterator[dict]:
    import datasets
    import deconv

    spectrum = datasets.nagata2012(seed=0).spectrum
    for key in keys:
        started = time.perf_counter()
        result = deconv.free_energy(
            spectrum, k, shape="gaussian", baseline="none", priors="nagata2012", key=key,
            compute_wbic=False, sampler={**sampler, "n_independent": n_independent},
        )  # fmt: skip
        run = result.evidence
        yield {
            "item": "evidence", "K": k, "n_independent": n_independent, "key": key,
            "sampler": sampler,
            "F": result.free_energy, "se": result.free_energy_se,
            "wall_s": time.perf_counter() - started, "sampler_s": run.wall_time,
            "compile_s": run.compile_time, "n_gradient_evals": int(run.n_gradient_evals),
            "n_temperatures": int(run.betas.size), "round_trips": int(run.round_trips),
        }  # fmt: skip


def _select(key: int) -> Iterator[dict]:
    import datasets
    import deconv

    spectrum = datasets.nagata2012(seed=0).spectrum
    started = time.perf_counter()
    selection = deconv.select(
        spectrum, range(1, 6), shapes="gaussian", baselines="none", priors="nagata2012",
        key=key, compute_wbic=False, progress=False,
    )  # fmt: skip
    table = selection.table.sort_values("n_peaks")
    yield {
        "item": "select", "key": key, "wall_s": time.perf_counter() - started,
        "F": [float(f) for f in table["F"]], "argmin": int(selection.table["n_peaks"].iloc[0]),
    }  # fmt: skip


def _batch_map(n_spectra: int) -> Iterator[dict]:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_batch import BASELINE, N_PEAKS, SHAPE, make_series

    from deconv import batch

    spectra, _ = make_series(n_spectra, 400)
    for attempt in ("first (compiles)", "second"):
        started = time.perf_counter()
        result = batch.fit_series(
            spectra, N_PEAKS, shape=SHAPE, baseline=BASELINE, chunk_size=n_spectra,
            progress=False,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        yield {
            "item": "batch_map", "call": attempt, "n_spectra": n_spectra, "wall_s": seconds,
            "spectra_per_s": n_spectra / seconds, "failed": int(result.counts["failed"]),
        }  # fmt: skip


def _keys(text: str) -> list[int]:
    """Keys from "0,1,5" or "0-9"."""
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(key) for key in text.split(",")]


def _run_item(spec: str, sampler: dict) -> Iterator[dict]:
    kind, *fields = spec.split(":")
    if kind == "evidence":
        k, n_independent, keys = fields
        return _evidence(int(k), int(n_independent), _keys(keys), sampler)
    if kind == "select":
        return _select(int(fields[0]))
    if kind == "batch_map":
        return _batch_map(int(fields[0]))
    raise ValueError(f"plan item: unknown kind {kind!r} in {spec!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds; no new item after")
    parser.add_argument("--plan", nargs="+", default=list(DEFAULT_PLAN))
    parser.add_argument("--sampler", type=json.loads, default={}, help="JSON of sampler settings")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.platform == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    began = time.perf_counter()
    import jax
    import numpyro

    import deconv.evidence  # noqa: F401  (turns float64 on)

    with args.out.open("a") as sink:

        def record(row: dict) -> None:
            line = json.dumps({"platform": args.platform, **row})
            sink.write(line + "\n")
            sink.flush()
            print(line, flush=True)

        record({
            "item": "info", "jax": jax.__version__, "numpyro": numpyro.__version__,
            "devices": [str(d) for d in jax.devices()], "x64": bool(jax.config.jax_enable_x64),
        })  # fmt: skip
        for spec in args.plan:
            if time.perf_counter() - began > args.deadline:
                record({"item": "skipped", "spec": spec, "reason": "deadline"})
                continue
            try:
                for row in _run_item(spec, args.sampler):
                    record(row)
            except Exception as error:  # a failed item must not lose the others
                record({"item": "error", "spec": spec, "error": repr(error)})
    print(f"done in {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
