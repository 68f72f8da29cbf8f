"""A resumable folder of batch results.

Layout of a store folder::

    fits/<sample id>__<model label>.nc   one arviz InferenceData per spectrum and model
    summary.csv                          one row per spectrum and model (done or failed)
    failures.csv                         sample id, model and reason of every failure
    settings.json                        the settings each model label was run with

Guarantees (see the user guide, "The result store"):

- Every file is written atomically and durably (temporary file, ``fsync``, rename, ``fsync`` of
  the folder), so a batch killed at any moment, or a power cut, leaves only complete files.
  Temporary files a killed run left behind are removed by the next run.
- A result file is the record of finished work: its summary row is kept in its attributes,
  with two fingerprints: ``settings_sha256`` (of everything that defines the model and the fit,
  the seed included) and ``data_sha256`` (of the spectrum's x, y and sigma). A rerun skips a
  spectrum only when its stored result is readable and both fingerprints equal those of the
  current request; anything else (a missing, truncated or unreadable file, other settings,
  edited data, a file without fingerprints) is recomputed, and the reason is reported.
- A spectrum whose refit fails loses its old result: the folder never shows a result that the
  latest settings did not produce.
- Readers (:meth:`ResultStore.finished_ids`, ``specbayes property``) use only results whose
  settings fingerprint matches the settings recorded for their model.
- One writer at a time: a run holds an exclusive lock on the folder (``.specbayes.lock``) and
  a second run on the same folder, whatever its settings, is refused at once with a message
  naming the holder (its pid, model and whether its settings are the same). The operating
  system releases the lock when the holder exits, killed or not.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from deconv import _validation as v
from deconv._arviz import az
from deconv._files import (
    FolderBusy,
    atomic_write,
    atomic_write_text,
    exclusive_lock,
    remove,
    stray_temporaries,
)

__all__ = [
    "FAILURES",
    "SUMMARY",
    "ResultStore",
    "data_fingerprint",
    "folder_lock",
    "is_store",
    "parse_label",
    "result_name",
    "sanitise",
    "settings_fingerprint",
    "store_labels",
]

SUMMARY = "summary.csv"
FAILURES = "failures.csv"
SETTINGS = "settings.json"
RESULTS = "fits"
LOCK = ".specbayes.lock"
SETTINGS_FINGERPRINT = "settings_sha256"
DATA_FINGERPRINT = "data_sha256"
MAX_NAME_BYTES = 200  # result file names stay well below the usual 255-byte limit
ROW_ATTRIBUTE = "specbayes_summary_row"
METADATA_ATTRIBUTE = "specbayes_spectrum_metadata"
KEY_COLUMNS = ("sample_id", "model")
FAILURE_COLUMNS = ("sample_id", "model", "reason")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NOISES = ("student_t", "normal", "poisson")  # longest first: labels are matched from the end
_METHODS = ("map", "nuts", "evidence")


def sanitise(text: str) -> str:
    """``text`` with every run of characters outside ``[A-Za-z0-9._-]`` replaced by ``_``."""
    cleaned = _UNSAFE.sub("_", str(text)).strip("._")
    return cleaned or "_"


def result_name(sample_id: str, label: str) -> str:
    """File name of one result: sanitised id and label; a hash of the id keeps it unique.

    The hash is added only when sanitising changed the id, so that ``"a/b"`` and ``"a_b"``
    never share a file. An id too long for a file name is cut and ends in a SHA-256 prefix of
    the whole id, so every name stays under :data:`MAX_NAME_BYTES` bytes.
    """
    safe, suffix = sanitise(sample_id), f"__{sanitise(label)}.nc"
    if safe != sample_id:
        safe = f"{safe}-{zlib.crc32(sample_id.encode('utf-8')):08x}"
    if len(safe) + len(suffix) > MAX_NAME_BYTES:
        digest = hashlib.sha256(sample_id.encode("utf-8")).hexdigest()[:16]
        keep = max(MAX_NAME_BYTES - len(suffix) - len(digest) - 1, 8)
        safe = f"{safe[:keep]}-{digest}"
    return f"{safe}{suffix}"


def _canonical(settings: Mapping[str, Any]) -> Any:
    """``settings`` as the JSON that ``settings.json`` holds (tuples as lists, keys sorted)."""
    return json.loads(json.dumps(dict(settings), sort_keys=True, default=str))


def settings_fingerprint(settings: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a settings record."""
    text = json.dumps(_canonical(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def data_fingerprint(spectrum: Any) -> str:
    """SHA-256 (hex) of a spectrum's data: x, y and (where given) sigma, as float64."""
    import numpy as np

    digest = hashlib.sha256()
    for name in ("x", "y", "sigma"):
        values = getattr(spectrum, name, None)
        if values is None:
            digest.update(f"{name}:none;".encode())
            continue
        array = np.ascontiguousarray(np.asarray(values, dtype="<f8"))
        digest.update(f"{name}:{array.size};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


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
        """Whether a result file of ``sample_id`` exists (readable or not; see :meth:`verdict`)."""
        return self.path(sample_id).is_file()

    @contextlib.contextmanager
    def writing(self, settings: Mapping[str, Any], *, force: bool) -> Iterator[str]:
        """Hold the folder's lock, clean up, and record ``settings``; yields their fingerprint.

        Every write of a run happens inside this block. On entry the folder is locked (a
        second writer is refused at once), temporary files of killed runs are removed, and
        ``settings`` are checked against and recorded in ``settings.json``.

        Raises
        ------
        ValueError
            Another run holds the folder, or the folder holds results of this label run with
            other settings and ``force`` is false.
        """
        fingerprint = settings_fingerprint(settings)
        with folder_lock(self.folder, self.label, fingerprint):
            self.check_settings(settings, force=force)
            yield fingerprint

    def check_settings(self, settings: Mapping[str, Any], *, force: bool) -> None:
        """Record ``settings`` for this label; refuse to mix results of different settings.

        Call it inside :meth:`writing` (which holds the folder's lock).

        Raises
        ------
        ValueError
            The folder holds results of this label run with other settings and ``force`` is
            false.
        """
        path = self.folder / SETTINGS
        recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        wanted = _canonical(settings)
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

    def save(
        self,
        sample_id: str,
        idata: az.InferenceData,
        row: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write one result atomically, its summary row kept in the posterior's attributes.

        ``metadata`` (the spectrum's: reader information, pre-processing steps and the
        baseline they subtracted) is kept in the observed data's attributes, as JSON; entries
        that JSON cannot hold are left out.

        Raises
        ------
        OSError
            The file could not be written (a full disk is ``errno.ENOSPC``, whichever library
            noticed it); the destination is left as it was.
        """
        idata.posterior.attrs[ROW_ATTRIBUTE] = json.dumps(dict(row))
        if metadata and "observed_data" in idata.groups():
            idata.observed_data.attrs[METADATA_ATTRIBUTE] = json.dumps(_jsonable(metadata))
        engine = _netcdf_engine()
        path = self.path(sample_id)
        try:
            return atomic_write(path, lambda p: idata.to_netcdf(p, engine=engine))
        except OSError:
            raise
        except Exception as error:  # the NetCDF libraries report a full disk as RuntimeError
            raise _write_error(path, error) from error

    def load(self, sample_id: str) -> az.InferenceData:
        """Read one result fully into memory (the file is closed afterwards)."""
        path = self.path(sample_id)
        if not path.is_file():
            v.fail(
                "sample_id", f"have a stored result under {self.label}", sample_id, error=KeyError
            )
        with az.rc_context({"data.load": "eager"}):
            return az.from_netcdf(path)

    def load_metadata(self, sample_id: str) -> dict[str, Any]:
        """The spectrum metadata stored with a result (empty when none was)."""
        import xarray as xr

        with xr.open_dataset(self.path(sample_id), group="observed_data") as observed:
            text = observed.attrs.get(METADATA_ATTRIBUTE)
        return {} if text is None else dict(json.loads(text))

    def load_row(self, sample_id: str) -> dict[str, Any]:
        """The summary row stored with a result.

        Raises
        ------
        ValueError
            The file cannot be read as a result (truncated, empty, not NetCDF, no row); the
            message names the file with its whole path.
        """
        import xarray as xr

        path = self.path(sample_id)
        try:
            with xr.open_dataset(path, group="posterior") as posterior:
                row = json.loads(posterior.attrs[ROW_ATTRIBUTE])
        except Exception as error:  # any unreadable file is named, never trusted
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:200]
            v.fail(f"result file {path}", "be a readable result", reason)
        if not isinstance(row, dict):
            v.fail(f"result file {path}", "hold a summary row", type(row).__name__)
        return row

    def verdict(
        self, sample_id: str, data: str | None = None, *, settings: str | None = None
    ) -> str | None:
        """Why the stored result of ``sample_id`` may not be used; ``None`` if it may.

        A stored result may be used when its file is readable and its settings fingerprint
        equals ``settings`` (default: that of the settings recorded for this label) and, if
        ``data`` is given, its data fingerprint equals ``data``.
        """
        expected = self.recorded_fingerprint() if settings is None else settings
        if not self.has(sample_id):
            return "no stored result"
        try:
            row = self.load_row(sample_id)
        except ValueError as error:
            return f"unreadable stored result: {error}"
        stored = row.get(SETTINGS_FINGERPRINT)
        if stored is None:
            return "stored result has no fingerprint (written by an older version)"
        if stored != expected:
            return "stored result was computed with other settings"
        if data is not None and row.get(DATA_FINGERPRINT) != data:
            return "stored result was computed on other data"
        return None

    def recorded_fingerprint(self) -> str | None:
        """Fingerprint of the settings recorded for this label (``None`` when none are)."""
        recorded = self.settings()
        return settings_fingerprint(recorded) if recorded else None

    def discard(self, sample_id: str) -> bool:
        """Remove the stored result of ``sample_id`` (a failed refit); whether there was one."""
        return remove(self.path(sample_id))

    def finished_ids(self) -> list[str]:
        """Sample ids of this label with a usable result, in the order of ``summary.csv``.

        Usable: the file is readable and was computed with the settings recorded for this
        label (:meth:`verdict`); :meth:`unusable` lists the others with their reasons.
        """
        unusable = self.unusable()
        return [i for i in self._done_ids() if i not in unusable]

    def unusable(self) -> dict[str, str]:
        """Sample ids listed as done whose result may not be used, with the reason."""
        expected = self.recorded_fingerprint() or "none recorded"
        reasons = {i: self.verdict(i, settings=expected) for i in self._done_ids()}
        return {i: reason for i, reason in reasons.items() if reason is not None}

    def _done_ids(self) -> list[str]:
        rows = _summary_rows(self)
        return rows.loc[rows["status"].astype(str) != "failed", "sample_id"].astype(str).tolist()

    def failed_ids(self) -> list[str]:
        """Sample ids of this label whose fit failed (per ``summary.csv``)."""
        rows = _summary_rows(self)
        return rows.loc[rows["status"].astype(str) == "failed", "sample_id"].astype(str).tolist()

    def settings(self) -> dict[str, Any]:
        """The settings recorded for this label in ``settings.json`` (empty when none)."""
        path = self.folder / SETTINGS
        if not path.is_file():
            return {}
        return dict(json.loads(path.read_text(encoding="utf-8")).get(self.label, {}))

    def load_fit(self, sample_id: str) -> Any:
        """A :class:`deconv.Fit` rebuilt from a stored result (peak tables, features, plots).

        The model comes from the label and the recorded settings (preset priors and a known sigma
        are restored; custom priors are replaced by the data-scaled defaults of the same kinds and
        ``sigma="data"`` by an inferred sigma, so the report's prior line may differ from the
        run's). The internal-unit draws are recovered
        from the stored user-unit posterior and checked against it.

        Raises
        ------
        KeyError
            No finished result of ``sample_id`` under this label.
        ValueError
            The label cannot be parsed, or the stored posterior cannot be mapped back to the model.
        """
        import dataclasses

        import numpy as np

        from deconv.inference import make_problem
        from deconv.model import to_user_units
        from deconv.results import Fit, _diagnostics
        from deconv.spectrum import Spectrum

        parsed = parse_label(self.label)
        settings = self.settings()
        idata = self.load(sample_id)
        row = self.load_row(sample_id)
        x = np.asarray(idata.observed_data["x"].to_numpy(), dtype=float)
        y = np.asarray(idata.observed_data["y"].to_numpy(), dtype=float)
        spectrum = Spectrum(x, y, name=str(sample_id), metadata=self.load_metadata(sample_id))
        priors = settings.get("priors")
        kinds = {}
        if isinstance(priors, Mapping):
            kinds = {k: priors[k] for k in ("width_kind", "amplitude_kind") if k in priors}
        sigma = settings.get("sigma")
        problem = make_problem(
            spectrum,
            parsed["n_peaks"],
            shape=parsed["shape"],
            baseline=parsed["baseline"],
            noise=parsed["noise"],
            priors=priors if isinstance(priors, str) and priors != "default" else None,
            sigma=sigma if isinstance(sigma, int | float) else None,
            smallest_peak=settings.get("smallest_peak"),
        )
        model = problem.model
        if kinds:
            model = dataclasses.replace(model, priors=dataclasses.replace(model.priors, **kinds))
        samples = _internal_samples(idata.posterior, model, problem.scaling)
        back = to_user_units(samples, model, problem.scaling)
        for name in ("centre", "fwhm", "height", "area"):
            stored = idata.posterior[name].to_numpy()
            if not np.allclose(back[name], stored, rtol=1e-8, atol=0.0):
                v.fail(
                    "results",
                    f"hold posteriors of the model {self.label} (stored {name} is not reproduced)",
                    str(self.path(sample_id)),
                )
        objective = float(row.get("objective", float("nan")))
        centres = np.asarray(idata.posterior["centre"].mean(("chain", "draw")))
        optima = pd.DataFrame(
            {
                "neg_log_posterior": [objective],
                "n_starts": [row.get("starts_at_best", 1)],
                "centres": [np.round(centres, 6).tolist()],
            }
        )
        n_chains = int(idata.posterior.sizes["chain"])
        extra = None
        stats = idata.sample_stats if "sample_stats" in idata.groups() else {}
        if "diverging" in stats and "n_steps" in stats:
            extra = {
                "diverging": stats["diverging"].to_numpy(),
                "num_steps": stats["n_steps"].to_numpy(),
            }
        return Fit(
            spectrum=spectrum,
            model=model,
            method=parsed["method"],
            idata=idata,
            optima=optima,
            diagnostics=_diagnostics(idata, extra, n_chains),
            scaling=problem.scaling,
            samples_internal=samples,
        )

    def load_fits(self, sample_ids: Sequence[str] | None = None) -> list[Any]:
        """:meth:`load_fit` of every id in ``sample_ids`` (default: every finished result)."""
        ids = self.finished_ids() if sample_ids is None else list(sample_ids)
        return [self.load_fit(sample_id) for sample_id in ids]

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


# ---------------------------------------------------------------------------------------------
# reading a store back (loaders only: nothing below writes)


def parse_label(label: str) -> dict[str, Any]:
    """The model of a batch label such as ``"K3_pseudo_voigt_linear_normal_map"``.

    Returns
    -------
    dict
        ``n_peaks`` (int), ``shape``, ``baseline`` (str, or a
        :class:`~deconv.baselines.SplineBaseline` for a spline's label), ``noise`` and
        ``method`` (str).

    Raises
    ------
    ValueError
        ``label`` is not of the form ``K<n>_<shape>_<baseline>_<noise>_<method>`` with a
        registered line shape.
    """
    from deconv.lineshapes import LINESHAPES

    rule = "be a batch model label K<n>_<shape>_<baseline>_<noise>_<method>"
    match = re.fullmatch(r"K(\d+)_(.+)", str(label))
    if match is None:
        v.fail("label", rule, label)
    rest = match.group(2)
    method = next((m for m in _METHODS if rest.endswith(f"_{m}")), None)
    rest = rest[: -len(method) - 1] if method else ""
    noise = next((n for n in _NOISES if rest.endswith(f"_{n}")), None)
    rest = rest[: -len(noise) - 1] if noise else ""
    shapes = sorted(LINESHAPES, key=len, reverse=True)
    shape = next((s for s in shapes if rest.startswith(f"{sanitise(s)}_")), None)
    if method is None or noise is None or shape is None:
        v.fail("label", rule, label)
    baseline = rest[len(sanitise(shape)) + 1 :]
    if not baseline:
        v.fail("label", rule, label)
    from deconv.baselines import baseline_from_label

    return {
        "n_peaks": int(match.group(1)),
        "shape": shape,
        "baseline": baseline_from_label(baseline),
        "noise": noise,
        "method": method,
    }


@contextlib.contextmanager
def folder_lock(folder: str | Path, label: str, fingerprint: str) -> Iterator[None]:
    """Hold a result folder's exclusive lock and remove the temporary files of killed runs.

    ``label`` and ``fingerprint`` describe the holder to a second run, which is refused at
    once (``ValueError`` naming ``out``, the holder's pid and model, and whether its settings
    are the same).
    """
    folder = Path(folder)
    note = json.dumps({"pid": os.getpid(), "model": label, SETTINGS_FINGERPRINT: fingerprint})
    try:
        with exclusive_lock(folder, LOCK, note):
            for stray in stray_temporaries(folder) + stray_temporaries(folder / RESULTS):
                remove(stray)
            yield
    except FolderBusy as busy:
        v.fail("out", _busy_rule(busy.holder, label, fingerprint), str(folder))


def _jsonable(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``metadata`` that JSON can hold (numpy arrays as lists)."""
    import numpy as np

    kept = {}
    for key, value in metadata.items():
        value = value.tolist() if isinstance(value, np.ndarray) else value
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[str(key)] = value
    return kept


def _write_error(path: Path, error: Exception) -> OSError:
    """An ``OSError`` for a failed write, with ``ENOSPC`` where the message says so."""
    import errno

    text = " ".join(str(error).split())
    full = "no space left" in text.lower() or "errno = 28" in text.lower()
    code = errno.ENOSPC if full else errno.EIO
    return OSError(
        code, f"could not write a result file ({type(error).__name__}: {text})", str(path)
    )


def _busy_rule(holder: str, label: str, fingerprint: str) -> str:
    """The rule a second writer breaks, with what the lock's holder said of itself."""
    try:
        note = json.loads(holder)
    except ValueError:
        note = {}
    if not isinstance(note, dict):
        note = {}
    same = note.get("model") == label and note.get(SETTINGS_FINGERPRINT) == fingerprint
    who = f"pid {note.get('pid', '?')}, model {note.get('model', '?')}"
    kind = "the same settings" if same else "other settings"
    return (
        f"not be in use by another specbayes run ({who}, {kind}); one run writes to a result "
        "folder at a time: wait for it to finish or choose another folder"
    )


def is_store(folder: str | Path) -> bool:
    """Whether ``folder`` looks like a result store (``summary.csv`` and a ``fits`` folder)."""
    folder = Path(folder)
    return (folder / SUMMARY).is_file() and (folder / RESULTS).is_dir()


def store_labels(folder: str | Path) -> list[str]:
    """Model labels with results in a store folder, in order of first appearance.

    Raises
    ------
    ValueError
        ``folder`` is not a result store (no ``summary.csv`` or no ``fits`` folder).
    """
    folder = Path(folder)
    if not is_store(folder):
        v.fail(
            "results",
            f"be a result folder written by specbayes batch ({SUMMARY} and {RESULTS}/)",
            str(folder),
        )
    summary = _read_table(folder / SUMMARY)
    if summary is None or summary.empty or "model" not in summary:
        return []
    return list(dict.fromkeys(summary["model"].astype(str)))


def _summary_rows(store: ResultStore) -> pd.DataFrame:
    summary = _read_table(store.folder / SUMMARY)
    if summary is None or "model" not in summary:
        return pd.DataFrame(columns=["sample_id", "model", "status"])
    return summary[summary["model"].astype(str) == store.label]


def _internal_samples(posterior: Any, model: Any, scaling: Any) -> dict[str, Any]:
    """Internal-unit samples (chain, draw, ...) from a user-unit posterior: the inverse of
    :func:`deconv.model.to_user_units` for the sampled sites."""
    import numpy as np

    x0, dx, ys = scaling
    pri = model.priors

    def get(name: str) -> np.ndarray:
        return np.asarray(posterior[name].to_numpy(), dtype=float)

    out = {"centre": (get("centre") - x0) / dx}
    if pri.width_kind == "precision":
        out["precision"] = get("precision") * dx**2
    else:
        out["fwhm"] = (get("fwhm_gauss") if "fwhm_gauss" in posterior else get("fwhm")) / dx
    if pri.amplitude_kind == "height":
        out["height"] = get("height") / ys
    else:
        out["area"] = get("area") / (ys * dx)
    if "eta" in posterior:
        out["eta"] = get("eta")
    if "fwhm_lorentz" in posterior:
        out["fwhm_lorentz"] = get("fwhm_lorentz") / dx
    for name in posterior.data_vars:
        if name in ("baseline", "baseline_wiggle"):
            out[str(name)] = get(str(name)) / ys
        elif str(name).startswith("baseline_"):
            out[str(name)] = get(str(name))
    if "sigma" in posterior:
        out["sigma"] = get("sigma") / ys
    if "nu" in posterior:
        out["nu"] = get("nu")
    return out
