"""One validation layer for every public entry point.

Each check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad value)
with a message that names the argument, the rule it broke and the offending value, e.g.
``"y must be finite (no NaN or inf); got NaN at index 3"``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(name: str, rule: str, value: Any, *, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` with the house message: argument, rule, value."""
    raise error(f"{name} must {rule}; got {_short(value)}")


def as_float_array(name: str, value: Any, *, ndim: int = 1) -> np.ndarray:
    """Convert ``value`` to a float64 array of ``ndim`` dimensions, or raise.

    Rejects strings, objects, complex and boolean data (``TypeError``), wrong dimensionality and
    empty input (``ValueError``). Integer input is accepted and converted.
    """
    if value is None:
        fail(name, "be an array of numbers", value, error=TypeError)
    if isinstance(value, str | bytes):
        fail(name, "be an array of numbers, not a string", value, error=TypeError)
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        fail(
            name,
            "hold real numbers (integer or float dtype)",
            f"dtype {array.dtype}",
            error=TypeError,
        )
    array = array.astype(np.float64)
    if array.ndim != ndim:
        fail(name, f"be {ndim}-dimensional", f"shape {array.shape}")
    if array.size == 0:
        fail(name, "not be empty", f"shape {array.shape}")
    return array


def check_finite(name: str, array: np.ndarray) -> None:
    """Raise if ``array`` holds NaN or inf, naming the first bad index."""
    bad = ~np.isfinite(array)
    if bad.any():
        index = np.argwhere(bad)[0]
        where = int(index[0]) if index.size == 1 else tuple(int(i) for i in index)
        kind = "NaN" if np.isnan(array[tuple(index)]) else "inf"
        fail(name, "be finite (no NaN or inf)", f"{kind} at index {where}")


def check_same_length(name: str, array: np.ndarray, other_name: str, length: int) -> None:
    if array.shape[-1] != length:
        fail(name, f"have the same length as {other_name} ({length})", f"length {array.shape[-1]}")


def check_strictly_monotonic(name: str, x: np.ndarray) -> bool:
    """Return True when ``x`` descends; raise on duplicates or a change of direction."""
    steps = np.diff(x)
    if np.any(steps == 0):
        i = int(np.argmax(steps == 0))
        repeated = f"{float(x[i])!r} repeated at indices {i} and {i + 1}"
        fail(name, "have no duplicate values", repeated)
    if np.all(steps > 0):
        return False
    if np.all(steps < 0):
        return True
    i = int(np.argmax(np.sign(steps) != np.sign(steps[0])))
    fail(
        name,
        "be strictly increasing or strictly decreasing",
        f"direction changes at index {i + 1} (value {float(x[i + 1])!r})",
    )
    return False  # pragma: no cover


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        fail(name, "be True or False", value, error=TypeError)
    return value


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(name, "be an integer", value, error=TypeError)
    if value < minimum:
        fail(name, f"be >= {minimum}", value)
    return int(value)


def check_positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, "be a real number", value, error=TypeError)
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        fail(name, "be finite and >= 0" if allow_zero else "be finite and > 0", value)
    return value


def check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, "be a real number", value, error=TypeError)
    if not 0 < float(value) < 1:
        fail(name, "lie strictly between 0 and 1", value)
    return float(value)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str):
        fail(name, f"be one of {choices}", value, error=TypeError)
    if value not in choices:
        fail(name, f"be one of {choices}", value)
    return value


def check_unique_ids(name: str, ids: Sequence[Any]) -> list[str]:
    labels = [str(i) for i in ids]
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            fail(name, "hold unique sample ids", f"{label!r} appears more than once")
        seen.add(label)
    return labels


def check_enough_points(name: str, n_points: int, n_parameters: int) -> None:
    """A model with ``n_parameters`` needs more data points than parameters."""
    if n_points <= n_parameters:
        fail(
            name,
            f"have more points than the model has parameters ({n_parameters})",
            f"{n_points} points",
        )
