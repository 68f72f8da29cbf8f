"""Pairing of posterior draws across the samples of a series (shared by features and likelihood)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deconv import _validation as v

PAIRINGS = ("index", "random")


def pairing_indices(
    counts: Sequence[int],
    *,
    n_pairs: int | None,
    pairing: str,
    seed: int,
    name: str = "n_pairs",
) -> np.ndarray:
    """Draw indices that pair one draw of every sample, shape (n_samples, n_used).

    Parameters
    ----------
    counts : sequence of int
        Number of draws available for each sample.
    n_pairs : int or None
        Use at most this many pairs; ``None`` uses as many as the smallest sample has.
    pairing : {"index", "random"}
        ``"index"``: pair s uses draw s of every sample (evenly thinned to ``n_pairs`` among
        the first ``min(counts)`` draws). ``"random"``: an independent random permutation of
        each sample's draws (all of them), truncated to the number of pairs.
    seed : int
        Seed of the random permutations.
    name : str
        Argument name of ``n_pairs`` in error messages.

    Returns
    -------
    ndarray of int, shape (n_samples, n_used)
    """
    v.check_choice("pairing", pairing, PAIRINGS)
    available = min(counts)
    n_used = available
    if n_pairs is not None:
        n_used = min(available, v.check_positive_int(name, n_pairs))
    if pairing == "index":
        row = np.floor(np.arange(n_used) * available / n_used).astype(np.intp)
        return np.tile(row, (len(counts), 1))
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(count)[:n_used] for count in counts])
