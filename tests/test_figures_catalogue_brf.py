"""The numbers behind the resonator stability maps (figures/fig_catalogue_brf.py) against the
closed forms: |lambda_+-|^2 = (1 + dt b)^2 + (dt omega)^2 with b = p(omega) - |b_offset| (BRF) or
-|b_offset| (RF), BRF's third eigenvalue 0.9, and the boundaries p, p^- written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstmlif.analysis.stability import spectral_radius
from lstmlif.figures import fig_catalogue_brf
from lstmlif.figures.registry import discover
from lstmlif.neurons.catalogue.brf import BRF, BRF_INIT, RF

DT = 0.01


@pytest.fixture(scope="module")
def data():
    return fig_catalogue_brf.compute(n=40)


def _s(omega):
    return np.sqrt(1.0 - (DT * omega) ** 2)


def test_discovered_with_a_caption():
    spec = discover()["catalogue_brf"]
    assert "p(omega)" in spec.caption and "RF" in spec.caption


def test_boundaries_are_the_closed_forms(data):
    w = data["omega"]
    np.testing.assert_allclose(data["p"], (-1 + _s(w)) / DT, rtol=1e-13)
    np.testing.assert_allclose(data["p_minus"], (-1 - _s(w)) / DT, rtol=1e-13)
    np.testing.assert_array_equal(data["brf/upper"], 0.0)
    np.testing.assert_allclose(data["brf/lower"], 2 * _s(w) / DT, rtol=1e-13)
    np.testing.assert_allclose(data["rf/lower"], (1 - _s(w)) / DT, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(data["rf/upper"], (1 + _s(w)) / DT, rtol=1e-13)
    for c in (0.1, 1.0, 3.0):
        np.testing.assert_allclose(data[f"brf_b/{c:g}"], (-1 + _s(w)) / DT - c, rtol=1e-13)


def test_spectral_radii_are_the_closed_forms(data):
    W, C = np.meshgrid(data["omega"], data["c"], indexing="xy")
    pair_brf = np.sqrt((_s(W) - DT * C) ** 2 + (DT * W) ** 2)
    np.testing.assert_allclose(data["brf/rho"], np.maximum(pair_brf, 0.9), rtol=1e-12)
    pair_rf = np.sqrt((1 - DT * C) ** 2 + (DT * W) ** 2)
    np.testing.assert_allclose(data["rf/rho"], pair_rf, rtol=1e-12)
    Wb, Bb = np.meshgrid(data["omega"], data["b"], indexing="xy")
    np.testing.assert_allclose(data["b/rho"], np.sqrt((1 + DT * Bb) ** 2 + (DT * Wb) ** 2),
                               rtol=1e-12)  # fmt: skip


def test_the_maps_change_sign_exactly_at_the_boundaries(data):
    W, C = np.meshgrid(data["omega"], data["c"], indexing="xy")
    lower = np.broadcast_to(data["brf/lower"], W.shape)
    clear = np.abs(C - lower) > 1e-6 * lower
    inside = (C > 0) & (C < lower)
    assert np.all((data["brf/rho"] < 1)[clear & (C > 0)] == inside[clear & (C > 0)])
    rf_in = (C > data["rf/lower"]) & (C < data["rf/upper"])
    margin = np.minimum(np.abs(C - data["rf/lower"]), np.abs(C - data["rf/upper"]))
    ok = margin > 1e-6
    assert np.all((data["rf/rho"] < 1)[ok] == rf_in[ok])
    # on the curves themselves |lambda| = 1 (the models at exactly those values)
    w = data["omega"]
    for rho in (
        spectral_radius(BRF(omega=w, b_offset=data["brf/lower"])),
        spectral_radius(BRF(omega=w, b_offset=0.0)),
        spectral_radius(RF(omega=w, b_offset=data["rf/lower"])),
        spectral_radius(RF(omega=w, b_offset=data["rf/upper"])),
    ):
        np.testing.assert_allclose(rho, 1.0, atol=1e-12)


def test_the_official_boxes_decay_under_brf_and_mostly_grow_under_rf():
    for task, r in BRF_INIT.items():
        w = np.linspace(*r["omega"], 9)[:, None]
        c = np.linspace(*r["b_offset"], 9)[None, :]
        assert np.all(spectral_radius(BRF(omega=w, b_offset=c)) < 1), task
    r = BRF_INIT["S/PS-MNIST"]
    w = np.linspace(*r["omega"], 71)[:, None]
    c = np.linspace(*r["b_offset"], 10)[None, :]
    grows = spectral_radius(RF(omega=w, b_offset=c)) > 1
    # RF grows iff dt omega^2 > c (2 - dt c): at omega >= 15 > sqrt(200) every c <= 1 grows
    np.testing.assert_array_equal(grows, DT * w**2 > c * (2 - DT * c))
    assert grows.all() and 15.0 > math.sqrt(200.0)


def test_make_writes_the_files(tmp_path):
    result = fig_catalogue_brf.make(tmp_path, n=12)
    names = sorted(p.name for p in result["paths"])
    assert names == ["catalogue_brf.npz", "catalogue_brf.pdf", "catalogue_brf.png"]
    saved = np.load(tmp_path / "catalogue_brf.npz")
    np.testing.assert_array_equal(saved["brf/rho"], result["data"]["brf/rho"])
    with pytest.raises(ValueError, match="n must be an int"):
        fig_catalogue_brf.compute(n=3)
