"""Running a batch: items read or taken from a series, chunks on a thread or an executor, results
written to the store as they arrive, resumed where they belong."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jax

from deconv import _validation as v
from deconv.baselines import BaselineSpec
from deconv.batch.chunks import _run_chunk, _Task
from deconv.batch.outcomes import _failure, _Outcome, _reason
from deconv.batch.results import BatchResult, SpectrumResult
from deconv.batch.settings import _key_words, _seed, _Settings, _settings
from deconv.exceptions import ReadError
from deconv.io import JCAMP_EXTENSIONS, SPC_EXTENSIONS, TEXT_EXTENSIONS, read_spectrum
from deconv.spectrum import Spectrum, SpectrumSeries
from deconv.store import (
    DATA_FINGERPRINT,
    SETTINGS_FINGERPRINT,
    ResultStore,
    data_fingerprint,
    settings_fingerprint,
)

_SUFFIXES = TEXT_EXTENSIONS + JCAMP_EXTENSIONS + SPC_EXTENSIONS


@dataclass(frozen=True)
class _Item:
    sample_id: str
    spectrum: Spectrum | None
    reason: str = ""


def _prepared(sample_id: str, make: Callable[[], Spectrum], settings: _Settings) -> _Item:
    """An item whose spectrum ``make`` builds and ``settings`` prepare (crop, pre-correction);
    a spectrum that cannot be built or prepared becomes the item's failure."""
    try:
        return _Item(sample_id, settings.prepare(make()))
    except (ReadError, ValueError, TypeError, OSError) as error:
        return _Item(sample_id, None, _reason(error))


def _item(entry: Any, position: int, settings: _Settings) -> _Item:
    if isinstance(entry, Spectrum):
        return _prepared(entry.name, lambda: entry, settings)
    if isinstance(entry, tuple | list) and len(entry) in (3, 4):
        sample_id = str(entry[0])
        return _prepared(sample_id, lambda: Spectrum(*entry[1:], name=sample_id), settings)
    v.fail(
        f"series[{position}]",
        "be a Spectrum or a (sample_id, x, y[, sigma]) tuple",
        type(entry).__name__,
        error=TypeError,
    )
    raise AssertionError  # pragma: no cover


def _items(series: Any, settings: _Settings) -> list[_Item]:
    if isinstance(series, SpectrumSeries):
        items = [_prepared(s.name, lambda s=s: s, settings) for s in series]
        rejected = getattr(series, "rejected", {})  # rows left out of the series, and why
        items += [_Item(str(i), None, _reason(reason)) for i, reason in rejected.items()]
    elif isinstance(series, Iterable) and not isinstance(series, str | bytes | Spectrum):
        items = [_item(entry, i, settings) for i, entry in enumerate(series)]
    else:
        v.fail(
            "series",
            "be a SpectrumSeries or a sequence of Spectrum / (sample_id, x, y) tuples",
            type(series).__name__,
            error=TypeError,
        )
    if not items:
        v.fail("series", "hold at least one spectrum", "none")
    v.check_unique_ids("sample ids", [item.sample_id for item in items])
    return items


def _tasks(settings: _Settings, items: list[_Item], pending: list[_Item], chunk_size: int, words):
    """Chunks of pending spectra with equal point counts; lane width fixed by the whole input."""
    sizes = Counter(item.spectrum.n_points for item in items if item.spectrum is not None)
    groups: dict[int, list[Spectrum]] = {}
    for item in pending:
        groups.setdefault(item.spectrum.n_points, []).append(item.spectrum)
    tasks = []
    for n_points, spectra in groups.items():
        lanes = min(chunk_size, sizes[n_points])
        for start in range(0, len(spectra), chunk_size):
            chunk = tuple(spectra[start : start + chunk_size])
            seeds = tuple(_seed(words, spectrum.name) for spectrum in chunk)
            tasks.append(_Task(settings, chunk, seeds, lanes))
    return tasks


def _gather(tasks: list[_Task], executor: Any) -> Iterator[list[_Outcome]]:
    """Outcomes chunk by chunk, in task order; a failed task fails its spectra, not the batch."""
    if executor is None and tasks and tasks[0].settings.method == "evidence":
        # free energies run in this thread (their programs compile on the evidence module's
        # own background threads): one more thread buys nothing at seconds per spectrum, and
        # JAX's persistent-cache writes from a compile started in a pool thread crashed a
        # process (SIGABRT in put_executable_and_time)
        yield from _in_order(_Inline(), tasks, ahead=0)
        return
    if executor is None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="specbayes-batch") as pool:
            yield from _in_order(pool, tasks, ahead=1)
        return
    if not callable(getattr(executor, "submit", None)):
        v.fail(
            "executor", "have a submit method (concurrent.futures-like)", executor, error=TypeError
        )
    yield from _in_order(executor, tasks, ahead=len(tasks))


class _Inline:
    """An executor that runs each task when its result is asked for, in the calling thread."""

    class _Deferred:
        def __init__(self, function: Callable, arguments: tuple) -> None:
            self.function, self.arguments = function, arguments

        def result(self) -> Any:
            return self.function(*self.arguments)

    def submit(self, function: Callable, *arguments: Any) -> _Deferred:
        return self._Deferred(function, arguments)


def _in_order(executor: Any, tasks: list[_Task], *, ahead: int) -> Iterator[list[_Outcome]]:
    """Submit ``ahead`` tasks beyond the one awaited; yield outcomes in task order."""
    futures: dict[int, Any] = {}

    def submit(index: int) -> None:
        if index < len(tasks) and index not in futures:
            futures[index] = executor.submit(_run_chunk, tasks[index])

    for index in range(min(ahead + 1, len(tasks))):
        submit(index)
    for index, task in enumerate(tasks):
        submit(index + ahead + 1)
        try:
            outcomes = futures.pop(index).result()
        except Exception as error:
            reason = f"chunk task failed: {_reason(error)}"
            outcomes = [_failure(task.settings, s.name, reason) for s in task.spectra]
        yield outcomes


def _result(outcome: _Outcome, spectrum: Spectrum | None, store: ResultStore | None):
    row = outcome.row
    return SpectrumResult(
        sample_id=outcome.sample_id,
        status=row["status"],
        reason=row["reason"],
        row=row,
        spectrum=spectrum,
        internal=outcome.internal,
        outcome=outcome,
        store=store,
    )


def _previous(item: _Item, store: ResultStore) -> SpectrumResult:
    row = store.load_row(item.sample_id)
    return SpectrumResult(item.sample_id, "skipped", "", row, item.spectrum, store=store)


@dataclass
class _Run:
    """One batch run: what it fits, where it writes, and what it has so far."""

    items: list[_Item]
    settings: _Settings
    store: ResultStore | None
    fingerprint: str  # of the settings (SHA-256 of :meth:`_Settings.describe`)
    results: dict[str, SpectrumResult] = field(default_factory=dict)
    recomputed: dict[str, str] = field(default_factory=dict)  # stored results not trusted

    def pending(self, force: bool) -> list[_Item]:
        """Items to compute; failures of invalid input and trusted stored results go in."""
        pending = []
        for item in self.items:
            if item.spectrum is None:
                self.finish(_failure(self.settings, item.sample_id, item.reason), None)
                continue
            if self.store is not None and not force:
                data = data_fingerprint(item.spectrum)
                reason = self.store.verdict(item.sample_id, data, settings=self.fingerprint)
                if reason is None:
                    self.results[item.sample_id] = _previous(item, self.store)
                    continue
                if reason != "no stored result":
                    self.recomputed[item.sample_id] = reason
            pending.append(item)
        return pending

    def finish(self, outcome: _Outcome, spectrum: Spectrum | None) -> None:
        """Fingerprint an outcome; store it (or, for a failure, drop any older result)."""
        outcome.row[SETTINGS_FINGERPRINT] = self.fingerprint
        outcome.row[DATA_FINGERPRINT] = "" if spectrum is None else data_fingerprint(spectrum)
        if self.store is not None and outcome.row["status"] == "done":
            metadata = spectrum.metadata if spectrum is not None else None
            self.store.save(outcome.sample_id, outcome.inference_data(), outcome.row, metadata)
            outcome.idata = outcome.arrays = outcome.fit = None  # the store has it
        elif self.store is not None:
            self.store.discard(outcome.sample_id)
        self.results[outcome.sample_id] = _result(outcome, spectrum, self.store)

    def write_tables(self) -> None:
        if self.store is None:
            return
        done = [self.results[i.sample_id] for i in self.items if i.sample_id in self.results]
        failures = [result.row for result in done if result.status == "failed"]
        self.store.write_tables([result.row for result in done], failures)

    def batch_result(self) -> BatchResult:
        ordered = [self.results[i.sample_id] for i in self.items if i.sample_id in self.results]
        return BatchResult(ordered, self.settings, self.recomputed)


def _run_batch(
    items: list[_Item],
    settings: _Settings,
    *,
    key: Any,
    chunk_size: int,
    executor: Any,
    out: str | Path | None,
    force: bool,
    progress: bool,
) -> BatchResult:
    words = _key_words(key)
    chunk_size = v.check_positive_int("chunk_size", chunk_size)
    described = settings.describe(key, chunk_size)
    fingerprint = settings_fingerprint(described)
    if out is None:
        return _execute(
            _Run(items, settings, None, fingerprint),
            chunk_size,
            words,
            executor,
            force=force,
            progress=progress,
        )
    store = ResultStore(out, settings.label)
    with store.writing(described, force=force) as fingerprint:
        run = _Run(items, settings, store, fingerprint)
        return _execute(run, chunk_size, words, executor, force=force, progress=progress)


def _execute(
    run: _Run,
    chunk_size: int,
    words: tuple[int, ...],
    executor: Any,
    *,
    force: bool,
    progress: bool,
) -> BatchResult:
    pending = run.pending(force)
    spectra = {item.sample_id: item.spectrum for item in run.items}
    bar = _progress_bar(len(pending), run.settings.label, progress)
    tasks = _tasks(run.settings, run.items, pending, chunk_size, words)
    per_spectrum = executor is None and not run.settings.vectorised  # slow loops: tick each one
    if per_spectrum:
        tasks = [replace(task, progress=bar.update) for task in tasks]
    for outcomes in _gather(tasks, executor):
        for outcome in outcomes:
            run.finish(outcome, spectra[outcome.sample_id])
        run.write_tables()
        if not per_spectrum:
            bar.update(len(outcomes))
    bar.close()
    run.write_tables()
    batch = run.batch_result()
    if progress:
        print(batch.message, file=sys.stderr, flush=True)
    return batch


def _progress_bar(total: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="spectrum", disable=not enabled, file=sys.stderr)


def fit_series(
    series: SpectrumSeries | Sequence[Spectrum | tuple],
    n_peaks: int,
    *,
    shape: str = "pseudo_voigt",
    baseline: BaselineSpec = "linear",
    method: str = "map",
    key: int | jax.Array = 0,
    chunk_size: int = 64,
    executor: Any = None,
    out: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    crop: tuple[float | None, float | None] | None = None,
    precorrect: str | tuple[str, dict[str, Any]] | None = None,
    **fit_kwargs: Any,
) -> BatchResult:
    """Fit every spectrum of a series under one model.

    A spectrum that cannot be fitted (invalid data, a non-finite objective, an error in its
    chunk) is recorded with its reason and never stops the batch.

    Parameters
    ----------
    series : SpectrumSeries or sequence
        The spectra: a series, or a sequence of :class:`Spectrum` (ids from their names) and
        ``(sample_id, x, y)`` or ``(sample_id, x, y, sigma)`` tuples; a tuple that does not
        make a valid spectrum (NaN, mismatched lengths...) becomes a failure.
    n_peaks : int
        Number of peaks K of the model.
    shape, baseline : str
        Line shape and baseline, as in :func:`deconv.fit`.
    method : {"map", "nuts", "evidence"}
        Vectorised MAP (fast), a loop of :func:`deconv.fit` with NUTS, or free energies by
        replica exchange, warm-started along the series (columns ``free_energy``,
        ``free_energy_se``, ``n_gradient_evals``... in the summary; a warm-started run whose
        replicas do not mix is redone cold, ``restarted_cold``; the trust columns
        ``starts_at_best``, ``map_trusted``, ``n_runs_redone`` and ``n_runs_dropped`` say
        how sure the MAP starts and the independent runs were).
    key : int or jax PRNG key
        Batch seed. Each spectrum's seed derives from it and the sample id, so results do not
        depend on chunking, order, executor or interruptions (warm-started free energies
        excepted: they depend on the preceding spectrum of the chunk).
    chunk_size : int
        Spectra per chunk (one vmapped call, one executor task); bounds memory.
    executor : concurrent.futures.Executor-like, optional
        Anything with ``submit(fn, *args)`` returning a future with ``result()``, e.g. a
        ``ProcessPoolExecutor`` (spawn context) or a Dask ``distributed.Client``. ``None``
        runs the chunks in a background thread while this one writes the results.
    out : str or os.PathLike, optional
        Result folder (:class:`deconv.store.ResultStore`): one NetCDF per spectrum,
        ``summary.csv`` and ``failures.csv``, rewritten atomically after every chunk. A rerun
        skips a spectrum only if its result file is readable and holds the same settings and
        data fingerprints; any other is recomputed (``BatchResult.recomputed`` says why).
    force : bool
        Recompute (and overwrite) results already in ``out``.
    progress : bool
        Show a progress bar and the closing line ``"done N, failed M, skipped K"`` on stderr.
    crop : (float or None, float or None), optional
        Keep only ``lower <= x <= upper`` of every spectrum (``None``: that end uncut);
        recorded in the settings.
    precorrect : str or (str, dict), optional
        A pybaselines method (and its keywords) subtracted from every spectrum after the
        crop, e.g. ``("asls", deconv.precorrect.PAPER_ASLS)``
        (:func:`deconv.precorrect.subtract_baseline`); recorded in the settings and in each
        result's metadata. A spectrum that cannot be cropped or corrected is a failure.
    **fit_kwargs
        ``noise``, ``priors``, ``sigma``, ``smallest_peak`` and ``n_starts`` (starts per
        spectrum: default 2 for MAP, 24 for NUTS, 384 for evidence) as in :func:`deconv.fit`;
        ``n_iter`` (at most this many Levenberg-Marquardt steps, default 200) for MAP;
        ``num_warmup``, ``num_samples``, ``num_chains``, ``target_accept``, ``dense_mass`` for NUTS;
        ``sampler`` (a dict of :func:`deconv.evidence.replica_exchange` settings),
        ``warm_start`` (default True) and ``warm_warmup`` (default 100) for ``"evidence"``.

    Returns
    -------
    BatchResult
        Summary table, failures and per-spectrum results.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments, or ``out`` holding results of this model run with other settings
        (unless ``force``).
    """
    settings = _settings(
        n_peaks, shape, baseline, method, fit_kwargs, crop=crop, precorrect=precorrect
    )
    return _run_batch(
        _items(series, settings),
        settings,
        key=key,
        chunk_size=chunk_size,
        executor=executor,
        out=out,
        force=force,
        progress=progress,
    )


def _spectrum_files(paths: Any) -> list[Path]:
    if isinstance(paths, str | Path):
        folder = Path(paths)
        if not folder.is_dir():
            return [folder]
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
        if not files:
            v.fail("folder", f"hold spectrum files ({' '.join(_SUFFIXES)})", str(folder))
        return files
    files = [Path(p) for p in paths]
    if not files:
        v.fail("paths", "name at least one file", "none")
    return files


def _file_ids(files: list[Path]) -> list[str]:
    for naming in (lambda p: p.stem, lambda p: p.name, str):
        ids = [naming(p) for p in files]
        if len(set(ids)) == len(ids):
            return ids
    v.check_unique_ids("paths", [str(p) for p in files])
    return [str(p) for p in files]  # pragma: no cover


def _read_item(path: Path, sample_id: str, options: dict[str, Any], settings) -> _Item:
    return _prepared(
        sample_id, lambda: replace(read_spectrum(path, **options), name=sample_id), settings
    )


def fit_files(
    paths: str | Path | Iterable[str | Path],
    n_peaks: int,
    *,
    shape: str = "pseudo_voigt",
    baseline: BaselineSpec = "linear",
    method: str = "map",
    key: int | jax.Array = 0,
    chunk_size: int = 64,
    executor: Any = None,
    out: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    reader_options: dict[str, Any] | None = None,
    crop: tuple[float | None, float | None] | None = None,
    precorrect: str | tuple[str, dict[str, Any]] | None = None,
    **fit_kwargs: Any,
) -> BatchResult:
    """Fit every spectrum file of a folder (or a list of files) under one model.

    Each file is read with :func:`deconv.io.read_spectrum`; a file that cannot be read
    (missing, malformed, NaN values...) is recorded as a failure with the reader's message.
    Sample ids are the file stems (the names, if stems repeat).

    Parameters
    ----------
    paths : folder, file or iterable of files
        A folder is searched (not recursively) for files with a supported extension.
    n_peaks, shape, baseline, method, key, chunk_size, executor, out, force, progress
        As in :func:`fit_series`.
    crop, precorrect
        As in :func:`fit_series`: applied to each spectrum after it is read.
    reader_options : dict, optional
        Keyword arguments of the reader (``sep``, ``x_column``...).
    **fit_kwargs
        As in :func:`fit_series` (model, starts and sampler settings).

    Returns
    -------
    BatchResult
        Summary table, failures and per-spectrum results.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments, or ``out`` holding results of this model run with other settings
        (unless ``force``).
    """
    settings = _settings(
        n_peaks, shape, baseline, method, fit_kwargs, crop=crop, precorrect=precorrect
    )
    files = _spectrum_files(paths)
    options = dict(reader_options or {})
    ids = _file_ids(files)
    items = [_read_item(p, i, options, settings) for p, i in zip(files, ids, strict=True)]
    return _run_batch(
        items,
        settings,
        key=key,
        chunk_size=chunk_size,
        executor=executor,
        out=out,
        force=force,
        progress=progress,
    )
