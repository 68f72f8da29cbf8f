"""Independent runs whose log Z is outlying are redone with new keys from healthy runs' final
state, and dropped (with a warning) if they stay so."""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from deconv import _validation as _v
from deconv.exceptions import EvidenceWarning
from deconv.tempering.adaptation import warmup_schedule
from deconv.tempering.diagnostics import MAX_REDOS, outlying_runs
from deconv.tempering.estimators import stepping_stone
from deconv.tempering.programs import _Launched, _run_program
from deconv.tempering.states import KernelState, Trace


def _run_log_z(trace: Trace, carry: KernelState) -> np.ndarray:
    return stepping_stone(np.asarray(trace.log_lik), np.asarray(carry.tuning.betas))[1]


def _replace_runs(
    carry: KernelState, trace: Trace, new_carry: KernelState, new_trace: Trace, mask: np.ndarray
) -> tuple[KernelState, Trace]:
    """``carry`` and ``trace`` with the runs in ``mask`` taken from ``new_carry`` and
    ``new_trace`` (replicas and walkers have their runs first, the trace after its draws);
    the gradient evaluations of both are counted."""

    def take(old: Any, new: Any, axis: int) -> np.ndarray:
        shape = [1] * np.ndim(old)
        shape[axis] = mask.size
        return np.where(mask.reshape(shape), np.asarray(new), np.asarray(old))

    def first(old: Any, new: Any) -> np.ndarray:
        return take(old, new, 0)

    carry = carry._replace(
        reps=jax.tree_util.tree_map(first, carry.reps, new_carry.reps),
        walkers=jax.tree_util.tree_map(first, carry.walkers, new_carry.walkers),
        n_grad=carry.n_grad + new_carry.n_grad,
    )
    return carry, jax.tree_util.tree_map(lambda a, b: take(a, b, 1), trace, new_trace)


def _keep_runs(carry: KernelState, trace: Trace, kept: np.ndarray) -> tuple[KernelState, Trace]:
    """``carry`` and ``trace`` of the runs ``kept`` only."""

    def first(a: Any) -> np.ndarray:
        return np.take(np.asarray(a), kept, axis=0)

    carry = carry._replace(
        reps=jax.tree_util.tree_map(first, carry.reps),
        walkers=jax.tree_util.tree_map(first, carry.walkers),
    )
    return carry, jax.tree_util.tree_map(lambda a: np.take(np.asarray(a), kept, axis=1), trace)


def _redo_outlying_runs(
    launched: _Launched, carry: KernelState, trace: Trace, anchor: float | None
) -> tuple[KernelState, Trace, int, int]:
    """Redo the runs :func:`~deconv.tempering.diagnostics.outlying_runs` flags, then drop those
    still flagged (module notes).

    A redo runs the launched program again with a new key, from healthy runs' final
    positions, under the final tuning and without a warm-up; its runs at the flagged places
    replace them. Returns the carry and trace, the runs redone and the runs dropped.
    """
    outlying = outlying_runs(_run_log_z(trace, carry), anchor)
    if not outlying.any() or launched.program is None:
        return carry, trace, 0, 0
    n_runs = outlying.size
    key, x0, template, _, _, *rest = launched.args
    idle = warmup_schedule(0, adapt_ladder=False, adapt_metric=False)
    redone = 0
    for attempt in range(MAX_REDOS):
        healthy = np.flatnonzero(~outlying)
        if healthy.size:
            positions = np.asarray(carry.reps.x)[healthy[np.arange(n_runs) % healthy.size]]
        else:
            positions = np.asarray(x0)
        args = (jax.random.fold_in(key, attempt + 1), jnp.asarray(positions), template,
                carry.tuning, idle, *rest)  # fmt: skip
        again, again_trace, _ = _run_program(launched.program, args, 0.0)
        carry, trace = _replace_runs(carry, trace, again, again_trace, outlying)
        redone += int(outlying.sum())
        outlying = outlying_runs(_run_log_z(trace, carry), anchor)
        if not outlying.any():
            return carry, trace, redone, 0
    if outlying.all():  # nothing to keep instead: the standard error says it
        return carry, trace, redone, 0
    kept = np.flatnonzero(~outlying)
    carry, trace = _keep_runs(carry, trace, kept)
    warnings.warn(
        f"replica exchange: {int(outlying.sum())} of {n_runs} independent runs had an "
        f"outlying log Z after {MAX_REDOS} redos with new keys and were dropped; the estimate "
        f"and its standard error rest on the other {kept.size}",
        EvidenceWarning,
        stacklevel=_v.caller_stacklevel(),
    )
    return carry, trace, redone, int(outlying.sum())
