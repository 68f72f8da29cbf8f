"""A scikit-learn-compatible Gaussian-process regressor for a measured property.

:class:`PropertyGP` wraps :class:`sklearn.gaussian_process.GaussianProcessRegressor` and fixes the
conventions the property likelihood relies on:

- inputs are standardised column by column, ``Xs = (X - x_mean) / x_scale``
  (:class:`~sklearn.preprocessing.StandardScaler`; a constant column keeps scale 1), or, with
  ``x_scaling="shared"`` (whole spectra as inputs), centred column by column and divided by one
  shared scale, so that the kernel sees the Euclidean distance between inputs up to a constant;
- the target is standardised, ``ys = (y - y_mean) / y_scale`` with the population standard
  deviation (``ddof=0``; a constant target keeps scale 1);
- the GP models ``ys ~ N(0, K(Xs) + alpha I)`` with the default kernel
  ``C * RBF(length_scale per feature) + White`` (see :func:`default_kernel`), or one of the
  isotropic kernels of :func:`distance_kernel`.

In the user's units the model is therefore ``y ~ N(y_mean 1, y_scale^2 (K(Xs) + alpha I))`` and
``log p(y) = log p(ys) - n log(y_scale)``: :meth:`PropertyGP.log_marginal_likelihood` reports this
original-unit value.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    Kernel,
    RationalQuadratic,
    WhiteKernel,
)
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from deconv import _validation as v
from deconv.exceptions import ConvergenceWarning

CONSTANT_BOUNDS = (1e-3, 1e2)
LENGTH_SCALE_BOUNDS = (1e-2, 1e3)
NOISE_BOUNDS = (1e-5, 1e1)
MIXTURE_BOUNDS = (1e-2, 1e2)  # the rational-quadratic mixture parameter (alpha in scikit-learn)
KERNELS = ("rbf", "rational_quadratic")
X_SCALINGS = ("per_feature", "shared")


def default_kernel(n_features: int) -> Kernel:
    """The default kernel on standardised inputs and outputs.

    ``ConstantKernel(1) * RBF(length_scale=ones(n_features)) + WhiteKernel(0.1)``, i.e.

        k(a, b) = c * exp(-0.5 * sum_j ((a_j - b_j) / l_j)^2) + w * [a is b]

    with one length scale ``l_j`` per feature (automatic relevance determination). Bounds, in
    standardised units: ``c`` in (1e-3, 1e2), ``l_j`` in (1e-2, 1e3) (a length scale at the
    upper bound switches its feature off), ``w`` in (1e-5, 10).

    Parameters
    ----------
    n_features : int
        Number of input features (length-scale dimensions).

    Returns
    -------
    sklearn.gaussian_process.kernels.Kernel
    """
    n_features = v.check_positive_int("n_features", n_features)
    signal = ConstantKernel(1.0, CONSTANT_BOUNDS)
    rbf = RBF(np.ones(n_features), LENGTH_SCALE_BOUNDS)
    return signal * rbf + WhiteKernel(0.1, NOISE_BOUNDS)


def distance_kernel(kind: str = "rbf") -> Kernel:
    """An isotropic kernel on the Euclidean distance ``d = ||a - b||`` of standardised inputs.

    - ``"rbf"``: ``ConstantKernel(1) * RBF(1) + WhiteKernel(0.1)``,
      ``k = c exp(-d^2 / (2 l^2)) + w [a is b]`` (the seed paper's background and PLA cases);
    - ``"rational_quadratic"``: ``ConstantKernel(1) * RationalQuadratic(1, 1) + WhiteKernel(0.1)``,
      ``k = c (1 + d^2 / (2 m l^2))^(-m) + w [a is b]`` (the paper's noise case; its
      ``C0^2, C1, C2`` are ``c, m, l``).

    One length scale for all input dimensions: the kernel of the paper, whose GP input is a whole
    spectrum. Bounds, in standardised units: ``c`` in (1e-3, 1e2), ``l`` in (1e-2, 1e3), the
    mixture ``m`` in (1e-2, 1e2) (at the upper bound the kernel is practically the RBF), ``w`` in
    (1e-5, 10).

    Parameters
    ----------
    kind : {"rbf", "rational_quadratic"}
        The kernel family.

    Returns
    -------
    sklearn.gaussian_process.kernels.Kernel
    """
    kind = v.check_choice("kind", kind, KERNELS)
    signal = ConstantKernel(1.0, CONSTANT_BOUNDS)
    if kind == "rbf":
        shape: Kernel = RBF(1.0, LENGTH_SCALE_BOUNDS)
    else:
        shape = RationalQuadratic(
            1.0, 1.0, length_scale_bounds=LENGTH_SCALE_BOUNDS, alpha_bounds=MIXTURE_BOUNDS
        )
    return signal * shape + WhiteKernel(0.1, NOISE_BOUNDS)


class _SharedScaler:
    """Column means removed, then one scale for every column: the root of the summed column
    variances (1 when they vanish), so that the standardised inputs have total variance 1 and
    distances between rows keep their proportions."""

    def fit(self, X: np.ndarray) -> _SharedScaler:
        self.mean_ = X.mean(axis=0)
        total = float(np.sqrt(np.sum(X.var(axis=0))))
        if total <= 10 * np.finfo(float).eps * max(1.0, float(np.max(np.abs(self.mean_)))):
            total = 1.0
        self.scale_ = np.full(X.shape[1], total)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) / self.scale_


def _target_scale(y: np.ndarray, mean: float) -> float:
    """Population standard deviation of ``y``; 1 when ``y`` is constant to rounding."""
    scale = float(np.std(y))
    if scale <= 10 * np.finfo(float).eps * max(1.0, abs(mean)):
        return 1.0
    return scale


def bounds_reached(kernel: Kernel) -> list[str]:
    """Hyperparameters of ``kernel`` that sit at one of their bounds.

    Parameters
    ----------
    kernel : sklearn Kernel
        A kernel, typically a fitted one (``PropertyGP.kernel_``).

    Returns
    -------
    list of str
        One entry per hyperparameter element at a bound, e.g.
        ``"k1__k2__length_scale[0] at upper bound 1000"`` (same closeness rule as scikit-learn:
        ``numpy.isclose`` on the log scale).
    """
    reached = []
    params = kernel.get_params()
    for hyper in kernel.hyperparameters:
        if hyper.fixed:
            continue
        values = np.log(np.atleast_1d(params[hyper.name]).astype(float))
        bounds = np.log(np.atleast_2d(hyper.bounds).astype(float))
        bounds = np.broadcast_to(bounds, (values.size, 2))
        for index, (value, (low, high)) in enumerate(zip(values, bounds, strict=True)):
            label = hyper.name if values.size == 1 else f"{hyper.name}[{index}]"
            for side, bound in (("lower", low), ("upper", high)):
                if np.isclose(value, bound):
                    reached.append(f"{label} at {side} bound {np.exp(bound):g}")
    return reached


def _expected_bound(entry: str) -> bool:
    """A length scale, or a rational-quadratic mixture, at its upper bound."""
    name = entry.split(" at ")[0].split("[")[0].split("__")[-1]
    return "upper" in entry and name in ("length_scale", "alpha")


def _report_fit_warnings(caught: list[warnings.WarningMessage], reached: list[str]) -> None:
    """Re-raise scikit-learn's fit warnings as typed ones; a length scale switched off is fine."""
    for message in caught:
        text = str(message.message)
        if issubclass(message.category, SklearnConvergenceWarning) and "bound" in text:
            continue  # reported below from the fitted kernel itself
        category = (
            ConvergenceWarning
            if issubclass(message.category, SklearnConvergenceWarning)
            else message.category
        )
        warnings.warn(f"GP hyperparameter fit: {text}", category, stacklevel=v.caller_stacklevel())
    # a length scale at its upper bound switches its input off, a rational-quadratic mixture at
    # its upper bound is the RBF: both are expected
    suspicious = [entry for entry in reached if not _expected_bound(entry)]
    if suspicious:
        warnings.warn(
            "GP hyperparameters at a bound of the kernel (" + "; ".join(suspicious) + "): the "
            "property likelihood is computed at these values; a white-noise level at its lower "
            "bound means the features interpolate the property",
            ConvergenceWarning,
            stacklevel=v.caller_stacklevel(),
        )


class PropertyGP(RegressorMixin, BaseEstimator):
    """Gaussian-process regression of a property on spectral features.

    Parameters
    ----------
    kernel : sklearn Kernel, optional
        Covariance on standardised inputs and outputs. ``None`` uses
        :func:`default_kernel` with one length scale per feature.
    x_scaling : {"per_feature", "shared"}
        ``"per_feature"``: every input column to mean 0 and variance 1
        (:class:`~sklearn.preprocessing.StandardScaler`). ``"shared"``: columns centred, then all
        divided by one scale, the root of the summed column variances (for whole spectra as
        inputs: distances between spectra keep their proportions, and noise-only points are not
        blown up to the weight of the peaks).
    alpha : float
        Value added to the diagonal of the kernel matrix (jitter, in standardised units).
    n_restarts_optimizer : int
        Extra optimiser starts drawn log-uniformly inside the kernel bounds.
    random_state : int, RandomState or None
        Seed of the restarts.
    optimizer : "fmin_l_bfgs_b", callable or None
        Hyperparameter optimiser passed to ``GaussianProcessRegressor``; ``None`` keeps the
        kernel's hyperparameters as given.

    Attributes
    ----------
    kernel_ : Kernel
        The kernel with fitted hyperparameters.
    gp_ : GaussianProcessRegressor
        The fitted regressor on standardised data.
    x_scaler_ : StandardScaler or shared scaler
        Standardisation of the inputs (``mean_`` and ``scale_`` per column; with
        ``x_scaling="shared"`` every entry of ``scale_`` is the one shared scale).
    y_mean_, y_std_ : float
        Standardisation of the target (``y_std_`` is the population standard deviation).
    n_features_in_ : int
        Number of features seen in ``fit``.
    bounds_reached_ : list of str
        Fitted hyperparameters that sit at a bound of :func:`default_kernel` (or of the given
        kernel), e.g. ``"k1__k2__length_scale[1] at upper bound 1000"``. A length scale at its
        upper bound switches that feature off and is expected; any other entry also raises a
        :class:`deconv.exceptions.ConvergenceWarning`.

    Notes
    -----
    The model in the user's units is ``y ~ N(y_mean_, y_std_^2 (K(Xs) + alpha I))``; see the
    module docstring.
    """

    def __init__(
        self,
        kernel: Kernel | None = None,
        *,
        x_scaling: str = "per_feature",
        alpha: float = 1e-10,
        n_restarts_optimizer: int = 2,
        random_state: Any = None,
        optimizer: Any = "fmin_l_bfgs_b",
    ) -> None:
        self.kernel = kernel
        self.x_scaling = x_scaling
        self.alpha = alpha
        self.n_restarts_optimizer = n_restarts_optimizer
        self.random_state = random_state
        self.optimizer = optimizer

    def fit(self, X: Any, y: Any) -> PropertyGP:
        """Standardise ``X`` and ``y`` and fit the hyperparameters by maximum marginal likelihood.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)

        Returns
        -------
        PropertyGP
            ``self``.
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        v.check_choice("x_scaling", self.x_scaling, X_SCALINGS)
        scaler = StandardScaler() if self.x_scaling == "per_feature" else _SharedScaler()
        self.x_scaler_ = scaler.fit(X)
        self.y_mean_ = float(np.mean(y))
        self.y_std_ = _target_scale(y, self.y_mean_)
        kernel = default_kernel(X.shape[1]) if self.kernel is None else self.kernel
        self.gp_ = GaussianProcessRegressor(
            kernel=clone(kernel),
            alpha=self.alpha,
            optimizer=self.optimizer,
            n_restarts_optimizer=self.n_restarts_optimizer,
            normalize_y=False,
            random_state=self.random_state,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SklearnConvergenceWarning)
            self.gp_.fit(self.x_scaler_.transform(X), (y - self.y_mean_) / self.y_std_)
        self.kernel_ = self.gp_.kernel_
        self.bounds_reached_ = bounds_reached(self.kernel_)
        _report_fit_warnings(caught, self.bounds_reached_)
        return self

    def predict(self, X: Any, return_std: bool = False) -> np.ndarray | tuple:
        """Predictive mean (and standard deviation) in the user's units.

        Parameters
        ----------
        X : array_like, shape (n_queries, n_features)
        return_std : bool
            Also return the predictive standard deviation (it includes the fitted white noise,
            as scikit-learn's ``GaussianProcessRegressor`` does).

        Returns
        -------
        mean : ndarray, shape (n_queries,)
        std : ndarray, shape (n_queries,)
            Only when ``return_std`` is true.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        Xs = self.x_scaler_.transform(X)
        if return_std:
            mean, std = self.gp_.predict(Xs, return_std=True)
            return self.y_mean_ + self.y_std_ * mean, self.y_std_ * std
        return self.y_mean_ + self.y_std_ * self.gp_.predict(Xs)

    def log_marginal_likelihood(
        self, theta: np.ndarray | None = None, eval_gradient: bool = False
    ) -> float | tuple[float, np.ndarray]:
        """Log marginal likelihood of the training target in its original units.

        ``log p(y | X, theta) = log p(ys | Xs, theta) - n log(y_std_)``: the standardisation
        ``ys = (y - y_mean_) / y_std_`` is a fixed affine map, whose Jacobian contributes
        ``-n log(y_std_)``. The gradient with respect to ``theta`` is that of the standardised
        value (the Jacobian does not depend on ``theta``).

        Parameters
        ----------
        theta : array_like, optional
            Log-transformed kernel hyperparameters (``kernel_.theta`` layout); ``None`` uses the
            fitted ones.
        eval_gradient : bool
            Also return the gradient with respect to ``theta``.

        Returns
        -------
        float, or (float, ndarray)
        """
        check_is_fitted(self)
        jacobian = self.gp_.y_train_.shape[0] * np.log(self.y_std_)
        if theta is None and not eval_gradient:
            return float(self.gp_.log_marginal_likelihood_value_ - jacobian)
        if theta is None:
            theta = self.kernel_.theta
        out = self.gp_.log_marginal_likelihood(theta, eval_gradient=eval_gradient)
        if eval_gradient:
            return float(out[0] - jacobian), out[1]
        return float(out - jacobian)
