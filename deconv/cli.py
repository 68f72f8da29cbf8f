"""The ``specbayes`` command line.

Commands:

``specbayes demo``
    Fit the bundled IR carbonyl spectrum; write a figure, a peak table, a report and the
    posterior.
``specbayes fit FILE``
    The same for any spectrum file.
``specbayes select FILE --peaks 1-5 --shape gaussian,pseudo_voigt --baseline linear``
    Rank candidate models (peak counts x shapes x baselines) by Bayes free energy; write the
    ranked table, the selection figure, the best fit and its peaks.
``specbayes batch SERIES_OR_FOLDER``
    Fit every spectrum of a wide series table or of a folder of spectrum files into a resumable
    result folder.
``specbayes property RESULTS --property TABLE --column NAME``
    For every model in a batch result folder, the property log-likelihood of a measured
    property given the fitted features (and F_total where free energies are stored).
``specbayes report DIR``
    Summarise any folder written by the commands above in ``report.md`` and ``report.html``.

Exit codes (``EXIT_CODES``):

* 0: done (for ``batch``: every spectrum fitted);
* 1: ``batch`` finished, but some spectra failed (listed in ``failures.csv``);
* 2: a usage mistake (a bad option, value or input file): one line
  ``specbayes COMMAND: error: ...`` naming the option, the rule and the value, before any work
  where the mistake is in the options;
* 3: an internal error: one line ``specbayes: internal error (Type: message); please report
  it``, and the traceback too when ``SPECBAYES_DEBUG=1``;
* 4: the results could not be written (disk full, quota exceeded, read-only file system, no
  permission): one line naming the path where it is known.

No command shows a traceback for a user mistake. Importing this
module is cheap: JAX loads only when a command runs. Compiled programs are kept in
``~/.cache/specbayes/jax`` (``SPECBAYES_CACHE_DIR`` to move it, ``SPECBAYES_COMPILATION_CACHE=0``
to switch it off), so a second run skips most of the compilation.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deconv import _validation as v
from deconv._files import atomic_write, atomic_write_text
from deconv.exceptions import ReadError

# copies of deconv.lineshapes.LINESHAPES and deconv.baselines.BASELINES (both import JAX, which
# would slow ``specbayes --help`` down); tests check that they agree
SHAPES = ("gaussian", "lorentzian", "pseudo_voigt", "voigt")
BASELINES = ("none", "constant", "linear", "quadratic", "cubic")
NOISES = ("normal", "student_t")
PEAKS_RULE = 'be a peak count "3", a range "1-5" or a list "1,2,4" of positive integers'
# copy of deconv.evidence.MIN_SAMPLES and MIN_WARMUP (the fewest sweeps of a replica-exchange
# run; a test checks that they agree)
MIN_SWEEPS = 10

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_WRITE = 0, 1, 2, 3, 4
EXIT_CODES = {
    EXIT_OK: "done (batch: every spectrum fitted)",
    EXIT_FAILED: "batch: some spectra failed (see failures.csv)",
    EXIT_USAGE: "usage mistake: a bad option, value or input file (one line, no traceback)",
    EXIT_INTERNAL: "internal error (one line; SPECBAYES_DEBUG=1 adds the traceback); please "
    "report it",
    EXIT_WRITE: "could not write results (disk full, quota, read-only file system, permission)",
}
DEBUG_VARIABLE = "SPECBAYES_DEBUG"
INTERNAL_MESSAGE_LIMIT = 300  # characters of an internal error's message on its one line


METHOD_HELP = {
    "map": "multi-start MAP",
    "nuts": "NUTS posterior",
    "evidence": "free energy by replica exchange (warm-started along the series)",
}


def _add_fit_options(
    parser: argparse.ArgumentParser,
    *,
    out_default: str = "./specbayes-<name>",
    methods: tuple[str, ...] = ("map", "nuts"),
) -> None:
    """Add the options shared by ``demo``, ``fit`` and ``batch`` to ``parser``.

    Override a default with ``parser.set_defaults``; the help texts show the new default.
    """
    parser.add_argument(
        "--peaks", type=int, default=3, help="number of peaks K (default %(default)s)"
    )
    parser.add_argument(
        "--shape", choices=SHAPES, default="pseudo_voigt", help="line shape (default %(default)s)"
    )
    parser.add_argument(
        "--baseline", choices=BASELINES, default="linear", help="baseline (default %(default)s)"
    )
    parser.add_argument("--noise", choices=NOISES, default="normal")
    parser.add_argument(
        "--method",
        choices=methods,
        default="nuts",
        help=" or ".join(METHOD_HELP[m] for m in methods) + " (default %(default)s)",
    )
    parser.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="known noise standard deviation (default: inferred)",
    )
    parser.add_argument("--warmup", type=int, default=500, help="NUTS warm-up steps per chain")
    parser.add_argument("--samples", type=int, default=500, help="NUTS draws per chain")
    parser.add_argument("--chains", type=int, default=4, help="NUTS chains")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--out", type=Path, default=None, help=f"output folder (default {out_default})"
    )
    parser.add_argument("--progress", action="store_true", help="show progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``specbayes`` command."""
    parser = argparse.ArgumentParser(
        prog="specbayes",
        description="Bayesian spectral deconvolution with property-informed model selection.",
        epilog="exit codes:\n"
        + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="fit the bundled IR carbonyl spectrum (figure, peak table, report)",
        description="Fit the bundled synthetic IR carbonyl band (three pseudo-Voigt peaks on a "
        "linear baseline) and write fit.png, peaks.csv, report.txt and posterior.nc.",
    )
    _add_fit_options(demo)
    demo.set_defaults(out=Path("specbayes-demo"))
    fit = commands.add_parser(
        "fit",
        help="fit one spectrum file",
        description="Fit K peaks and a baseline to one spectrum (CSV/TXT/TSV, JCAMP-DX, SPC).",
    )
    fit.add_argument("file", type=Path, help="spectrum file")
    fit.add_argument("--xmin", type=float, default=None, help="crop: lowest x kept")
    fit.add_argument("--xmax", type=float, default=None, help="crop: highest x kept")
    _add_fit_options(fit)
    _add_select_parser(commands)
    _add_batch_parser(commands)
    _add_property_parser(commands)
    _add_report_parser(commands)
    return parser


def _add_batch_parser(commands: Any) -> None:
    batch = commands.add_parser(
        "batch",
        help="fit every spectrum of a series table or a folder of spectrum files",
        description="Fit K peaks and a baseline to every spectrum of a wide series table (one "
        "spectrum per row or column) or of a folder of spectrum files, under one model. "
        "Writes one NetCDF per spectrum, summary.csv and failures.csv into --out; a rerun "
        "skips finished spectra. Exit code 0 when every spectrum was fitted, 1 when some "
        "failed (see failures.csv), 2 on usage errors, 3 on internal errors, 4 when the "
        "results could not be written.",
    )
    batch.add_argument("series", type=Path, help="series table file, or folder of spectra")
    _add_fit_options(
        batch, out_default="./specbayes-batch-<name>", methods=("map", "nuts", "evidence")
    )
    batch.set_defaults(method="map")
    batch.add_argument(
        "--no-warm-start",
        dest="warm_start",
        action="store_false",
        help="with --method evidence: start every spectrum's sampler cold (--warmup and "
        "--samples then count replica-exchange sweeps)",
    )
    batch.add_argument(
        "--starts",
        type=int,
        default=None,
        help="optimiser starts per spectrum (default 2 for map, 24 for nuts, 384 for evidence)",
    )
    batch.add_argument(
        "--chunk-size", type=int, default=64, help="spectra per vectorised chunk (default 64)"
    )
    batch.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address (e.g. tcp://host:8786): run the chunks on that cluster",
    )
    batch.add_argument(
        "--force", action="store_true", help="recompute spectra already in the output folder"
    )


def _add_select_parser(commands: Any) -> None:
    select = commands.add_parser(
        "select",
        help="rank candidate models of one spectrum by Bayes free energy",
        description="Compute the Bayes free energy F = -log p(y | M) of every candidate "
        "(peak counts x line shapes x baselines) by replica exchange and rank them. Writes "
        "selection.csv (the ranked table), selection.png, best_fit.png, best_peaks.csv, "
        "report.txt and settings.json into --out.",
    )
    select.add_argument("file", type=Path, help="spectrum file")
    select.add_argument(
        "--peaks",
        default="1-5",
        help='peak counts to compare: "1-5", "3" or "1,2,4" (default %(default)s)',
    )
    select.add_argument(
        "--shape",
        default="pseudo_voigt",
        help=f"comma-separated line shapes among {', '.join(SHAPES)} (default %(default)s)",
    )
    select.add_argument(
        "--baseline",
        default="linear",
        help=f"comma-separated baselines among {', '.join(BASELINES)} (default %(default)s)",
    )
    select.add_argument("--noise", choices=NOISES, default="normal")
    select.add_argument("--sigma", type=float, default=None, help="known noise standard deviation")
    select.add_argument(
        "--priors",
        default="default",
        help='"default" (scaled from the data) or a preset name such as nagata2012',
    )
    select.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    select.add_argument(
        "--starts",
        type=int,
        default=384,
        help="multi-start MAP starts (default %(default)s)",
    )
    select.add_argument(
        "--samples",
        type=int,
        default=4000,
        help="replica-exchange sampling sweeps (default %(default)s)",
    )
    select.add_argument(
        "--warmup", type=int, default=500, help="replica-exchange warm-up sweeps (default 500)"
    )
    select.add_argument(
        "--independent",
        type=int,
        default=4,
        help="independent replica-exchange runs, for the standard error (default 4)",
    )
    select.add_argument(
        "--temperatures", type=int, default=None, help="temperatures (default: chosen)"
    )
    select.add_argument(
        "--reference",
        default="auto",
        help="start of the tempering ladder: prior, laplace (a mixture at the MAP optima) or "
        "auto (the mixture only where the prior path is too long; default)",
    )
    select.add_argument("--no-wbic", action="store_true", help="skip the WBIC screen")
    select.add_argument("--xmin", type=float, default=None, help="crop: lowest x kept")
    select.add_argument("--xmax", type=float, default=None, help="crop: highest x kept")
    select.add_argument(
        "--out", type=Path, default=None, help="output folder (default ./specbayes-select-<name>)"
    )
    select.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="progress bar over candidates (default on)",
    )


def _add_property_parser(commands: Any) -> None:
    prop = commands.add_parser(
        "property",
        help="property log-likelihood of every model in a batch result folder",
        description="For every model label in a result folder written by specbayes batch, "
        "load the per-sample fits, build feature draws (e.g. peak areas) and compute the "
        "property log-likelihood log L_prop of a measured property with a Gaussian process. "
        "Writes property.csv (per model: -log L_prop, its standard error, and sum F and "
        "F_total = sum F - log L_prop where the folder holds free energies).",
    )
    prop.add_argument("results", type=Path, help="result folder written by specbayes batch")
    prop.add_argument(
        "--property",
        dest="table",
        type=Path,
        required=True,
        metavar="TABLE",
        help="CSV table with a sample-id column and the property column",
    )
    prop.add_argument("--column", required=True, help="name of the property column")
    prop.add_argument(
        "--id-column", default=None, help="name of the sample-id column (default: the first)"
    )
    prop.add_argument(
        "--features",
        default="area",
        help="comma-separated features: area, height, centre, fwhm, area_ratio, projection "
        "(default %(default)s)",
    )
    prop.add_argument(
        "--peaks", default=None, help='1-based peaks, e.g. "1,2" or "2-3" (default all)'
    )
    prop.add_argument("--draws", type=int, default=None, help="use at most this many paired draws")
    prop.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    prop.add_argument(
        "--out", type=Path, default=None, help="output folder (default: the result folder)"
    )
    prop.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="progress bar while loading fits (default on)",
    )


def _add_report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="summarise a result folder in report.md and report.html",
        description="Write report.md and report.html into a folder written by specbayes fit, "
        "select, batch or property: summary tables, figures, failures and settings. For a "
        "batch folder, also draw peak centres and areas against the sample index into "
        "report_figures/.",
    )
    report.add_argument("folder", type=Path, help="result folder")


def write_outputs(result, out: Path) -> dict[str, Path]:
    """Write figure, peak table, report and posterior of a fit into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {name: out / name for name in ("fit.png", "peaks.csv", "report.txt", "posterior.nc")}
    axes = result.plot()
    figure = axes[0].figure
    atomic_write(paths["fit.png"], lambda p: figure.savefig(p, dpi=150, format="png"))
    plt.close(figure)
    atomic_write(paths["peaks.csv"], lambda p: result.peak_table.to_csv(p))
    atomic_write(paths["report.txt"], lambda p: Path(p).write_text(result.report() + "\n"))
    atomic_write(paths["posterior.nc"], lambda p: result.idata.to_netcdf(p))
    return paths


def _run_fit(spectrum, args: argparse.Namespace) -> int:
    import deconv

    result = deconv.fit(
        spectrum,
        args.peaks,
        shape=args.shape,
        baseline=args.baseline,
        noise=args.noise,
        sigma=args.sigma,
        method=args.method,
        key=args.seed,
        num_warmup=args.warmup,
        num_samples=args.samples,
        num_chains=args.chains,
        progress=args.progress,
    )
    print(result.report())
    paths = write_outputs(result, args.out)
    print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _command_demo(args: argparse.Namespace) -> int:
    import datasets

    print(
        "specbayes demo: the bundled IR carbonyl band (ground truth: 3 pseudo-Voigt peaks at "
        "1718, 1757 and 1784 cm^-1 on a linear baseline)\n",
        flush=True,
    )
    return _run_fit(datasets.load("ir_carbonyl_demo"), args)


def _command_fit(args: argparse.Namespace) -> int:
    spectrum = _read_cropped(args.file, args.xmin, args.xmax)
    args.out = output_folder(args)
    return _run_fit(spectrum, args)


def _connect(address: str):
    """A Dask ``distributed.Client`` connected to ``address``."""
    try:
        from distributed import Client
    except ImportError as error:
        raise ValueError(
            "--scheduler needs the 'distributed' package (pip install 'specbayes[dask]')"
        ) from error
    return Client(address, timeout="10s")


def _command_batch(args: argparse.Namespace) -> int:
    from deconv import batch
    from deconv.io import read_series

    options = {"noise": args.noise, "sigma": args.sigma}
    if args.starts is not None:
        options["n_starts"] = args.starts
    if args.method == "nuts":
        options.update(num_warmup=args.warmup, num_samples=args.samples, num_chains=args.chains)
    if args.method == "evidence":
        # replica-exchange sweeps: --warmup (cold starts; warm ones use 100) and --samples
        options["warm_start"] = args.warm_start
        options["sampler"] = {"n_warmup": args.warmup, "n_samples": args.samples}
    out = output_folder(args)
    common = {
        "shape": args.shape,
        "baseline": args.baseline,
        "method": args.method,
        "key": args.seed,
        "chunk_size": args.chunk_size,
        "out": out,
        "force": args.force,
        "progress": args.progress,
        **options,
    }
    # read a table before connecting anywhere: a malformed file is a usage error, while a row
    # that makes no spectrum (a NaN cell, a constant row) is that sample's failure
    series = None if args.series.is_dir() else read_series(args.series, invalid="record")
    executor = _connect(args.scheduler) if args.scheduler else None
    try:
        if series is None:
            result = batch.fit_files(args.series, args.peaks, executor=executor, **common)
        else:
            result = batch.fit_series(series, args.peaks, executor=executor, **common)
    finally:
        if executor is not None:
            executor.close()
    for row in result.failures.itertuples(index=False):
        print(f"failed: {row.sample_id}: {row.reason}")
    print(result.message)
    print(f"wrote {out / 'summary.csv'}, {out / 'failures.csv'} and {out / 'fits'}/")
    return 1 if result.counts["failed"] else 0


# ---------------------------------------------------------------------------------------------
# select


def parse_peaks(text: str, name: str = "--peaks") -> list[int]:
    """Peak counts from ``"3"``, ``"1-5"``, ``"1,2,4"`` or a mix (``"1-3,5"``), sorted.

    Raises
    ------
    ValueError
        Anything else (names ``name``, the rule and the value).
    """
    counts: set[int] = set()
    try:
        for item in str(text).split(","):
            low, dash, high = item.strip().partition("-")
            first, last = int(low), int(high) if dash else int(low)
            if first < 1 or last < first:
                raise ValueError
            counts.update(range(first, last + 1))
    except ValueError:
        v.fail(name, PEAKS_RULE, text)
    return sorted(counts)


def _choices(name: str, text: str, allowed: Sequence[str]) -> list[str]:
    chosen = [item.strip() for item in str(text).split(",") if item.strip()]
    if not chosen:
        v.fail(name, f"name at least one of {', '.join(allowed)}", text)
    for item in chosen:
        if item not in allowed:
            v.fail(name, f"name only choices among {', '.join(allowed)}", item)
    return list(dict.fromkeys(chosen))


def _read_cropped(path: Path, xmin: float | None, xmax: float | None):
    from deconv.io import read_spectrum

    spectrum = read_spectrum(path)
    if xmin is not None or xmax is not None:
        lower = xmin if xmin is not None else spectrum.x[0]
        upper = xmax if xmax is not None else spectrum.x[-1]
        spectrum = spectrum.crop(lower, upper)
    return spectrum


def _save_figure(axes: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    figure = np.ravel(np.asarray(axes, dtype=object))[0].figure
    atomic_write(path, lambda p: figure.savefig(p, dpi=150, format="png"))
    plt.close(figure)
    return path


def _settings_json(args: argparse.Namespace, command: str) -> str:
    import json

    record = {key: value for key, value in vars(args).items() if key != "command"}
    return json.dumps({command: record}, indent=2, sort_keys=True, default=str) + "\n"


def _selection_report(selection: Any, spectrum: Any, args: argparse.Namespace) -> str:
    table, best = selection.table, selection.table.iloc[0]
    lines = [
        f"specbayes select on {args.file} ({spectrum.n_points} points)",
        f"candidates : K in {args.peaks}, shapes {args.shape}, baselines {args.baseline}, "
        f"noise {args.noise}",
        f"sampler    : replica exchange, {args.warmup} warm-up + {args.samples} sweeps, "
        f"{args.independent} independent runs, seed {args.seed}",
        "",
        table.to_string(index=False, float_format=lambda f: f"{f:.6g}"),
        "",
        f"chosen model: {best['model']} (F = {best['F']:.3f} +- {best['F_se']:.3f} nats, "
        f"probability {best['probability']:.3g})",
        "",
        selection.best_fit.report(),
    ]
    return "\n".join(lines) + "\n"


def _command_select(args: argparse.Namespace) -> int:
    peaks = parse_peaks(args.peaks)
    shapes = _choices("--shape", args.shape, SHAPES)
    baselines = _choices("--baseline", args.baseline, BASELINES)
    reference = v.check_choice("--reference", args.reference, ("auto", "prior", "laplace"))
    spectrum = _read_cropped(args.file, args.xmin, args.xmax)
    out = output_folder(args)
    import matplotlib

    matplotlib.use("Agg")
    import deconv

    sampler = {
        "n_samples": args.samples,
        "n_warmup": args.warmup,
        "n_independent": args.independent,
        "reference": reference,
    }
    if args.temperatures is not None:
        sampler["n_temperatures"] = args.temperatures
    selection = deconv.select(
        spectrum,
        n_peaks=peaks,
        shapes=shapes,
        baselines=baselines,
        noise=args.noise,
        priors=None if args.priors == "default" else args.priors,
        sigma=args.sigma,
        key=args.seed,
        n_starts=args.starts,
        compute_wbic=not args.no_wbic,
        sampler=sampler,
        progress=args.progress,
    )
    table, best = selection.table, selection.table.iloc[0]
    paths = {name: out / name for name in ("selection.csv", "best_peaks.csv", "report.txt")}
    atomic_write_text(paths["selection.csv"], table.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(paths["best_peaks.csv"], selection.best_fit.peak_table.to_csv())
    report = _selection_report(selection, spectrum, args)
    atomic_write_text(paths["report.txt"], report)
    paths["selection.png"] = _save_figure(selection.plot(), out / "selection.png")
    paths["best_fit.png"] = _save_figure(selection.best_fit.plot(), out / "best_fit.png")
    paths["settings.json"] = atomic_write_text(
        out / "settings.json", _settings_json(args, "select")
    )
    columns = [c for c in ("model", "F", "F_se", "delta_F", "probability", "WBIC") if c in table]
    print(table[columns].to_string(index=False, float_format=lambda f: f"{f:.4g}"))
    print(
        f"\nchosen model: {best['model']} (F = {best['F']:.3f} +- {best['F_se']:.3f} nats, "
        f"probability {best['probability']:.3g})"
    )
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


# ---------------------------------------------------------------------------------------------
# property


def _property_table(path: Path, column: str, id_column: str | None) -> Any:
    """The property as a float Series indexed by sample id (str)."""
    import numpy as np
    import pandas as pd

    if not path.is_file():
        v.fail("--property", "name an existing CSV file", str(path))
    table = pd.read_csv(path, dtype=str)
    if table.shape[1] < 2:
        v.fail("--property", "hold a sample-id column and a property column", str(path))
    ids = id_column if id_column is not None else table.columns[0]
    for name, wanted in (("--id-column", ids), ("--column", column)):
        if wanted not in table.columns:
            v.fail(name, f"name a column of {path.name} ({', '.join(table.columns)})", wanted)
    values = pd.to_numeric(table[column], errors="coerce")
    bad = table[ids][~np.isfinite(values.to_numpy(dtype=float))].tolist()
    if bad:
        v.fail("--column", f"hold a finite number for every sample ({column})", bad[:5])
    series = pd.Series(values.to_numpy(dtype=float), index=table[ids].str.strip(), name=column)
    if series.index.duplicated().any():
        duplicates = sorted(set(series.index[series.index.duplicated()]))
        v.fail("--property", f"hold each sample id once in {ids}", duplicates[:5])
    return series


def _matched_ids(store: Any, table_ids: list[str]) -> list[str]:
    """The finished ids of a model; every table id must be one, and every finished id in the
    table."""
    ids = store.finished_ids()
    not_fitted = [i for i in table_ids if i not in set(ids)]
    if not_fitted:
        failed = [i for i in not_fitted if i in set(store.failed_ids())]
        note = f" (failed: {', '.join(failed[:8])})" if failed else ""
        v.fail(
            "results",
            f"hold a finished fit of every sample of --property under {store.label}{note}",
            f"missing {not_fitted[:8]}",
        )
    missing = [i for i in ids if i not in set(table_ids)]
    if missing:
        v.fail(
            "--property",
            f"have a value for every sample fitted under {store.label}",
            f"missing {missing[:8]}",
        )
    return ids


def _free_energy_sum(store: Any, ids: list[str]) -> float:
    """Sum of the stored free energies of ``ids`` (NaN when the folder holds none)."""
    import math

    total = 0.0
    for sample_id in ids:
        row = store.load_row(sample_id)
        value = row.get("F", row.get("free_energy"))
        if value is None or not math.isfinite(float(value)):
            return math.nan
        total += float(value)
    return total


def _command_property(args: argparse.Namespace) -> int:
    import math

    import pandas as pd
    from tqdm.auto import tqdm

    from deconv.store import ResultStore, store_labels

    labels = store_labels(args.results)
    if not labels:
        v.fail("results", "hold at least one fitted model (summary.csv is empty)", args.results)
    features = _choices(
        "--features",
        args.features,
        ("area", "height", "centre", "fwhm", "area_ratio", "projection"),
    )
    peaks = None if args.peaks is None else parse_peaks(args.peaks)
    if args.draws is not None:
        v.check_positive_int("--draws", args.draws)
    prop = _property_table(args.table, args.column, args.id_column)
    stores = {label: ResultStore(args.results, label) for label in labels}
    matched = {label: _matched_ids(store, list(prop.index)) for label, store in stores.items()}

    from gp_property.features import feature_draws
    from gp_property.likelihood import property_log_likelihood

    rows = []
    for label, store in stores.items():
        ids = matched[label]
        fits = [store.load_fit(i) for i in tqdm(ids, desc=label, disable=not args.progress)]
        try:
            draws = feature_draws(
                fits, features=features, peaks=peaks, n_draws=args.draws, sample_ids=ids
            )
            result = property_log_likelihood(draws, prop.loc[ids], seed=args.seed)
        except (ValueError, TypeError) as error:
            raise ValueError(f"model {label}: {error}") from error
        sum_f = _free_energy_sum(store, ids)
        rows.append(
            {
                "model": label,
                "n_samples": len(ids),
                "n_draws": result.n_draws,
                "features": " ".join(draws.names),
                "neg_log_L_prop": -result.log_likelihood,
                "neg_log_L_prop_se": result.se,
                "sum_F": sum_f,
                "F_total": sum_f - result.log_likelihood if math.isfinite(sum_f) else math.nan,
            }
        )
    table = pd.DataFrame(rows)
    rank = "F_total" if table["F_total"].notna().all() else "neg_log_L_prop"
    table = table.sort_values(rank, kind="stable").reset_index(drop=True)
    out = output_folder(args)
    path = atomic_write_text(out / "property.csv", table.to_csv(index=False, lineterminator="\n"))
    print(table.to_string(index=False, float_format=lambda f: f"{f:.6g}"))
    print(f"\nranked by {rank}; wrote {path}")
    return 0


# ---------------------------------------------------------------------------------------------
# report


def _command_report(args: argparse.Namespace) -> int:
    from deconv.report import write_report

    paths = write_report(args.folder)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


COMMANDS = {
    "demo": _command_demo,
    "fit": _command_fit,
    "select": _command_select,
    "batch": _command_batch,
    "property": _command_property,
    "report": _command_report,
}


def _compilation_cache() -> None:
    """Keep compiled programs between runs (see ``deconv.enable_compilation_cache``), unless
    ``SPECBAYES_COMPILATION_CACHE`` is 0, false or no; an unwritable cache is only reported."""
    if os.environ.get("SPECBAYES_COMPILATION_CACHE", "1").strip().lower() in ("0", "false", "no"):
        return
    from deconv._jax import enable_compilation_cache

    try:
        enable_compilation_cache()
    except OSError as error:
        print(f"specbayes: compiling without a disk cache ({error})", file=sys.stderr)


def output_folder(args: argparse.Namespace) -> Path:
    """The folder a command writes into: ``--out``, or the command's default."""
    if args.command == "report":
        return args.folder
    if getattr(args, "out", None) is not None:
        return args.out
    if args.command == "property":
        return args.results
    if args.command == "batch":
        return Path(f"specbayes-batch-{args.series.stem}")
    if args.command == "select":
        return Path(f"specbayes-select-{args.file.stem}")
    return Path(f"specbayes-{args.file.stem}")


def check_options(args: argparse.Namespace) -> None:
    """Check the numeric options of a command before any work (read, fit or write).

    Raises
    ------
    ValueError, TypeError
        Naming the option, the rule and the value (the command then exits with code 2).
    """
    command = args.command
    if command in ("demo", "fit", "batch", "select"):
        v.check_key("--seed", args.seed)
    if command == "property":
        v.check_seed("--seed", args.seed)  # it seeds the GP's optimiser (NumPy: < 2**32)
    if getattr(args, "sigma", None) is not None:
        v.check_positive_float("--sigma", args.sigma)
    for name in ("xmin", "xmax"):
        value = getattr(args, name, None)
        if value is not None and not math.isfinite(value):
            v.fail(f"--{name}", "be a finite number", value)
    counts: dict[str, tuple[Any, int]] = {}
    if command in ("demo", "fit", "batch"):
        sweeps = MIN_SWEEPS if args.method == "evidence" else 1  # sweeps, or NUTS steps
        counts.update(
            peaks=(args.peaks, 1),
            warmup=(args.warmup, sweeps),
            samples=(args.samples, sweeps),
            chains=(args.chains, 1),
        )
    if command == "batch":
        counts.update(starts=(args.starts, 1), chunk_size=(args.chunk_size, 1))
    if command == "select":
        counts.update(
            starts=(args.starts, 1),
            samples=(args.samples, MIN_SWEEPS),
            warmup=(args.warmup, MIN_SWEEPS),
            independent=(args.independent, 1),
            temperatures=(args.temperatures, 2),
        )
    if command == "property":
        counts["draws"] = (args.draws, 1)
    for name, (value, minimum) in counts.items():
        if value is not None:
            v.check_positive_int("--" + name.replace("_", "-"), value, minimum=minimum)


# errno values that only a write can cause, and those a write or a read can
_WRITE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EROFS", "EFBIG") if hasattr(errno, name)
)
_PERMISSION_ERRNOS = frozenset((errno.EACCES, errno.EPERM))
_NO_SPACE = re.compile(
    r"no space left|disk quota exceeded|read-only file system|errno\s*=\s*(\d+)", re.IGNORECASE
)


def _errno_of(error: BaseException) -> int | None:
    """The errno of an OSError, or one that an HDF5 / netCDF message reports."""
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno
    match = _NO_SPACE.search(str(error))
    if match is None:
        return None
    if match.group(1) is not None:
        return int(match.group(1))
    return errno.ENOSPC if "space" in match.group(0).lower() else errno.EROFS


def _inside(path: str | os.PathLike, folder: Path) -> bool:
    try:
        return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))
    except (TypeError, ValueError):
        return False


def _write_failure_of(
    error: OSError | RuntimeError, out: Path | None
) -> tuple[str | None, str] | None:
    """:func:`_write_failure` of one exception, not those it was raised from."""
    number = _errno_of(error)
    path = getattr(error, "filename", None)
    path = None if path is None else os.fsdecode(path)
    reason = getattr(error, "strerror", None) or (
        os.strerror(number) if number is not None else str(error)
    )
    if number in _WRITE_ERRNOS:
        return path, reason
    if number in _PERMISSION_ERRNOS:
        unreadable_input = (
            path is not None and os.path.exists(path) and not os.access(path, os.R_OK)
        )
        if not unreadable_input and (path is None or (out is not None and _inside(path, out))):
            return path, reason
    return None


def _write_failure(error: BaseException, out: Path | None) -> tuple[str | None, str] | None:
    """``(path or None, reason)`` when ``error`` (or an error it was raised from) means the
    results could not be written; None otherwise.

    Disk full, quota exceeded, file too large and read-only file system are write failures
    wherever they arise; a permission error is one when it concerns the output folder (or an
    unknown file) and not an existing file that cannot be read (an input).
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        written = (
            _write_failure_of(error, out) if isinstance(error, OSError | RuntimeError) else None
        )
        if written is not None:
            return written
        error = error.__cause__ or error.__context__
    return None


def _report(error: Exception, args: argparse.Namespace) -> int:
    """Print the one line for ``error`` and return the exit code (see ``EXIT_CODES``)."""
    try:
        out = output_folder(args)
    except (AttributeError, TypeError):
        out = None
    written = _write_failure(error, out)
    if written is not None:
        path, reason = written
        reason = " ".join(str(reason).split())  # the HDF5 library's messages span lines
        where = f" to {path}" if path else ("" if out is None else f" under {out}")
        print(
            f"specbayes {args.command}: error: could not write results{where}: {reason}",
            file=sys.stderr,
        )
        return EXIT_WRITE
    if isinstance(error, ValueError | TypeError | KeyError | OSError | ReadError):
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"specbayes {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    message = " ".join(str(error).split())  # one line, however long the original
    if len(message) > INTERNAL_MESSAGE_LIMIT:
        message = message[: INTERNAL_MESSAGE_LIMIT - 3] + "..."
    print(
        f"specbayes: internal error ({type(error).__name__}: {message}); please report it",
        file=sys.stderr,
    )
    if os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes"):
        traceback.print_exception(error, file=sys.stderr)
    return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``specbayes`` console command; returns its exit code.

    0: done; 1: some spectra of a batch failed; 2: a usage mistake (one line naming the option,
    the rule and the value); 3: an internal error (one line; the traceback as well with
    ``SPECBAYES_DEBUG=1``); 4: the results could not be written (one line naming the path).
    """
    args = build_parser().parse_args(argv)
    try:
        check_options(args)
    except (ValueError, TypeError) as error:
        print(f"specbayes {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    _compilation_cache()
    try:
        return COMMANDS[args.command](args)
    except Exception as error:  # every failure ends in one line and an exit code
        return _report(error, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
