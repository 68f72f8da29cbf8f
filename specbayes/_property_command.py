"""The ``specbayes property`` command: the property log-likelihood of every model of a store.

For each model label in a result folder, the usable per-sample fits (their settings fingerprint
matches the folder's record) become feature draws, and a Gaussian process gives the property
log-likelihood; with stored free energies, F_total too. The property table is keyed by sample
id, or row-aligned with the samples when it has no id column and its length matches.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from deconv import _validation as v
from deconv._files import atomic_write_text
from specbayes._options import choices, parse_peaks

# copies of gp_property's names (importing it loads scikit-learn); a test checks they agree
FEATURES = (
    "area", "height", "centre", "fwhm", "area_ratio", "projection",
    "predictive_spectrum", "noise_free_spectrum",
)  # fmt: skip
CRITERIA = ("joint", "property", "spectrum")
KERNELS = ("rbf", "rational_quadratic")
POLICIES = ("fixed", "per_draw")


def add_property_parser(commands: Any) -> None:
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
        help="CSV table of the property: a sample-id column and the property column, or "
        "rows in the order of the samples (no id column)",
    )
    prop.add_argument("--column", required=True, help="name of the property column")
    prop.add_argument(
        "--id-column",
        default=None,
        help="name of the sample-id column (default: the first column, if it holds the sample "
        "ids; else the rows are taken in the order of the samples when their number matches)",
    )
    prop.add_argument(
        "--features",
        default="area",
        help="comma-separated peak features (area, height, centre, fwhm, area_ratio, "
        "projection) or one whole-spectrum input: predictive_spectrum (the seed paper's) or "
        "noise_free_spectrum (default %(default)s)",
    )
    prop.add_argument(
        "--region",
        nargs=2,
        type=float,
        default=None,
        metavar=("XMIN", "XMAX"),
        help="with a spectrum input: the x region handed to the GP",
    )
    prop.add_argument(
        "--kernel", choices=KERNELS, default="rbf", help="GP kernel (default %(default)s)"
    )
    prop.add_argument(
        "--policy",
        choices=POLICIES,
        default="fixed",
        help="GP hyperparameters fitted once and held fixed (default), or refitted on every "
        "draw as in the seed paper (optimistic)",
    )
    prop.add_argument(
        "--criterion",
        choices=CRITERIA,
        default="joint",
        help="rank by F_total (joint, default), by -log L_prop alone (property: the seed "
        "paper's) or by sum F (spectrum)",
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


def _property_table(path: Path, column: str, id_column: str | None, samples: list[str]) -> Any:
    """The property as a float Series indexed by sample id (str), and how rows were matched.

    ``samples``: the stored sample ids in their order, for a table without an id column.
    """
    import numpy as np
    import pandas as pd

    where = f"--property {path}"
    if not path.is_file():
        v.fail(where, "name an existing CSV file", "no such file")
    table = pd.read_csv(path, dtype=str)
    if column not in table.columns:
        v.fail("--column", f"name a column of {path} ({', '.join(table.columns)})", column)
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values)).tolist()
    if bad:
        v.fail(where, f"hold a finite number in {column} on every row", f"rows {bad[:5]}")
    ids, how = _row_ids(table, path, column, id_column, samples)
    series = pd.Series(values, index=ids, name=column)
    if series.index.duplicated().any():
        duplicates = sorted(set(series.index[series.index.duplicated()]))
        v.fail(where, "hold each sample id once", duplicates[:5])
    return series, how


def _row_ids(table, path: Path, column: str, id_column: str | None, samples: list[str]):
    if id_column is not None:
        if id_column not in table.columns:
            v.fail(
                "--id-column", f"name a column of {path} ({', '.join(table.columns)})", id_column
            )
        return table[id_column].astype(str).str.strip().tolist(), f"ids from {id_column}"
    first = table.columns[0]
    if first != column:
        ids = table[first].astype(str).str.strip().tolist()
        if set(ids) & set(samples):
            return ids, f"ids from {first}"
    if len(table) == len(samples):
        return list(samples), "rows in the order of the samples (no id column)"
    v.fail(
        f"--property {path}",
        f"have a sample-id column (--id-column), or one row per sample ({len(samples)}, in the "
        "order of summary.csv)",
        f"{len(table)} rows, no id column",
    )
    raise AssertionError  # pragma: no cover


def _matched_ids(store: Any, table_ids: list[str]) -> list[str]:
    """The usable ids of a model; every table id must be one, and every usable id in the
    table. Unusable stored results are named with their reasons."""
    ids = store.finished_ids()
    not_fitted = [i for i in table_ids if i not in set(ids)]
    if not_fitted:
        failed = [i for i in not_fitted if i in set(store.failed_ids())]
        unusable = store.unusable()
        notes = [f"failed: {', '.join(failed[:8])}"] if failed else []
        notes += [f"{i}: {unusable[i]}" for i in not_fitted if i in unusable][:3]
        note = f" ({'; '.join(notes)})" if notes else ""
        v.fail(
            "results",
            f"hold a usable fit of every sample of --property under {store.label}{note}; rerun "
            "specbayes batch on the folder to redo them",
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
    total = 0.0
    for sample_id in ids:
        row = store.load_row(sample_id)
        value = row.get("F", row.get("free_energy"))
        if value is None or not math.isfinite(float(value)):
            return math.nan
        total += float(value)
    return total


def command_property(args: argparse.Namespace, out: Path) -> int:
    """Run ``specbayes property``; write ``property.csv`` into ``out``."""
    import pandas as pd
    from tqdm.auto import tqdm

    from deconv.store import ResultStore, store_labels

    labels = store_labels(args.results)
    if not labels:
        v.fail("results", "hold at least one fitted model (summary.csv is empty)", args.results)
    features = choices("--features", args.features, FEATURES)
    peaks = None if args.peaks is None else parse_peaks(args.peaks)
    if args.draws is not None:
        v.check_positive_int("--draws", args.draws)
    stores = {label: ResultStore(args.results, label) for label in labels}
    samples = list(dict.fromkeys(i for store in stores.values() for i in store.finished_ids()))
    prop, how = _property_table(args.table, args.column, args.id_column, samples)
    matched = {label: _matched_ids(store, list(prop.index)) for label, store in stores.items()}

    from gp_property.features import _check_features, feature_draws, is_spectrum_input
    from gp_property.likelihood import POLICIES as POLICY_TEXT
    from gp_property.likelihood import property_log_likelihood
    from gp_property.selector import property_gp, rank_table

    names = _check_features(features)
    region = None if args.region is None else tuple(args.region)
    regressor, settings = property_gp(
        names, region, args.kernel, args.policy, args.criterion, args.seed
    )
    spectra = is_spectrum_input(names)

    rows = []
    for label, store in stores.items():
        ids = matched[label]
        fits = [store.load_fit(i) for i in tqdm(ids, desc=label, disable=not args.progress)]
        try:
            draws = feature_draws(
                fits,
                features=names,
                peaks=peaks,
                region=region,
                n_draws=args.draws,
                sample_ids=ids,
                seed=args.seed,
            )
            result = property_log_likelihood(
                draws,
                prop.loc[ids],
                regressor=regressor,
                policy=args.policy,
                n_pairs=args.draws if spectra else None,
                seed=args.seed,
            )
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
                **settings,
            }
        )
    table = pd.DataFrame(rows)
    criterion = args.criterion
    if criterion != "property" and not table["sum_F"].notna().all():
        print(
            f"no stored free energies: ranked by -log L_prop (criterion property, not {criterion})"
        )
        criterion = "property"
    table = rank_table(table, criterion)
    rank = {"joint": "F_total", "property": "neg_log_L_prop", "spectrum": "sum_F"}[criterion]
    path = atomic_write_text(out / "property.csv", table.to_csv(index=False, lineterminator="\n"))
    print(f"property {args.column} from {args.table}: {how}")
    print(table.to_string(index=False, float_format=lambda f: f"{f:.6g}"))
    print(f"\nranked by {rank} (criterion {criterion}); {POLICY_TEXT[args.policy]}")
    print(f"wrote {path}")
    return 0
