"""analysis.flow: log-space Jacobian products, spike-aware Jacobians along trajectories, and the
network gradient maps. Expected values come from hand-derived formulas (docs/theory.md section 4),
direct matrix products, or a second autograd path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lstmlif.analysis.flow import (
    FeedForwardSNN,
    digits_sequences,
    jacobians_along,
    log10_matrix_norm,
    log10_product_norms,
    network_gradient_maps,
    quantile_band,
    trajectory_flow,
)
from lstmlif.neurons import ALIF, LIF, LSTMLIF, simulate

TRI = lambda x: np.maximum(0.0, 1.0 - np.abs(x))  # noqa: E731  triangle psi, width 1


# ----------------------------------------------------------------------------- products


def test_scalar_product_is_k_log10_alpha_far_below_the_smallest_double():
    logs = log10_product_norms(np.full((10000, 1, 1), 0.8))
    k = np.arange(1, 10001)
    np.testing.assert_allclose(logs, k * math.log10(0.8), rtol=0, atol=1e-9)
    assert logs[-1] == pytest.approx(-969.1001300805639, abs=1e-9)  # 0.8**10000 < 5e-324


@pytest.mark.parametrize("ord", [1, 2, np.inf, "fro"])
def test_products_match_direct_multiplication(ord, rng):
    J = rng.normal(size=(30, 3, 2, 2))
    logs = log10_product_norms(J, ord=ord)
    for b in range(3):
        M = np.eye(2)
        for k in range(1, 31):
            M = M @ J[30 - k, b]  # d x[T]/d x[T-k] = J_T ... J_{T-k+1}
            expected = np.linalg.norm(M, ord=ord)
            assert logs[k - 1, b] == pytest.approx(math.log10(expected), abs=1e-10)


def test_a_zero_jacobian_gives_minus_inf_for_ever_after():
    J = np.ones((5, 1, 1)) * 0.5
    J[2] = 0.0  # the third step from the start, i.e. k = 3 from the end
    logs = log10_product_norms(J)
    np.testing.assert_allclose(logs[:2], [math.log10(0.5), 2 * math.log10(0.5)])
    assert np.all(np.isneginf(logs[2:]))


def test_product_norms_reject_bad_input():
    with pytest.raises(ValueError, match="shape"):
        log10_product_norms(np.ones((4, 2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        log10_product_norms(np.full((4, 1, 1), np.nan))
    with pytest.raises(ValueError, match="norm order"):
        log10_product_norms(np.ones((4, 1, 1)), ord=3)
    with pytest.raises(ValueError, match="norm order"):
        log10_matrix_norm(np.eye(2), ord=True)
    with pytest.raises(ValueError, match="square"):
        log10_matrix_norm(np.ones(3))


def test_quantile_band_ranks_minus_inf_and_rejects_nan():
    v = np.array([[-np.inf, 0.0, 1.0, 2.0, 3.0]])
    lo, med, hi = quantile_band(v, (0.1, 0.5, 0.9))[:, 0]
    assert np.isneginf(lo) and med == 1.0 and hi == 3.0
    with pytest.raises(ValueError, match="NaN"):
        quantile_band(np.array([[np.nan, 1.0]]))


# ----------------------------------------------------------------------------- jacobians


def _spiking_run(model, rng, T=300, B=64, mu=0.2, sigma=0.5):
    current = rng.normal(mu, sigma, size=(T, B))
    trace = simulate(model, current)
    assert trace.spikes.sum() > 50  # spikes happened: the psi terms are exercised
    return current, trace


@pytest.mark.parametrize("convention", ["paper", "code"])
def test_lif_jacobian_is_alpha_minus_reset_psi(convention, rng):
    model = LIF(alpha=0.8, convention=convention)
    current, trace = _spiking_run(model, rng)
    J = jacobians_along(model, trace, current)[..., 0, 0]
    psi = TRI(trace.states["v"][:-1] - 1.0)
    assert np.count_nonzero(psi) > 100
    expected = 0.8 - psi if convention == "paper" else 0.8 * (1.0 - psi)
    np.testing.assert_allclose(J, expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("convention", ["paper", "code"])
def test_lstmlif_jacobian_matches_theory_section_4(convention, rng):
    b1, b2, g = -0.5, 0.5, 0.5
    model = LSTMLIF(beta1=b1, beta2=b2, gamma=g, convention=convention)
    current, trace = _spiking_run(model, rng)
    J = jacobians_along(model, trace, current)
    psi = TRI(trace.states["s"][:-1] - 1.0)
    assert np.count_nonzero(psi) > 100
    det = J[..., 0, 0] * J[..., 1, 1] - J[..., 0, 1] * J[..., 1, 0]
    np.testing.assert_allclose(det, 1.0 - psi, rtol=0, atol=1e-13)
    if convention == "paper":
        np.testing.assert_allclose(J[..., 0, 0], 1.0, atol=0)
        np.testing.assert_allclose(J[..., 0, 1], b1 - g * psi, atol=1e-15)
        np.testing.assert_allclose(J[..., 1, 0], b2, atol=0)
        np.testing.assert_allclose(J[..., 1, 1], 1 + b2 * (b1 - g * psi) - psi, atol=1e-15)


def test_alif_jacobian_matches_hand_derivation(rng):
    model = ALIF(tau_m=20.0, tau_a=200.0, beta_a=1.8, b0=0.01)
    current, trace = _spiking_run(model, rng, mu=0.6, sigma=1.0)
    J = jacobians_along(model, trace, current)
    u, a, S = trace.states["u"][:-1], trace.states["a"][:-1], trace.spikes[:-1]
    alpha, rho = math.exp(-1 / 20), math.exp(-1 / 200)
    psi = TRI(u - 0.01 - 1.8 * a)
    assert np.count_nonzero(psi * S) > 20
    a_new = rho * a + (1 - rho) * S
    A_new = 0.01 + 1.8 * a_new
    # u' = alpha u + (1-alpha) I - A' S, a' = rho a + (1-rho) S, S = H(u - b0 - beta_a a).
    np.testing.assert_allclose(J[..., 1, 0], (1 - rho) * psi, atol=1e-15)
    np.testing.assert_allclose(J[..., 1, 1], rho - (1 - rho) * 1.8 * psi, atol=1e-15)
    du_du = alpha - 1.8 * (1 - rho) * psi * S - A_new * psi
    du_da = -1.8 * (rho - (1 - rho) * 1.8 * psi) * S + A_new * 1.8 * psi
    np.testing.assert_allclose(J[..., 0, 0], du_du, atol=1e-14)
    np.testing.assert_allclose(J[..., 0, 1], du_da, atol=1e-14)


def test_detached_reset_leaves_the_subthreshold_jacobian(rng):
    model = LSTMLIF(beta1=-0.8, beta2=0.4, detach_reset=True)
    current, trace = _spiking_run(model, rng)
    J = jacobians_along(model, trace, current)
    np.testing.assert_array_equal(J, np.broadcast_to([[1.0, -0.8], [0.4, 1 - 0.32]], J.shape))


def test_jacobians_along_rejects_mismatched_input(rng):
    model = LIF()
    current = rng.normal(size=(10, 3))
    trace = simulate(model, current)
    with pytest.raises(ValueError, match="steps"):
        jacobians_along(model, trace, current[:5])


# ----------------------------------------------------------------------------- trajectories


def test_trajectory_flow_lif_is_the_hand_product(rng):
    model = LIF(alpha=0.8)
    current = rng.normal(0.2, 0.5, size=(200, 16))
    flow = trajectory_flow(model, current, kmax=150)
    v = simulate(model, current).states["v"]
    factors = 0.8 - TRI(v - 1.0)  # J_t = alpha - v_th psi(v[t-1] - v_th), t = 1..T-1
    assert np.all(factors != 0)
    for k in (1, 17, 150):
        expected = np.log10(np.abs(np.prod(factors[199 - k : 199], axis=0)))
        np.testing.assert_allclose(flow.log10_norms[k - 1], expected, rtol=1e-12)
    assert flow.rate.shape == (16,) and 0 < flow.rate.mean() < 1


def test_trajectory_flow_detached_lif_is_exactly_alpha_to_the_k(rng):
    for convention in ("paper", "code"):
        model = LIF(alpha=0.8, convention=convention, detach_reset=True)
        flow = trajectory_flow(model, rng.normal(0.2, 0.5, size=(400, 32)), kmax=300)
        assert flow.trace.spikes.sum() > 100
        k = np.arange(1, 301)[:, None]
        np.testing.assert_allclose(
            flow.log10_norms, k * math.log10(0.8) + 0 * flow.log10_norms, rtol=0, atol=1e-9
        )


def test_trajectory_flow_validates_kmax():
    with pytest.raises(ValueError, match="kmax"):
        trajectory_flow(LIF(), np.zeros((10, 2)), kmax=10)
    with pytest.raises(ValueError, match="kmax"):
        trajectory_flow(LIF(), np.zeros((10, 2)), kmax=0)


# ----------------------------------------------------------------------------- network maps


def test_digits_sequences_read_the_upsampled_image_pixel_by_pixel():
    from sklearn.datasets import load_digits

    x, y = digits_sequences(batch=12, seed=3)
    assert x.shape == (784, 12, 1) and x.dtype == torch.float32 and y.shape == (12,)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    digits = load_digits()
    idx = np.random.default_rng(3).permutation(len(digits.target))[:12]
    np.testing.assert_array_equal(y.numpy(), digits.target[idx])
    # Bilinear, align_corners=False: output corners sample the input corners exactly.
    img = digits.images[idx] / 16.0
    np.testing.assert_allclose(x[0, :, 0].numpy(), img[:, 0, 0], atol=1e-6)
    np.testing.assert_allclose(x[27, :, 0].numpy(), img[:, 0, 7], atol=1e-6)
    np.testing.assert_allclose(x[783, :, 0].numpy(), img[:, 7, 7], atol=1e-6)
    with pytest.raises(ValueError, match="batch"):
        digits_sequences(batch=0)


def _small_maps(kind, keep, raw=False, readout="sum"):
    torch.manual_seed(0)
    x, y = digits_sequences(batch=6, seed=0, side=8)
    net = FeedForwardSNN(kind, sizes=(1, 12, 16, 16, 10), seed=1, readout=readout).double()
    maps = network_gradient_maps(net, x.double(), y, keep=keep, raw=raw)
    assert min(maps.rates) > 0  # spikes happened in every hidden layer
    for G in maps.maps:
        assert np.all(np.isfinite(G)) and G.sum() > 0
    return net, maps


def test_lif_membrane_gradient_equals_the_input_current_gradient():
    # v[t] = alpha v[t-1] + I[t] - ..., and I[t] enters nothing else: dL/dv[t] = dL/dI[t].
    _, maps = _small_maps("lif", keep=("I",), raw=True)
    for layer in range(3):
        np.testing.assert_allclose(
            maps.raw["v"][layer], maps.raw["I"][layer], rtol=1e-12, atol=1e-300
        )
        assert np.abs(maps.raw["v"][layer]).max() > 0


def test_alif_membrane_gradient_is_input_gradient_over_one_minus_alpha():
    net, maps = _small_maps("alif", keep=("I",), raw=True)
    for layer in range(3):
        tau_m = torch.exp(net.neurons[layer].log_tau_m).detach().numpy()  # (N,), ~20
        one_minus_alpha = 1 - np.exp(-1 / tau_m)
        np.testing.assert_allclose(
            maps.raw["u"][layer] * one_minus_alpha, maps.raw["I"][layer], rtol=1e-10, atol=1e-300
        )


def test_lstmlif_soma_and_dendrite_gradients_satisfy_the_adjoint_recursion():
    # Paper convention: d[t] enters only s[t] (times beta2) and d[t+1] (times 1), so
    # dL/dd[t] = beta2 dL/ds[t] + dL/dd[t+1]; and dL/dd[t] = dL/dI[t].
    _, maps = _small_maps("lstmlif", keep=("d", "I"), raw=True)
    beta2 = 1 / (1 + math.exp(0.0))
    for layer in range(3):
        gd, gs, gi = (maps.raw[n][layer] for n in ("d", "s", "I"))
        np.testing.assert_allclose(gd, gi, rtol=1e-12, atol=1e-300)
        nxt = np.concatenate([gd[1:], np.zeros_like(gd[:1])])
        np.testing.assert_allclose(gd, beta2 * gs + nxt, rtol=1e-9, atol=1e-15)
        assert np.abs(gs).max() > 0


def test_normalised_maps_sum_to_one_and_the_first_half_share_is_a_share():
    _, maps = _small_maps("lstmlif", keep=())
    for layer in range(3):
        G = maps.normalised(layer)
        assert G.sum() == pytest.approx(1.0, abs=1e-12)
        share = maps.first_half_share(layer)
        expected = maps.maps[layer][:32].sum() / maps.maps[layer].sum()
        assert share == pytest.approx(expected, rel=1e-12) and 0 <= share <= 1


def test_last_step_readout_with_detached_reset_gives_pure_alpha_powers_in_the_last_layer():
    # Scoring only the last step, a detached reset cuts every path from v3[t] (last hidden
    # layer, t < T-1) to the loss except v3[t] -> v3[t+1] -> ... -> v3[T-1] (factor alpha each):
    # dL/dv3[t] = alpha^(T-1-t) dL/dv3[T-1] exactly, for every sample and neuron.
    x, y = digits_sequences(batch=6, seed=0, side=8)
    net = FeedForwardSNN(
        "lif", sizes=(1, 12, 16, 16, 10), seed=1, readout="last", detach_reset=True
    ).double()
    maps = network_gradient_maps(net, x.double(), y, raw=True)
    assert min(maps.rates) > 0  # the last hidden layer spikes: there is a reset to detach
    g = maps.raw["v"][2]
    T = g.shape[0]
    assert np.abs(g[-1]).max() > 0
    powers = 0.8 ** np.arange(T - 1, -1, -1)[:, None, None]
    np.testing.assert_allclose(g, powers * g[-1][None], rtol=1e-12, atol=0)


def test_network_inputs_are_validated():
    with pytest.raises(ValueError, match="model"):
        FeedForwardSNN("gru")
    with pytest.raises(ValueError, match="readout"):
        FeedForwardSNN("lif", readout="mean")
    net = FeedForwardSNN("lif", sizes=(1, 4, 4, 4, 10))
    x, y = digits_sequences(batch=2, side=4)
    with pytest.raises(ValueError, match="unknown state"):
        network_gradient_maps(net, x, y, state="q")
    with pytest.raises(ValueError, match="expected x"):
        network_gradient_maps(net, x[:, :1], y)
    for labels in (torch.tensor([10, 0]), torch.tensor([-1, 0]), torch.tensor([0.0, 1.0])):
        with pytest.raises(ValueError, match="labels y"):
            network_gradient_maps(net, x, labels)
    exact = FeedForwardSNN("lif", sizes=(1, 4, 4, 4, 10), backward="exact")
    with pytest.raises(ValueError, match="backward='autograd'"):
        network_gradient_maps(exact, x, y)
