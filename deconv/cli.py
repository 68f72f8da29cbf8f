"""The ``specbayes`` command line.

``specbayes demo`` fits the bundled IR carbonyl spectrum and writes a figure, a peak table, a
report and the posterior; ``specbayes fit FILE`` does the same for any spectrum file;
``specbayes batch SERIES_OR_FOLDER`` fits every spectrum of a wide series table or of a folder
of spectrum files into a resumable result folder. User mistakes end with a one-line error and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from deconv._files import atomic_write
from deconv.exceptions import ReadError

SHAPES = ("gaussian", "lorentzian", "pseudo_voigt", "voigt")
BASELINES = ("none", "constant", "linear", "quadratic", "cubic")


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--peaks", type=int, default=3, help="number of peaks K (default 3)")
    parser.add_argument(
        "--shape", choices=SHAPES, default="pseudo_voigt", help="line shape (default pseudo_voigt)"
    )
    parser.add_argument(
        "--baseline", choices=BASELINES, default="linear", help="baseline (default linear)"
    )
    parser.add_argument("--noise", choices=("normal", "student_t"), default="normal")
    parser.add_argument(
        "--method",
        choices=("map", "nuts"),
        default="nuts",
        help="multi-start MAP or NUTS posterior (default nuts)",
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
        "--out", type=Path, default=None, help="output folder (default ./specbayes-<name>)"
    )
    parser.add_argument("--progress", action="store_true", help="show sampler progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``specbayes`` command."""
    parser = argparse.ArgumentParser(
        prog="specbayes",
        description="Bayesian spectral deconvolution with property-informed model selection.",
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
    _add_batch_parser(commands)
    return parser


def _add_batch_parser(commands) -> None:
    batch = commands.add_parser(
        "batch",
        help="fit every spectrum of a series table or a folder of spectrum files",
        description="Fit K peaks and a baseline to every spectrum of a wide series table (one "
        "spectrum per row or column) or of a folder of spectrum files, under one model. "
        "Writes one NetCDF per spectrum, summary.csv and failures.csv into --out; a rerun "
        "skips finished spectra. Exit code 0 when every spectrum was fitted, 1 when some "
        "failed (see failures.csv), 2 on usage errors.",
    )
    batch.add_argument("series", type=Path, help="series table file, or folder of spectra")
    batch.add_argument("--peaks", type=int, default=3, help="number of peaks K (default 3)")
    batch.add_argument(
        "--shape", choices=SHAPES, default="pseudo_voigt", help="line shape (default pseudo_voigt)"
    )
    batch.add_argument(
        "--baseline", choices=BASELINES, default="linear", help="baseline (default linear)"
    )
    batch.add_argument("--noise", choices=("normal", "student_t"), default="normal")
    batch.add_argument(
        "--method",
        choices=("map", "nuts"),
        default="map",
        help="vectorised MAP or a NUTS posterior per spectrum (default map)",
    )
    batch.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="known noise standard deviation (default: inferred)",
    )
    batch.add_argument(
        "--starts", type=int, default=None, help="optimiser starts per spectrum (default 2)"
    )
    batch.add_argument("--warmup", type=int, default=500, help="NUTS warm-up steps per chain")
    batch.add_argument("--samples", type=int, default=500, help="NUTS draws per chain")
    batch.add_argument("--chains", type=int, default=4, help="NUTS chains")
    batch.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    batch.add_argument(
        "--out", type=Path, default=None, help="result folder (default ./specbayes-batch-<name>)"
    )
    batch.add_argument("--progress", action="store_true", help="show a progress bar")
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
    from deconv.io import read_spectrum

    spectrum = read_spectrum(args.file)
    if args.xmin is not None or args.xmax is not None:
        lower = args.xmin if args.xmin is not None else spectrum.x[0]
        upper = args.xmax if args.xmax is not None else spectrum.x[-1]
        spectrum = spectrum.crop(lower, upper)
    if args.out is None:
        args.out = Path(f"specbayes-{args.file.stem}")
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
    out = args.out if args.out is not None else Path(f"specbayes-batch-{args.series.stem}")
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
    # read a table before connecting anywhere: a malformed file is a usage error
    series = None if args.series.is_dir() else read_series(args.series)
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


COMMANDS = {"demo": _command_demo, "fit": _command_fit, "batch": _command_batch}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``specbayes`` console command."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, TypeError, KeyError, OSError, ReadError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"specbayes {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
