"""The Nagata K = 1-5 selection as a new Python process sees it: compilation included.

Each measurement is a fresh process that imports specbayes and runs one
``deconv.select(nagata2012, 1..5, gaussian, no baseline, priors="nagata2012")``: first without a
compilation cache, then with ``deconv.enable_compilation_cache`` on a directory that an earlier
process filled (a different ``PYTHONHASHSEED`` each time, as in real use), then a second
selection in the same process (everything compiled). Same keys, so the free energies must agree
to the last digit across the three.

Usage::

    .venv/bin/python benchmarks/bench_first_call.py --seeds 3 \\
        --out benchmarks/results/first_call.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(cache: str | None, seed: int) -> dict:
    started = time.perf_counter()
    import deconv

    if cache:
        deconv.enable_compilation_cache(cache)
    import datasets

    spectrum = datasets.nagata2012(seed=0).spectrum
    imported = time.perf_counter() - started
    walls, free_energies = [], []
    for _ in range(2):
        begun = time.perf_counter()
        selection = deconv.select(
            spectrum, range(1, 6), shapes="gaussian", baselines="none", priors="nagata2012",
            key=seed, compute_wbic=False, progress=False,
        )  # fmt: skip
        walls.append(time.perf_counter() - begun)
        table = selection.table.sort_values("n_peaks")
        free_energies.append([float(f) for f in table["F"]])
    return {
        "first_select_s": walls[0],
        "imports_s": imported,
        "second_select_s": walls[1],
        "F": free_energies[0],
        "same_F_second": free_energies[0] == free_energies[1],
        "argmin": int(selection.table["n_peaks"].iloc[0]),
    }


def spawn(cache: str | None, seed: int, hash_seed: int) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    environment["PYTHONHASHSEED"] = str(hash_seed)
    command = [sys.executable, __file__, "--child", "--seed", str(seed)]
    if cache:
        command += ["--cache", cache]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.cache, args.seed)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        spawn(cache, 99, hash_seed=99)  # fills the cache (another key: the programs only)
        for seed in range(args.seeds):
            cold = spawn(None, seed, hash_seed=2 * seed + 1)
            warm = spawn(cache, seed, hash_seed=2 * seed + 2)
            rows.append({"seed": seed, "cold": cold, "warm_cache": warm})
            print(
                f"seed {seed}: first select {cold['first_select_s']:.1f} s without cache, "
                f"{warm['first_select_s']:.1f} s with a filled cache, "
                f"{cold['second_select_s']:.1f} / {warm['second_select_s']:.1f} s compiled; "
                f"F equal: {cold['F'] == warm['F'] and cold['same_F_second']}; "
                f"argmin {cold['argmin']}",
                flush=True,
            )
    print("command: python benchmarks/bench_first_call.py " + " ".join(sys.argv[1:]))
    if args.out:
        payload = {"rows": rows, "command": " ".join(sys.argv)}
        args.out.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
