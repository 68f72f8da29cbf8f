"""Baseline pre-correction through pybaselines, recorded in the spectrum's metadata.

Why it exists: the seed paper (Okubo et al. 2026) does not model the background; it removes it
before the fit with asymmetric least squares (AsLS, Eilers and Boelens 2005; ``lam = 1000``,
``p = 1e-4``) and notes that the correction can leave pseudo-peaks that spectrum-only evidence then
picks up. To run the paper's method beside ours, and to show that effect, the package needs the
same pre-correction, done by a maintained library (pybaselines) rather than re-implemented here,
and recorded so that every later result says which data it was computed from.

:func:`subtract_baseline` takes a :class:`~deconv.spectrum.Spectrum` or a
:class:`~deconv.spectrum.SpectrumSeries`, runs any one-dimensional method of
``pybaselines.Baseline`` on each spectrum and returns a new container (the input is never
changed) whose ``y`` is ``y - baseline``, with the step appended to ``metadata["preprocessing"]``
and the subtracted baseline kept in ``metadata["baseline_subtracted"]`` (both JSON-serialisable;
the format is given in :func:`subtract_baseline`).
"""

from __future__ import annotations

import difflib
import inspect
import numbers
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

from deconv import _validation as v
from deconv.spectrum import Spectrum, SpectrumSeries

PAPER_ASLS: Mapping[str, float] = MappingProxyType({"lam": 1e3, "p": 1e-4})
"""The AsLS settings of Okubo et al. (2026): ``lam = 1000``, ``p = 1e-4``.

Use them as ``subtract_baseline(series, "asls", **PAPER_ASLS)``. pybaselines' AsLS penalises
second differences over the point index, not over ``x``, as Eilers and Boelens' original does, so
the same ``lam`` smooths the same number of points whatever the axis units: these settings carry
over to another axis only at a similar number of points per feature (the paper: 600 points on
x in [3, 7])."""

PREPROCESSING_KEY = "preprocessing"
"""Metadata key of the list of pre-processing steps, oldest first."""

BASELINE_KEY = "baseline_subtracted"
"""Metadata key of the total baseline subtracted so far (see :func:`subtract_baseline`)."""

_NOT_ONE_DIMENSIONAL = frozenset({"collab_pls"})  # fits a 2-D set of spectra jointly
_EXAMPLES = ("asls", "airpls", "arpls", "iasls", "modpoly", "snip")

Data = TypeVar("Data", Spectrum, SpectrumSeries)


def _baseline_class() -> type:
    try:
        from pybaselines import Baseline
    except ImportError as err:  # pragma: no cover - pybaselines is a dependency
        raise ImportError(
            "baseline pre-correction needs pybaselines; install it with "
            "`pip install 'pybaselines>=1.1'`"
        ) from err
    return Baseline


def baseline_methods() -> tuple[str, ...]:
    """Names of the one-dimensional methods of ``pybaselines.Baseline``, sorted.

    Returns
    -------
    tuple of str
        Every public method of ``pybaselines.Baseline`` whose first argument is the data, except
        ``collab_pls`` (it fits a two-dimensional set of spectra jointly).
    """
    baseline = _baseline_class()
    names = []
    for name in dir(baseline):
        attribute = inspect.getattr_static(baseline, name, None)
        if name.startswith("_") or name in _NOT_ONE_DIMENSIONAL:
            continue
        if not inspect.isfunction(attribute):
            continue
        parameters = list(inspect.signature(attribute).parameters)
        if len(parameters) >= 2 and parameters[1] == "data":
            names.append(name)
    return tuple(sorted(names))


def _check_method(method: Any, baseline: type) -> inspect.Signature:
    if not isinstance(method, str):
        v.fail("method", "be the name of a pybaselines.Baseline method", method, error=TypeError)
    names = baseline_methods()
    if method not in names:
        close = difflib.get_close_matches(method, names, n=3)
        examples = list(dict.fromkeys([*close, *(e for e in _EXAMPLES if e in names)]))[:6]
        v.fail(
            "method",
            f"name a 1-D pybaselines.Baseline method, e.g. {', '.join(examples)} "
            f"({len(names)} in all: deconv.precorrect.baseline_methods())",
            method,
        )
    return inspect.signature(getattr(baseline, method))


def _check_keywords(method: str, signature: inspect.Signature, keywords: dict[str, Any]) -> None:
    for reserved in ("data", "x_data"):
        if reserved in keywords:
            v.fail(
                reserved,
                "not be passed: the data and axis come from the spectrum",
                keywords[reserved],
                error=TypeError,
            )
    try:
        signature.bind(None, None, **keywords)
    except TypeError:
        accepted = [name for name in signature.parameters if name not in ("self", "data")]
        unknown = sorted(set(keywords) - set(accepted))
        v.fail(
            "keywords",
            f"be parameters of pybaselines.Baseline.{method} ({', '.join(accepted)})",
            unknown,
            error=TypeError,
        )


def _jsonable(name: str, value: Any) -> Any:
    """``value`` as plain JSON types (numbers, strings, None, lists, string-keyed dicts)."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            v.fail(
                name, "hold booleans or real numbers to be recorded", value.dtype, error=TypeError
            )
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_jsonable(name, item) for item in value]
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            v.fail(name, "have string keys to be recorded", list(value), error=TypeError)
        return {key: _jsonable(f"{name}[{key!r}]", item) for key, item in value.items()}
    v.fail(
        name,
        "be recordable as JSON (a number, string, None, bool, numeric array, sequence or "
        "string-keyed mapping of these)",
        type(value).__name__,
        error=TypeError,
    )
    return None  # pragma: no cover


def check_step(method: Any, keywords: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check a pre-correction step before any data is read; its keywords as JSON.

    Parameters
    ----------
    method : str
        A name from :func:`baseline_methods`.
    keywords : mapping, optional
        Keywords of that method.

    Returns
    -------
    dict
        ``keywords`` as plain JSON types (what the step's record will hold).

    Raises
    ------
    ValueError, TypeError
        As :func:`subtract_baseline` would, naming the method or keyword.
    """
    keywords = {} if keywords is None else dict(keywords)
    _check_keywords(method, _check_method(method, _baseline_class()), keywords)
    return _jsonable("keywords", keywords)


def _fit_rows(
    baseline: type, method: str, x: np.ndarray, rows: np.ndarray, keywords: dict[str, Any], ids
) -> np.ndarray:
    fitter = baseline(x_data=x)
    curves = np.empty_like(rows)
    for index, row in enumerate(rows):
        curve, _ = getattr(fitter, method)(row, **keywords)
        curve = np.asarray(curve, dtype=np.float64)
        if curve.shape != row.shape:
            v.fail(f"baseline of {ids[index]!r}", f"have shape {row.shape}", curve.shape)
        v.check_finite(f"baseline of {ids[index]!r} (pybaselines.Baseline.{method})", curve)
        curves[index] = curve
    return curves


def subtract_baseline(data: Data, method: str = "asls", **keywords: Any) -> Data:
    """Subtract a pybaselines baseline from a spectrum or from every spectrum of a series.

    Parameters
    ----------
    data : Spectrum or SpectrumSeries
        The spectra; not changed.
    method : str
        A one-dimensional method of ``pybaselines.Baseline`` (see :func:`baseline_methods`),
        e.g. ``"asls"``. Checked, with the keywords, before any computation.
    **keywords
        Passed unchanged to the method, e.g. ``lam=1e3, p=1e-4`` (:data:`PAPER_ASLS`, the
        seed paper's AsLS). They must be JSON-representable (numbers, strings, bools, None,
        numeric arrays, sequences, string-keyed mappings), since they are recorded.

    Returns
    -------
    Spectrum or SpectrumSeries
        A new container of the same type with ``y - baseline``, the same ``x``, ``sigma``
        (the baseline estimate's own uncertainty is not propagated), units, name or sample ids,
        properties, rejected samples and ``descending`` flag, and the metadata of ``data``
        plus:

        * ``metadata["preprocessing"]``: the earlier steps (a list, possibly absent before),
          then ``{"step": "baseline", "library": "pybaselines", "version": <str>,
          "method": <str>, "keywords": <dict of JSON values>}``;
        * ``metadata["baseline_subtracted"]``: the total baseline subtracted by every baseline
          step so far, on the container's stored (ascending) axis, as a list of floats for a
          Spectrum and as a dict ``{sample_id: list of floats}`` for a series, so that the
          original intensities are ``y + baseline_subtracted``.

    Raises
    ------
    TypeError
        ``data`` is neither container, ``method`` is no string, a keyword is unknown to the
        method, is ``data`` or ``x_data``, or cannot be recorded as JSON.
    ValueError
        ``method`` is not a 1-D pybaselines method (the message lists some valid ones), the
        baseline is not finite, or the corrected spectrum is invalid (e.g. constant).

    Examples
    --------
    >>> from deconv.precorrect import PAPER_ASLS, subtract_baseline
    >>> corrected = subtract_baseline(series, "asls", **PAPER_ASLS)  # doctest: +SKIP
    """
    if not isinstance(data, Spectrum | SpectrumSeries):
        v.fail("data", "be a Spectrum or a SpectrumSeries", type(data).__name__, error=TypeError)
    baseline = _baseline_class()
    signature = _check_method(method, baseline)
    _check_keywords(method, signature, keywords)
    recorded = _jsonable("keywords", dict(keywords))
    import pybaselines

    step = {
        "step": "baseline",
        "library": "pybaselines",
        "version": str(pybaselines.__version__),
        "method": method,
        "keywords": recorded,
    }
    metadata = dict(data.metadata)
    steps = [*metadata.get(PREPROCESSING_KEY, []), step]
    if isinstance(data, Spectrum):
        curve = _fit_rows(baseline, method, data.x, data.y[None, :], keywords, [data.name])[0]
        previous = np.asarray(metadata.get(BASELINE_KEY, 0.0), dtype=np.float64)
        metadata.update({PREPROCESSING_KEY: steps, BASELINE_KEY: (previous + curve).tolist()})
        return replace(data, y=data.y - curve, metadata=metadata)
    curves = _fit_rows(baseline, method, data.x, data.y, keywords, data.sample_ids)
    previous = metadata.get(BASELINE_KEY, {})
    totals = {
        sample_id: (np.asarray(previous.get(sample_id, 0.0), dtype=np.float64) + curve).tolist()
        for sample_id, curve in zip(data.sample_ids, curves, strict=True)
    }
    metadata.update({PREPROCESSING_KEY: steps, BASELINE_KEY: totals})
    return replace(data, y=data.y - curves, metadata=metadata)
