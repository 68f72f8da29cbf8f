"""specbayes.gp_property: property likelihoods of candidate models over a measurement series.

Importing this package is cheap: the modules load on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PropertyGP": "gp_property.regressor",
    "default_kernel": "gp_property.regressor",
    "distance_kernel": "gp_property.regressor",
    "bounds_reached": "gp_property.regressor",
    "FeatureDraws": "gp_property.features",
    "feature_draws": "gp_property.features",
    "PropertyLikelihood": "gp_property.likelihood",
    "gp_log_density": "gp_property.likelihood",
    "property_log_likelihood": "gp_property.likelihood",
    "Candidate": "gp_property.selector",
    "SeriesSelection": "gp_property.selector",
    "select_series": "gp_property.selector",
    "rank_table": "gp_property.selector",
    "RegionImportance": "gp_property.importance",
    "region_importance": "gp_property.importance",
    "plot_importance": "gp_property.plotting",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gp_property' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
