"""arviz, imported without its refactor announcement (a FutureWarning aimed at developers)."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    import arviz as az

__all__ = ["az"]
