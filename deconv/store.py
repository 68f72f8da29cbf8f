"""A resumable folder of batch results.

Layout of a store folder::

    fits/<sample id>__<model label>.nc   one arviz InferenceData per spectrum and model
    summary.csv                          one row per spectrum and model (done or failed)
    failures.csv                         sample id, model and reason of every failure
    settings.json                        the settings each model label was run with

Every file is written atomically (temporary file, then rename), so a batch killed at any moment
leaves only complete files. A result file is the record of finished work: its summary row is
kept in its attributes, so the tables can always be rebuilt from the result files, and a rerun
skips every spectrum whose result file exists.
"""

from __future__ import annotations

import importlib.util
import json
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from deconv import _validation as v
from deconv._arviz import az
from deconv._files import atomic_write, atomic_write_text

__all__ = ["FAILURES", "SUMMARY", "ResultStore", "result_name", "sanitise"]

SUMMARY = "summary.csv"
FAILURES = "failures.csv"
SETTINGS = "settings.json"
RESULTS = "fits"
ROW_ATTRIBUTE = "specbayes_summary_row"
KEY_COLUMNS = ("sample_id", "model")
FAILURE_COLUMNS = ("sample_id", "model", "reason")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitise(text: str) -> str:
    """``text`` with every run of characters outside ``[A-Za-z0-9._-]`` replaced by ``_``."""
    cleaned = _UNSAFE.sub("_", str(text)).strip("._")
    return cleaned or "_"


def result_name(sample_id: str, label: str) -> str:
    """File name of one result: sanitised id and label; a hash of the id keeps it unique.

    The hash is added only when sanitising changed the id, so that ``"a/b"`` and ``"a_b"``
    never share a file.
    """
    safe = sanitise(sample_id)
    if safe != sample_id:
        safe = f"{safe}-{zlib.crc32(sample_id.encode('utf-8')):08x}"
    return f"{safe}__{sanitise(label)}.nc"


def _netcdf_engine() -> str:
    # netCDF4 writes these small files about five times faster than h5netcdf; both read them.
    return "netcdf4" if importlib.util.find_spec("netCDF4") is not None else "h5netcdf"


# pandas >= 3 parses floats exactly by default (and deprecates the option that did it before)
_EXACT_FLOATS = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def _read_table(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"sample_id": str, "model": str}, **_EXACT_FLOATS)


def _merge(
    existing: pd.DataFrame | None,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    redone: set[tuple[str, str]],
) -> str:
    """Existing rows whose (sample id, model) is not in ``redone``, then ``rows``, as CSV."""
    new = pd.DataFrame(list(rows)) if rows else pd.DataFrame(columns=list(columns))
    if existing is not None and not existing.empty:
        keys = zip(existing["sample_id"].astype(str), existing["model"].astype(str), strict=True)
        kept = existing[[key not in redone for key in keys]]
        if not kept.empty:
            new = pd.concat([kept, new], ignore_index=True) if rows else kept
    return new.to_csv(index=False, lineterminator="\n")


class ResultStore:
    """The results of one model in a folder: write, find, load and tabulate them.

    Parameters
    ----------
    folder : str or os.PathLike
        The store folder (created on first write).
    label : str
        Model label, e.g. ``"K3_pseudo_voigt_linear_normal_map"``; part of every file name.
    """

    def __init__(self, folder: str | Path, label: str) -> None:
        if not isinstance(label, str) or not label:
            v.fail("label", "be a non-empty string", label, error=TypeError)
        self.folder = Path(folder)
        self.label = label
        if self.folder.exists() and not self.folder.is_dir():
            v.fail("out", "be a folder (or not exist yet)", str(self.folder))

    def path(self, sample_id: str) -> Path:
        """Where the result of ``sample_id`` lives."""
        return self.folder / RESULTS / result_name(sample_id, self.label)

    def has(self, sample_id: str) -> bool:
        """Whether a finished result of ``sample_id`` exists."""
        return self.path(sample_id).is_file()

    def check_settings(self, settings: Mapping[str, Any], *, force: bool) -> None:
        """Record ``settings`` for this label; refuse to mix results of different settings.

        Raises
        ------
        ValueError
            The folder holds results of this label run with other settings and ``force`` is
            false.
        """
        path = self.folder / SETTINGS
        recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        wanted = json.loads(json.dumps(dict(settings), sort_keys=True, default=str))
        previous = recorded.get(self.label)
        if previous is not None and previous != wanted and not force:
            changed = sorted(
                k for k in set(previous) | set(wanted) if previous.get(k) != wanted.get(k)
            )
            v.fail(
                "out",
                f"hold results of {self.label} run with the same settings (these differ: "
                f"{', '.join(changed)}); rerun with force=True or choose another folder",
                str(self.folder),
            )
        if previous != wanted:
            recorded[self.label] = wanted
            atomic_write_text(path, json.dumps(recorded, indent=2, sort_keys=True) + "\n")

    def save(self, sample_id: str, idata: az.InferenceData, row: Mapping[str, Any]) -> Path:
        """Write one result atomically, its summary row kept in the posterior's attributes."""
        idata.posterior.attrs[ROW_ATTRIBUTE] = json.dumps(dict(row))
        engine = _netcdf_engine()
        return atomic_write(self.path(sample_id), lambda p: idata.to_netcdf(p, engine=engine))

    def load(self, sample_id: str) -> az.InferenceData:
        """Read one result fully into memory (the file is closed afterwards)."""
        path = self.path(sample_id)
        if not path.is_file():
            v.fail(
                "sample_id", f"have a stored result under {self.label}", sample_id, error=KeyError
            )
        with az.rc_context({"data.load": "eager"}):
            return az.from_netcdf(path)

    def load_row(self, sample_id: str) -> dict[str, Any]:
        """The summary row stored with a result."""
        import xarray as xr

        with xr.open_dataset(self.path(sample_id), group="posterior") as posterior:
            return json.loads(posterior.attrs[ROW_ATTRIBUTE])

    def write_tables(
        self, rows: Sequence[Mapping[str, Any]], failures: Sequence[Mapping[str, Any]]
    ) -> None:
        """Rewrite ``summary.csv`` and ``failures.csv`` atomically.

        Rows of other models, and of spectra not in ``rows``/``failures`` (by sample id and
        model), are kept as they were; this run's rows follow in the order given.
        """
        redone = {(str(r["sample_id"]), str(r["model"])) for r in rows}
        summary = _merge(_read_table(self.folder / SUMMARY), rows, KEY_COLUMNS, redone)
        failed = [{column: f[column] for column in FAILURE_COLUMNS} for f in failures]
        existing = _read_table(self.folder / FAILURES)
        failure_text = _merge(existing, failed, FAILURE_COLUMNS, redone)
        atomic_write_text(self.folder / SUMMARY, summary)
        atomic_write_text(self.folder / FAILURES, failure_text)
