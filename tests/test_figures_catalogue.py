"""The numbers behind the catalogue figures against closed forms: sub-threshold reach of the
scalar and diagonal models (k log10 lambda), of adLIF / SE / EF against powers of the Jacobians
typed from docs/catalogue.md, LIF's and PLIF's spiking reach against the product of their one-step
derivatives written out here, and the stability maps against the analytic boundaries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstmlif.figures import fig_catalogue_reach, fig_catalogue_stability
from lstmlif.figures.registry import discover
from lstmlif.neurons import get_surrogate, model_class, model_names, simulate

T, BATCH, KMAX, SEED = 160, 12, 100, 1


@pytest.fixture(scope="module")
def reach():
    return fig_catalogue_reach.compute(T=T, batch=BATCH, kmax=KMAX, seed=SEED)


@pytest.fixture(scope="module")
def maps():
    return fig_catalogue_stability.compute(n=40)


def _log10_powers(J: np.ndarray, kmax: int) -> np.ndarray:
    return np.array(
        [math.log10(np.linalg.norm(np.linalg.matrix_power(J, k), 2)) for k in range(1, kmax + 1)]
    )


def test_discovered_with_captions():
    specs = discover()
    assert {"catalogue_reach", "catalogue_stability"} <= set(specs)


def test_reach_covers_every_registered_model(reach):
    assert list(reach["models"]) == list(model_names())
    for name in model_names():
        assert reach[f"{name}/sub"].shape == (KMAX,)
        assert reach[f"{name}/spiking_median"].shape == (KMAX,)
        assert float(reach[f"{name}/rate"]) > 0, name  # the trajectories spike


def test_subthreshold_reach_closed_forms(reach):
    k = np.arange(1, KMAX + 1)
    np.testing.assert_allclose(reach["lif/sub"], k * math.log10(0.8), rtol=1e-12)
    # ALIF at tau_m = 10, tau_a = 60: J = diag(e^{-1/10}, e^{-1/60}), the slower mode dominates
    np.testing.assert_allclose(reach["alif/sub"], -k / (60 * math.log(10)), rtol=1e-10)
    # PLIF at w = -1: lambda = 1 - sigmoid(-1) = sigmoid(1)
    lam = 1 / (1 + math.exp(-1.0))
    np.testing.assert_allclose(reach["plif/sub"], k * math.log10(lam), rtol=1e-10)


def test_subthreshold_reach_of_the_adaptive_models(reach):
    p = model_class("adlif").verify_params
    al, be, a = p["alpha"], p["beta"], p["a"]
    J = np.array([[al - (1 - al) * a, -(1 - al) * be], [a, be]])
    np.testing.assert_allclose(reach["adlif/sub"], _log10_powers(J, KMAX), rtol=1e-9, atol=1e-12)
    p = model_class("se-adlif").verify_params
    al, be = math.exp(-1 / p["tau_u"]), math.exp(-1 / p["tau_w"])
    A, D = p["q"] * p["a"], (1 - al) * (1 - be)
    se = np.array([[al, -(1 - al)], [(1 - be) * A * al, be - D * A]])
    ef = np.array([[al, -(1 - al)], [(1 - be) * A, be]])
    for name, J in (("se-adlif", se), ("ef-adlif", ef)):
        np.testing.assert_allclose(reach[f"{name}/sub"], _log10_powers(J, KMAX), rtol=1e-9)


def _nearest_median(x: np.ndarray) -> np.ndarray:
    return np.quantile(x, 0.5, axis=1, method="nearest")


def test_lif_spiking_reach_is_the_product_of_alpha_minus_psi(reach):
    """LIF (paper convention, subtract reset): dv[t]/dv[t-1] = alpha - v_th psi(v[t-1] - v_th)."""
    model = model_class("lif")(**model_class("lif").verify_params)
    current = fig_catalogue_reach._current("lif", T, BATCH, SEED)
    v = simulate(model, current).states["v"]
    psi = get_surrogate("triangle")(v - 1.0)
    steps = 0.8 - psi[:-1]  # the derivative of step t (t = 1..T-1) in row t-1
    logs = np.cumsum(np.log10(np.abs(steps[::-1])), axis=0)[:KMAX]
    np.testing.assert_allclose(reach["lif/spiking_median"], _nearest_median(logs), rtol=1e-9)


def test_plif_spiking_reach_is_cut_by_the_detached_hard_reset(reach):
    """PLIF (detached hard reset): dH[t]/dH[t-1] = (1 - k)(1 - S[t-1]); a spike zeroes it."""
    cls = model_class("plif")
    model = cls(**cls.verify_params)
    current = fig_catalogue_reach._current("plif", T, BATCH, SEED)
    S = simulate(model, current).spikes
    lam = 1 / (1 + math.exp(-1.0))
    steps = lam * (1 - S[:-1])
    with np.errstate(divide="ignore"):
        logs = np.cumsum(np.log10(steps[::-1]), axis=0)[:KMAX]
    expected = _nearest_median(logs)
    assert np.isneginf(expected[-1])
    np.testing.assert_array_equal(np.isneginf(reach["plif/spiking_median"]), np.isneginf(expected))
    fin = np.isfinite(expected)
    np.testing.assert_allclose(reach["plif/spiking_median"][fin], expected[fin], rtol=1e-9)


def test_adlif_map_against_a_equal_beta_minus_one(maps):
    beta, a = maps["adlif/beta"], maps["adlif/a"]
    np.testing.assert_array_equal(maps["adlif/boundary"], beta - 1)
    B, A = np.meshgrid(beta, a, indexing="xy")
    away = np.abs(A - (B - 1)) > 1e-9
    rho = maps["adlif/rho"]
    np.testing.assert_array_equal((rho > 1)[away], (A < B - 1)[away])
    assert np.any(rho > 1) and np.any(rho < 1)


@pytest.mark.parametrize("kind", ["se", "ef"])
@pytest.mark.parametrize("axis", ["tau_u", "tau_w"])
def test_se_ef_maps_against_their_bounds(maps, kind, axis):
    tag = f"{kind}_{axis}"
    x, A = maps[f"{tag}/x"], maps[f"{tag}/A"]
    tu = x if axis == "tau_u" else 25.0
    tw = x if axis == "tau_w" else 60.0
    al, be = np.exp(-1 / np.asarray(tu)), np.exp(-1 / np.asarray(tw))
    D = (1 - al) * (1 - be)
    upper = (1 + al) * (1 + be) / D if kind == "se" else (1 - al * be) / D
    np.testing.assert_allclose(maps[f"{tag}/upper"], upper, rtol=1e-12)
    X, AA = np.meshgrid(x, A, indexing="xy")
    U = np.broadcast_to(upper, X.shape)
    away = (np.abs(AA + 1) > 1e-9) & (np.abs(AA - U) > 1e-9 * U)
    stable = (AA > -1) & (AA < U)
    rho = maps[f"{tag}/rho"]
    np.testing.assert_array_equal((rho < 1)[away], stable[away])
    assert np.any(~stable) and np.any(stable)
    if kind == "se":  # a complex pair has |lambda| = sqrt(alpha beta) whatever A
        al2, be2 = np.broadcast_to(al, X.shape), np.broadcast_to(be, X.shape)
        tr = al2 + be2 - (1 - al2) * (1 - be2) * AA
        cplx = tr * tr < 4 * al2 * be2
        assert cplx.sum() > 50
        np.testing.assert_allclose(rho[cplx], np.sqrt(al2 * be2)[cplx], rtol=1e-10)


def test_official_box_grows_under_ef_only(maps):
    """Inside tau_u in [5, 25] (tau_w = 60), A in [0, 120]: EF grows somewhere, SE nowhere."""
    for kind, grows in (("se", False), ("ef", True)):
        x, A = maps[f"{kind}_tau_u/x"], maps[f"{kind}_tau_u/A"]
        X, AA = np.meshgrid(x, A, indexing="xy")
        box = (X >= 5) & (X <= 25) & (AA >= 0) & (AA <= 120)
        assert bool(np.any(maps[f"{kind}_tau_u/rho"][box] > 1)) == grows
    tu = maps["bounds/tau_u"]
    assert np.all(maps["bounds/se_tau_w60"] > maps["bounds/ef_tau_w60"])
    # EF's bound is about tau_u + tau_w (1 - alpha beta ~ 1/tau_u + 1/tau_w, D ~ 1/(tau_u tau_w))
    np.testing.assert_allclose(maps["bounds/ef_tau_w300"], tu + 300, rtol=0.02)


def test_make_writes_png_pdf_npz(tmp_path):
    for mod, kw in (
        (fig_catalogue_stability, {"n": 12}),
        (fig_catalogue_reach, {"T": 40, "batch": 4, "kmax": 20}),
    ):
        result = mod.make(tmp_path, **kw)
        suffixes = sorted(p.suffix for p in result["paths"])
        assert suffixes == [".npz", ".pdf", ".png"]
        for p in result["paths"]:
            assert p.stat().st_size > 0
