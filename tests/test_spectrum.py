"""Spectrum and SpectrumSeries: validation at construction, with exact error messages."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from deconv import Spectrum, SpectrumSeries

X = np.linspace(0.0, 1.0, 11)
Y = np.sin(X)


def test_ascending_input_is_kept_exactly():
    spectrum = Spectrum(X, Y, name="s")
    np.testing.assert_array_equal(spectrum.x, X)
    np.testing.assert_array_equal(spectrum.y, Y)
    assert spectrum.descending is False
    assert spectrum.n_points == 11


def test_descending_axis_is_stored_ascending_and_remembered():
    spectrum = Spectrum(X[::-1], Y[::-1], sigma=np.full(11, 0.1))
    np.testing.assert_array_equal(spectrum.x, X)
    np.testing.assert_array_equal(spectrum.y, Y)
    assert spectrum.descending is True


def test_arrays_are_read_only_copies():
    x = X.copy()
    spectrum = Spectrum(x, Y)
    x[0] = 99.0
    assert spectrum.x[0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        spectrum.y[0] = 1.0


def test_integer_input_is_converted_to_float64():
    spectrum = Spectrum([1, 2, 3], [4, 5, 6])
    assert spectrum.x.dtype == np.float64


@pytest.mark.parametrize(
    ("x", "y", "error", "message"),
    [
        (
            X,
            np.r_[Y[:3], np.nan, Y[4:]],
            ValueError,
            "y must be finite (no NaN or inf); got 'NaN at index 3'",
        ),
        (
            np.r_[X[:5], np.inf, X[6:]],
            Y,
            ValueError,
            "x must be finite (no NaN or inf); got 'inf at index 5'",
        ),
        (X, Y[:-1], ValueError, "y must have the same length as x (11); got 'length 10'"),
        ([], [], ValueError, "x must not be empty; got 'shape (0,)'"),
        (
            [1.0, 2.0, 2.0],
            [1.0, 2.0, 3.0],
            ValueError,
            "x must have no duplicate values; got '2.0 repeated at indices 1 and 2'",
        ),
        (
            [1.0, 3.0, 2.0],
            [1.0, 2.0, 3.0],
            ValueError,
            "x must be strictly increasing or strictly decreasing; "
            "got 'direction changes at index 2 (value 2.0)'",
        ),
        (
            ["a", "b"],
            [1.0, 2.0],
            TypeError,
            "x must hold real numbers (integer or float dtype); got 'dtype <U1'",
        ),
        (
            X,
            np.ones(11, dtype=complex),
            TypeError,
            "y must hold real numbers (integer or float dtype); got 'dtype complex128'",
        ),
        ("1,2,3", Y, TypeError, "x must be an array of numbers, not a string; got '1,2,3'"),
        (X, np.ones((11, 2)), ValueError, "y must be 1-dimensional; got 'shape (11, 2)'"),
        ([1.0], [1.0], ValueError, "x must hold at least 2 points; got '1 point'"),
    ],
)
def test_bad_input_names_argument_rule_and_value(x, y, error, message):
    with pytest.raises(error) as info:
        Spectrum(x, y)
    assert str(info.value) == message


def test_bad_sigma_is_rejected():
    with pytest.raises(ValueError, match=r"sigma must be > 0 everywhere; got 'min -1.0'"):
        Spectrum(X, Y, sigma=np.r_[np.ones(10), -1.0])
    with pytest.raises(ValueError, match="sigma must have the same length as x"):
        Spectrum(X, Y, sigma=np.ones(3))


def test_crop_keeps_the_window_and_checks_bounds():
    cropped = Spectrum(X, Y).crop(0.25, 0.75)
    np.testing.assert_allclose(cropped.x, X[3:8])
    with pytest.raises(ValueError, match="lower must be < upper"):
        Spectrum(X, Y).crop(0.8, 0.2)


def test_series_indexing_by_position_and_id():
    y = np.vstack([Y, 2 * Y, 3 * Y])
    props = pd.DataFrame({"rate": [0.1, 0.2, 0.3]}, index=["a", "b", "c"])
    series = SpectrumSeries(X[::-1], y[:, ::-1], sample_ids=["a", "b", "c"], properties=props)
    assert len(series) == 3
    np.testing.assert_array_equal(series.x, X)
    np.testing.assert_allclose(series["b"].y, 2 * Y)
    np.testing.assert_allclose(series[-1].y, 3 * Y)
    assert series[0].name == "a" and series[0].descending
    np.testing.assert_array_equal(series.property("rate"), [0.1, 0.2, 0.3])
    assert [s.name for s in series] == ["a", "b", "c"]


def test_series_properties_are_reordered_to_sample_order():
    y = np.vstack([Y, 2 * Y])
    props = pd.DataFrame({"rate": [2.0, 1.0]}, index=["b", "a"])
    series = SpectrumSeries(X, y, sample_ids=["a", "b"], properties=props)
    np.testing.assert_array_equal(series.property("rate"), [1.0, 2.0])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"sample_ids": ["a", "a"]},
            ValueError,
            "sample_ids must hold unique sample ids; got \"'a' appears more than once\"",
        ),
        (
            {"sample_ids": ["a"]},
            ValueError,
            "sample_ids must have one id per spectrum (2); got '1 ids'",
        ),
        (
            {"properties": pd.DataFrame({"t": [1.0]}, index=["0"])},
            ValueError,
            "properties must have a row for every sample id; got \"missing ['1']\"",
        ),
        (
            {"properties": [1, 2]},
            TypeError,
            "properties must be a pandas DataFrame indexed by sample id; got <class 'list'>",
        ),
        (
            {"sigma": np.ones((2, 3))},
            ValueError,
            "sigma must have the shape of y (2, 11); got 'shape (2, 3)'",
        ),
    ],
)
def test_series_bad_input(kwargs, error, message):
    with pytest.raises(error) as info:
        SpectrumSeries(X, np.vstack([Y, Y]), **kwargs)
    assert str(info.value) == message


def test_series_rejects_nan_and_length_mismatch():
    nan_message = r"y of sample '1' must be finite \(no NaN or inf\); got 'NaN at index 4'"
    with pytest.raises(ValueError, match=nan_message):
        y = np.vstack([Y, Y])
        y[1, 4] = np.nan
        SpectrumSeries(X, y)
    with pytest.raises(ValueError, match="y must have the same length as x"):
        SpectrumSeries(X, np.ones((2, 5)))


# --------------------------------------------------------------------------------------------
# inputs no fit can use: masked arrays, 1-point or overflowing axes, constant spectra
# --------------------------------------------------------------------------------------------

MASKED = "must not be a masked array (numpy.ma); fill or drop the masked points first"


@pytest.mark.parametrize("name", ["x", "y", "sigma"])
def test_masked_arrays_are_refused_not_unmasked(name):
    arrays = {"x": X, "y": Y, "sigma": np.full(11, 0.1)}
    arrays[name] = np.ma.masked_array(arrays[name], mask=np.arange(11) == 3)
    with pytest.raises(TypeError) as info:
        Spectrum(**arrays)
    assert str(info.value) == f"{name} {MASKED}; got 'masked array with 1 masked values'"
    rows = {"x": X, "y": np.vstack([Y, 2 * Y]), "sigma": np.full((2, 11), 0.1)}
    rows[name] = np.ma.masked_array(rows[name])  # even with nothing masked
    with pytest.raises(TypeError) as info:
        SpectrumSeries(**rows)
    assert str(info.value) == f"{name} {MASKED}; got 'masked array with 0 masked values'"


def test_series_refuses_a_one_point_axis():
    with pytest.raises(ValueError) as info:
        SpectrumSeries([5.0], [[1.0], [2.0]])
    assert str(info.value) == "x must hold at least 2 points; got '1 point'"


@pytest.mark.parametrize(
    ("x", "value"),
    [
        ([-1e308, 0.0, 1e308], "-1e+308 at index 0"),  # x.max() - x.min() is inf
        ([1.0, 2.0, 1e301], "1e+301 at index 2"),
    ],
)
def test_overflowing_axis_is_refused(x, value):
    message = f"x must hold values within +-1e+300 (a span that fits in a float); got '{value}'"
    with pytest.raises(ValueError) as info:
        Spectrum(x, [1.0, 2.0, 3.0])
    assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        SpectrumSeries(x, [[1.0, 2.0, 3.0]])
    assert str(info.value) == message


def test_axis_at_the_limit_is_accepted():
    spectrum = Spectrum([-1e300, 1e300], [1.0, 2.0])
    np.testing.assert_array_equal(spectrum.x, [-1e300, 1e300])


def test_constant_spectrum_is_refused():
    with pytest.raises(ValueError) as info:
        Spectrum(X, np.full(11, 0.5))
    assert str(info.value) == (
        "y must vary (be non-constant): a constant spectrum holds no signal; got 'all 0.5'"
    )
    with pytest.raises(ValueError) as info:
        Spectrum([0.0, 1.0], [-1e308, 1e308])
    assert str(info.value) == (
        "y must have a finite range (max - min overflows); got 'min -1e+308, max 1e+308'"
    )


# --------------------------------------------------------------------------------------------
# series: property table ids, invalid rows
# --------------------------------------------------------------------------------------------


def test_series_refuses_duplicate_ids_in_the_property_table():
    props = pd.DataFrame({"rate": [1.0, 2.0, 3.0, 4.0]}, index=["a", "b", "c", "a"])
    with pytest.raises(ValueError) as info:
        SpectrumSeries(X, np.vstack([Y, 2 * Y, 3 * Y]), sample_ids=list("abc"), properties=props)
    assert str(info.value) == (
        "properties must have one row per sample id (its index holds duplicates); "
        "got \"duplicated ids ['a']\""
    )


def _one_good_row_and_three_bad():
    y = np.vstack([Y, 2 * Y, 3 * Y, 4 * Y])
    y[1, 4] = np.nan
    y[2] = 7.0
    sigma = np.full((4, 11), 0.1)
    sigma[3, 0] = 0.0
    props = pd.DataFrame({"rate": [0.1, 0.2, 0.3, 0.4]}, index=list("abcd"))
    return {"y": y, "sigma": sigma, "sample_ids": list("abcd"), "properties": props}


REASONS = {
    "b": "y of sample 'b' must be finite (no NaN or inf); got 'NaN at index 4'",
    "c": "y of sample 'c' must vary (be non-constant): a constant spectrum holds no signal; "
    "got 'all 7.0'",
    "d": "sigma of sample 'd' must be > 0 everywhere; got 'min 0.0'",
}


def test_series_invalid_raise_names_the_first_bad_sample():
    data = _one_good_row_and_three_bad()
    with pytest.raises(ValueError) as info:
        SpectrumSeries(X, **data)
    assert str(info.value) == REASONS["b"]
    with pytest.raises(ValueError) as info:
        SpectrumSeries(X, **data, invalid="raise")
    assert str(info.value) == REASONS["b"]


def test_series_invalid_record_leaves_bad_rows_out():
    data = _one_good_row_and_three_bad()
    series = SpectrumSeries(
        X[::-1],
        data["y"][:, ::-1],
        sigma=data["sigma"][:, ::-1],
        sample_ids=data["sample_ids"],
        properties=data["properties"],
        invalid="record",
    )
    assert series.sample_ids == ["a"]
    # the NaN's index is counted in the order given (descending here: 10 - 4)
    assert series.rejected == {**REASONS, "b": REASONS["b"].replace("index 4", "index 6")}
    np.testing.assert_array_equal(series.y, [Y])
    np.testing.assert_array_equal(series.sigma, np.full((1, 11), 0.1))
    np.testing.assert_array_equal(series.property("rate"), [0.1])
    assert list(series.properties.index) == ["a"]
    assert series.descending
    np.testing.assert_array_equal(series.x, X)


def test_series_rejected_survives_replace_and_is_checked():
    data = _one_good_row_and_three_bad()
    series = SpectrumSeries(X, **data, invalid="record")
    renamed = dataclasses.replace(series, x_unit="cm-1")
    assert renamed.rejected == REASONS
    assert renamed.sample_ids == ["a"]
    assert SpectrumSeries(X, np.vstack([Y, 2 * Y])).rejected == {}
    with pytest.raises(ValueError) as info:
        SpectrumSeries(X, np.vstack([Y, 2 * Y]), rejected={"0": "bad"})
    assert str(info.value) == (
        "rejected must name only samples left out of the series; got \"kept ['0']\""
    )
    with pytest.raises(TypeError, match="rejected must be a mapping of sample id to reason"):
        SpectrumSeries(X, np.vstack([Y, 2 * Y]), rejected=["0"])
    with pytest.raises(ValueError) as info:
        SpectrumSeries(X, np.vstack([Y, 2 * Y]), invalid="skip")
    assert str(info.value) == "invalid must be one of ('raise', 'record'); got 'skip'"


def test_series_with_every_row_invalid_still_raises():
    y = np.vstack([np.full(11, 1.0), np.full(11, 2.0)])
    with pytest.raises(ValueError) as info:
        SpectrumSeries(X, y, invalid="record", rejected={"z": "unreadable"})
    assert str(info.value) == (
        "y must hold at least one valid spectrum; got none of 3 samples valid, "
        "the first rejected: unreadable"
    )
