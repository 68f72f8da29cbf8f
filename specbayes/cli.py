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
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deconv import _validation as v
from deconv._files import atomic_write, atomic_write_text
from specbayes._exit_codes import (
    EXIT_CODES,
    EXIT_USAGE,
    report_failure,
)
from specbayes._options import (
    add_input_options,
    choices,
    crop,
    describe_input,
    parse_peaks,
    parse_precorrect,
    parse_sigma,
    read_one,
    reader_options,
)
from specbayes._property_command import add_property_parser, command_property

# copies of deconv.lineshapes.LINESHAPES and deconv.baselines.BASELINES (both import JAX, which
# would slow ``specbayes --help`` down); tests check that they agree
SHAPES = ("gaussian", "lorentzian", "pseudo_voigt", "voigt")
BASELINES = ("none", "constant", "linear", "quadratic", "cubic", "spline")
NOISES = ("normal", "student_t", "poisson")
# copy of deconv.evidence.MIN_SAMPLES and MIN_WARMUP (the fewest sweeps of a replica-exchange
# run; a test checks that they agree)
MIN_SWEEPS = 10
CANDIDATES = "candidates"  # the result folder inside a select --out that keeps each candidate
SIGMA_HELP = (
    'known noise standard deviation, or "data": per-point uncertainties from --sigma-column '
    "(default: inferred)"
)

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
    demo.add_argument(
        "--sigma", default=None, help="known noise standard deviation (default: inferred)"
    )
    demo.set_defaults(out=Path("specbayes-demo"))
    fit = commands.add_parser(
        "fit",
        help="fit one spectrum file",
        description="Fit K peaks and a baseline to one spectrum (CSV/TXT/TSV, JCAMP-DX, SPC).",
    )
    fit.add_argument("file", type=Path, help="spectrum file")
    _add_fit_options(fit)
    add_input_options(fit, sigma_help=SIGMA_HELP)
    _add_select_parser(commands)
    _add_batch_parser(commands)
    add_property_parser(commands)
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
    add_input_options(batch, sigma_help=SIGMA_HELP)
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
        "report.txt and settings.json into --out, and keeps every candidate in --out/candidates "
        "as it finishes: a rerun after an interruption computes only the others.",
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
    add_input_options(select, sigma_help=SIGMA_HELP)
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
    select.add_argument(
        "--force",
        action="store_true",
        help=f"recompute candidates already kept in OUT/{CANDIDATES}/ (a rerun of the same "
        "command otherwise computes only the candidates that did not finish)",
    )
    select.add_argument(
        "--out", type=Path, default=None, help="output folder (default ./specbayes-select-<name>)"
    )
    select.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="progress bar over candidates (default on)",
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


def write_outputs(result, out: Path, data: str = "") -> dict[str, Path]:
    """Write figure, peak table, report and posterior of a fit into ``out``; ``data`` is a line
    on how the data were read (crop, pre-correction), put first in the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {name: out / name for name in ("fit.png", "peaks.csv", "report.txt", "posterior.nc")}
    axes = result.plot()
    figure = axes[0].figure
    atomic_write(paths["fit.png"], lambda p: figure.savefig(p, dpi=150, format="png"))
    plt.close(figure)
    atomic_write(paths["peaks.csv"], lambda p: result.peak_table.to_csv(p))
    report = (f"data     : {data}\n" if data else "") + result.report() + "\n"
    atomic_write(paths["report.txt"], lambda p: Path(p).write_text(report))
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
        sigma=parse_sigma(args.sigma),
        method=args.method,
        key=args.seed,
        num_warmup=args.warmup,
        num_samples=args.samples,
        num_chains=args.chains,
        progress=args.progress,
    )
    data = describe_input(args) if hasattr(args, "xmin") else ""
    print((f"data     : {data}\n" if data else "") + result.report())
    paths = write_outputs(result, args.out, data)
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
    spectrum = read_one(args.file, args)
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

    options = {"noise": args.noise, "sigma": parse_sigma(args.sigma)}
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
        "crop": crop(args),
        "precorrect": parse_precorrect(args.precorrect),
        **options,
    }
    # read a table before connecting anywhere: a malformed file is a usage error, while a row
    # that makes no spectrum (a NaN cell, a constant row) is that sample's failure
    if args.series.is_dir():
        series, reading = None, reader_options(args, table=False)
    else:
        series, reading = read_series(args.series, invalid="record", **_table_options(args)), None
    executor = _connect(args.scheduler) if args.scheduler else None
    try:
        if series is None:
            result = batch.fit_files(
                args.series, args.peaks, executor=executor, reader_options=reading, **common
            )
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


def _table_options(args: argparse.Namespace) -> dict[str, Any]:
    """Reader keywords of a wide series table (its sigma, if any, comes with the table)."""
    if args.sigma == "data":
        v.fail("--sigma data", "apply to spectrum files with a sigma column", args.series)
    return reader_options(args, table=True)


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
        *([f"data       : {describe_input(args)}"] if describe_input(args) else []),
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
    shapes = choices("--shape", args.shape, SHAPES)
    baselines = choices("--baseline", args.baseline, BASELINES)
    reference = v.check_choice("--reference", args.reference, ("auto", "prior", "laplace"))
    spectrum = read_one(args.file, args)
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
        sigma=parse_sigma(args.sigma),
        key=args.seed,
        n_starts=args.starts,
        compute_wbic=not args.no_wbic,
        sampler=sampler,
        progress=args.progress,
        out=out / CANDIDATES,
        force=args.force,
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
    "property": lambda args: command_property(args, output_folder(args)),
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
        parse_sigma(args.sigma)
    if hasattr(args, "xmin"):
        crop(args)
        parse_precorrect(args.precorrect)
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
        try:
            out = output_folder(args)
        except (AttributeError, TypeError):
            out = None
        return report_failure(error, args.command, out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
