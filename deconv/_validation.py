"""One validation layer for every public entry point.

Each check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad value)
with a message that names the argument, the rule it broke and the offending value, e.g.
``"y must be finite (no NaN or inf); got NaN at index 3"``.
"""

from __future__ import annotations

import numbers
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
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


def check_finite_float(name: str, value: Any) -> float:
    """A finite real number (not a bool) as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, "be a real number", value, error=TypeError)
    if not np.isfinite(float(value)):
        fail(name, "be finite", value)
    return float(value)


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


MIN_POINTS = 7
"""Fewest points of a spectrum: the default width prior spans 2 median point spacings to half
the x range, which is wider than nothing for any strictly monotonic x of 7 or more points (the
median of 6 or more spacings is below a quarter of their sum); :func:`check_enough_points`."""

KEY_BOUND = 2**63
"""Int seeds of :func:`check_key` lie in ``[0, KEY_BOUND)``: ``jax.random.PRNGKey`` takes a
signed 64-bit integer."""


def check_enough_points(name: str, n_points: int, n_parameters: int = 0) -> None:
    """The minimum-points rule of every peak model: at least :data:`MIN_POINTS` points, and
    more points than the model has parameters (``n_parameters``; 0 checks the first part).

    A spectrum that passes it gets valid default priors and valid optimiser starts
    (:mod:`deconv.starts`) whatever its point spacing.
    """
    if n_points < MIN_POINTS:
        fail(
            name,
            f"have at least {MIN_POINTS} points (the default width prior spans 2 point "
            "spacings to half the x range)",
            f"{n_points} points",
        )
    if n_points <= n_parameters:
        fail(
            name,
            f"have more points than the model has parameters ({n_parameters})",
            f"{n_points} points",
        )


def check_seed(name: str, value: Any, *, upper: int = 2**32) -> int:
    """An int seed in ``[0, upper)`` (NumPy and scikit-learn seeds: ``upper = 2**32``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(name, "be an int seed", value, error=TypeError)
    if not 0 <= value < upper:
        fail(name, f"be an int seed >= 0 and < {_power_of_two(upper)}", value)
    return int(value)


def _power_of_two(value: int) -> str:
    exponent = value.bit_length() - 1
    return f"2**{exponent}" if value == 1 << exponent else str(value)


def check_key(name: str, key: Any) -> tuple[int, ...]:
    """The entropy of a random key: ``(seed,)`` for an int seed, ``(word0, word1)`` for a key.

    Parameters
    ----------
    name : str
        Argument name, for the error message.
    key : int or jax PRNG key
        An int seed in ``[0, 2**63)`` (Python or NumPy integer; not a bool), a raw JAX PRNG key
        (an array of shape (2,) and dtype uint32, as ``jax.random.PRNGKey`` returns) or a typed
        threefry key (``jax.random.key``).

    Returns
    -------
    tuple of int
        One word, the seed, for an int; the key's two uint32 words for a key. ``(seed,)``
        becomes a key through ``jax.random.PRNGKey(seed)``; two words through
        ``jnp.asarray(words, dtype=jnp.uint32)``, the same key (see
        :func:`deconv.inference._as_key`). Either is entropy for ``numpy.random.SeedSequence``.

    Raises
    ------
    TypeError
        A bool, a float, a string, or an array of another shape or dtype.
    ValueError
        An int seed below 0 or at least ``2**63``.
    """
    rule = "be an int seed or a jax PRNG key (jax.random.PRNGKey)"
    if isinstance(key, bool):
        fail(name, rule, key, error=TypeError)
    if isinstance(key, numbers.Integral):
        return (check_seed(name, key, upper=KEY_BOUND),)
    dtype = getattr(key, "dtype", None)
    if dtype is None or isinstance(key, str | bytes):
        fail(name, rule, key, error=TypeError)
    if str(dtype).startswith("key<"):  # a typed key: JAX is loaded already
        import jax

        key = jax.random.key_data(key)
    array = np.asarray(key)
    if array.shape != (2,) or array.dtype != np.uint32:
        fail(name, rule, f"array of shape {array.shape} and dtype {array.dtype}", error=TypeError)
    return tuple(int(word) for word in array)


_PACKAGE_FOLDERS = tuple(
    str(Path(__file__).resolve().parent.parent / name) + os.sep
    for name in ("deconv", "gp_property")
)


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a ``warnings.warn`` in the calling function point at the
    first frame outside this package (``deconv``, ``gp_property``): the user's line, however
    deep inside the package the warning arises."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.realpath(frame.f_code.co_filename).startswith(
        _PACKAGE_FOLDERS
    ):
        frame, level = frame.f_back, level + 1
    return level


def warn_again(caught: Iterable[warnings.WarningMessage]) -> None:
    """Re-emit warnings recorded by ``warnings.catch_warnings(record=True)`` at the user's
    line (:func:`caller_stacklevel`), whatever internal line first emitted them; the user's
    warning filters apply as they would have to the originals."""
    for caught_warning in caught:
        warnings.warn(
            caught_warning.message, caught_warning.category, stacklevel=caller_stacklevel()
        )
