"""JAX set-up shared by every module that computes: float64 unless the user opted out.

Free energies of ~1e3 nats are differences of large sums, so float64 is the default. Set the
environment variable ``SPECBAYES_FLOAT32=1`` before importing to keep JAX's float32 default.
"""

from __future__ import annotations

import os

import jax

if os.environ.get("SPECBAYES_FLOAT32", "") not in ("1", "true", "yes"):
    jax.config.update("jax_enable_x64", True)
