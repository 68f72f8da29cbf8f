"""JAX set-up shared by every module that computes: float64 unless the user opted out.

Free energies of ~1e3 nats are differences of large sums, so float64 is the default. Set the
environment variable ``SPECBAYES_FLOAT32=1`` before importing to keep JAX's float32 default.
:func:`enable_compilation_cache` keeps compiled programs on disk between processes.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

if os.environ.get("SPECBAYES_FLOAT32", "") not in ("1", "true", "yes"):
    jax.config.update("jax_enable_x64", True)

CACHE_MAX_BYTES = 2**30


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> Path:
    """Keep compiled samplers and optimisers on disk, for later processes to reuse.

    Every model structure (peak count, shape, baseline, noise) compiles its optimiser, its
    sampler and its Laplace set-up once per process, about 10-15 s per structure on a laptop
    core; with this cache a later process loads them instead (JAX's persistent compilation
    cache, keyed by the program, the JAX version and the machine). The ``specbayes`` command
    turns it on by itself unless ``SPECBAYES_COMPILATION_CACHE=0``; a script or notebook calls
    this once, before its first fit.

    Parameters
    ----------
    directory : str or path-like, optional
        Where to keep the programs. Default: ``$SPECBAYES_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/specbayes/jax``, else ``~/.cache/specbayes/jax``. A directory the
        user already gave JAX (``jax_compilation_cache_dir``) is kept.

    Returns
    -------
    pathlib.Path
        The directory in use.
    """
    current = jax.config.jax_compilation_cache_dir
    if current and directory is None:
        return Path(current)
    if directory is None:
        directory = os.environ.get("SPECBAYES_CACHE_DIR") or _user_cache() / "specbayes" / "jax"
    path = Path(directory).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Every program, the small ones too: ~140 of 0.03 s per structure add up (Nagata K = 1-5:
    # a later process ran select in 77 s keeping all, 94 s keeping those over 0.5 s, 125 s
    # without); ~1.2 MB per structure, the least recently used dropped beyond 1 GB.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    return path


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
