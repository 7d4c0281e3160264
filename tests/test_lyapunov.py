"""analysis.lyapunov: spike-aware Jacobians from the generated partials against autograd, the
backward QR recursion against direct products, the exact identities (sum of exponents = mean
log|det J_t|; LIF with a detached subtractive reset: ln alpha; psi = 0: log |eig J|), recurrent
layers against autograd and against the experiments' torch layer, exactly singular steps
reported as -inf, and the command line (measured, independent-steps and predicted side by side;
the predictor itself is tested in ``test_lyapunov_predict.py``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lstmlif.analysis import lyapunov as L
from lstmlif.analysis.flow import jacobians_along
from lstmlif.analysis.stability import subthreshold_jacobian
from lstmlif.cli import main
from lstmlif.neurons import (
    LIF,
    LSTMLIF,
    TORCH_OPS,
    get_model,
    model_class,
    model_names,
    simulate,
)

MODELS = model_names()


def _verify_model(name: str, **switches) -> object:
    cls = model_class(name)
    return cls(**cls.verify_params, **switches)


def _current(model, T: int, batch: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    mean, std = type(model).input_stats
    return np.random.default_rng(seed).normal(mean * scale, std * scale, (T, batch))


def _switch_sets(name: str) -> list[dict]:
    cls = model_class(name)
    return [
        dict(convention=c, reset=r, detach_reset=d)
        for c in cls.conventions
        for r in cls.resets
        for d in cls.detach_options
    ]


# ----------------------------------------------------------------------------- Jacobians


@pytest.mark.parametrize("name", MODELS)
def test_generated_jacobians_equal_autograd_of_the_transition(name):
    for switches in _switch_sets(name):
        model = _verify_model(name, **switches)
        current = _current(model, 60, 4)
        trace = simulate(model, current)
        psi = L.surrogate_slopes(model, trace.states)
        assert np.asarray(trace.spikes).sum() > 0, f"{name} {switches}: no spike"
        assert np.any(psi != 0), f"{name} {switches}: psi = 0 everywhere (vacuous)"
        J = L.step_jacobians(model, trace, current)
        ref = jacobians_along(model, trace, current)
        assert np.all(np.isfinite(J)) and np.any(J != 0)
        np.testing.assert_allclose(J, ref, rtol=0, atol=1e-13, err_msg=f"{name} {switches}")


def test_lstmlif_jacobian_is_theorys_with_spikes():
    # docs/theory.md section 4, paper convention: J = [[1, b1 - g psi], [b2, 1 + b2 (b1 - g psi) -
    # v_th psi]], det J = 1 - v_th psi.
    model = LSTMLIF(beta1=-0.5, beta2=0.5, gamma=0.5, v_th=1.0)
    current = _current(model, 200, 8)
    trace = simulate(model, current)
    J = L.step_jacobians(model, trace, current)
    psi = L.surrogate_slopes(model, trace.states)[:-1]
    assert np.any(psi > 0.5)
    b1, b2, g = -0.5, 0.5, 0.5
    np.testing.assert_allclose(J[..., 0, 1], b1 - g * psi, atol=1e-15)
    np.testing.assert_allclose(J[..., 1, 1], 1 + b2 * (b1 - g * psi) - psi, atol=1e-15)
    np.testing.assert_allclose(np.linalg.det(J), 1 - psi, atol=1e-14)


# ----------------------------------------------------------------------------- QR recursion


@pytest.mark.parametrize("k", [None, 1])
def test_backward_qr_equals_the_qr_of_the_direct_product(k):
    # P = J_1^T J_2^T ... J_K^T (the adjoint map lambda[K] -> lambda[0]) = Q R with R the
    # product of the recursion's R_t, so log|diag R| = the summed log|diag R_t|.
    model = LSTMLIF()
    current = _current(model, 31, 5, seed=3)
    trace = simulate(model, current)
    J = L.step_jacobians(model, trace, current)
    assert trace.spikes.sum() > 0
    res = L.backward_qr(L._dense_chunks(J, 7, k is None), 2, (5,), k)
    for b in range(5):
        P = np.eye(2)
        for t in range(J.shape[0]):
            P = P @ J[t, b].T
        _, R = np.linalg.qr(P)
        expected = np.log(np.abs(np.diag(R)))[: 1 if k == 1 else 2]
        np.testing.assert_allclose(res.log_r[b], expected, rtol=1e-11, atol=1e-12)
    if k is None:
        np.testing.assert_allclose(res.log_r.sum(-1), res.log_det, rtol=0, atol=1e-12)


def test_long_products_do_not_underflow_and_approach_the_singular_values():
    model = LIF(alpha=0.8)
    current = _current(model, 6001, 3, seed=1)
    sp = L.lyapunov_spectrum(model, current)
    assert np.all(np.isfinite(sp.exponents))  # the product is far below the smallest double
    assert sp.steps * float(sp.top.max()) / math.log(10) < -400


def test_burn_warmup_and_checkpoints_count_the_right_steps():
    model = LSTMLIF()
    current = _current(model, 301, 2, seed=2)
    full = L.lyapunov_spectrum(model, current, checkpoints=(50, 300))
    assert full.steps == 300
    np.testing.assert_allclose(full.checkpoints[300], full.exponents, rtol=0, atol=1e-15)
    part = L.lyapunov_spectrum(model, current, burn=20, warmup=30)
    assert part.steps == 250
    with pytest.raises(ValueError, match="leaves no step"):
        L.lyapunov_spectrum(model, current, burn=200, warmup=100)


# ----------------------------------------------------------------------------- identities


@pytest.mark.parametrize("name", MODELS)
def test_exponents_sum_to_the_mean_log_det(name):
    # Compared on trajectories whose every J_t is numerically regular: where J_t is singular in
    # exact arithmetic (a hard reset at a spike multiplies a row by 1 - S = 0) both the QR and
    # LU are left with rounding residues (R_ii = 0 or 1e-17; det J_t = 5e-17).
    compared = 0
    for switches in _switch_sets(name):
        model = _verify_model(name, **switches)
        current = _current(model, 400, 6, seed=4)
        sp = L.lyapunov_spectrum(model, current)
        assert sp.rate.sum() > 0
        J = L.step_jacobians(model, simulate(model, current), current)
        regular = np.abs(np.linalg.det(J)).min(axis=0) > 1e-10
        total = sp.exponents.sum(-1)
        np.testing.assert_allclose(
            total[regular], sp.log_det[regular], rtol=1e-13, atol=1e-12, err_msg=str(switches)
        )
        compared += int(regular.sum())
        # exactly singular somewhere (det J_t = 0: a zero row): both sides are -inf, and so is
        # every exponent past the product's rank
        exact = (L.step_rank(J) < J.shape[-1]).any(axis=0)
        assert np.all(np.isneginf(total[exact])) and np.all(np.isneginf(sp.log_det[exact]))
        assert np.all(np.isneginf(sp.exponents[exact, -1]))
    assert compared >= 6


def test_step_rank_counts_exact_zeros_only():
    J = np.array(
        [
            [[1.0, 2.0], [3.0, 4.0]],  # regular
            [[1.0, 2.0], [0.0, 0.0]],  # a zero row (a hard reset at a spike)
            [[0.0, 2.0], [0.0, 4.0]],  # a zero column
            [[1.0, 2.0], [2.0, 4.0]],  # det = 0 exactly, no zero row
            [[0.0, 0.0], [0.0, 0.0]],
            [[1.0, 2.0], [1.0, 2.0 + 1e-15]],  # nearly singular: not exactly
        ]
    )
    np.testing.assert_array_equal(L.step_rank(J), [2, 1, 1, 1, 0, 2])
    np.testing.assert_array_equal(L.step_rank(np.array([[[0.0]], [[0.3]]])), [0, 1])


@pytest.mark.parametrize("reset", ["soma", "zero"])
def test_lstmlif_hard_resets_have_a_second_exponent_of_minus_inf(reset):
    # At a spike the reset multiplies the soma's row by 1 - S = 0, so det J_t = 0 exactly and
    # the product has rank 1: lambda_2 = -inf. The QR alone leaves a rounding residue (a
    # finite lambda_2 near -0.29 per step); the sum identity then reads -inf = -inf.
    model = LSTMLIF(reset=reset)
    current = _current(model, 601, 8, seed=13)
    trace = simulate(model, current)
    singular = (L.step_rank(L.step_jacobians(model, trace, current)) < 2).any(axis=0)
    assert trace.spikes.sum() > 0 and singular.sum() >= 4
    sp = L.lyapunov_spectrum(model, current)
    assert np.all(np.isfinite(sp.exponents[:, 0]))
    assert np.all(np.isneginf(sp.exponents[singular, 1])) and np.all(
        np.isneginf(sp.log_det[singular])
    )
    assert np.all(np.isfinite(sp.exponents[~singular]))
    np.testing.assert_array_equal(sp.rank, np.where(singular, 1, 2))
    subtract = L.lyapunov_spectrum(model.replace(reset="subtract"), current)
    assert np.all(np.isfinite(subtract.exponents)) and np.all(subtract.rank == 2)


@pytest.mark.parametrize("convention", ["paper", "code"])
@pytest.mark.parametrize("surrogate", ["triangle", "rectangle", "fast_sigmoid", "sigmoid"])
@pytest.mark.parametrize("alpha", [0.8, 0.95])
def test_lif_with_a_detached_reset_has_exponent_ln_alpha(convention, surrogate, alpha):
    model = LIF(alpha=alpha, convention=convention, surrogate=surrogate, detach_reset=True)
    current = np.random.default_rng(5).normal(0.3, 0.8, (800, 16))
    sp = L.lyapunov_spectrum(model, current)
    trace = simulate(model, current)
    assert trace.spikes.mean() > 0.05
    assert np.any(L.surrogate_slopes(model, trace.states) != 0)
    np.testing.assert_allclose(sp.exponents[:, 0], math.log(alpha), rtol=0, atol=1e-12)
    # kept, the reset gradient makes it differ (LIF code: E log|alpha (1 - v_th psi)|)
    kept = L.lyapunov_spectrum(model.replace(detach_reset=False), current)
    assert np.all(np.abs(kept.exponents[:, 0] - math.log(alpha)) > 1e-3)


def test_lif_code_convention_exponent_is_the_mean_of_log_alpha_one_minus_psi():
    model = LIF(alpha=0.8, convention="code")
    current = _current(model, 500, 8, seed=6)
    sp = L.lyapunov_spectrum(model, current)
    trace = simulate(model, current)
    v = np.asarray(trace.states["v"])[:-1]
    psi = np.maximum(0.0, 1.0 - np.abs(v - 1.0))  # triangle of width 1, by hand
    expected = np.log(np.abs(0.8 * (1.0 - psi))).mean(axis=0)
    np.testing.assert_allclose(sp.exponents[:, 0], expected, rtol=1e-13)


def test_psi_zero_lif_is_ln_alpha_with_spikes():
    model = LIF(alpha=0.7)
    current = _current(model, 500, 4, seed=7)
    sp = L.lyapunov_spectrum(model, current, psi_zero=True)
    assert simulate(model, current).spikes.mean() > 0.05
    np.testing.assert_allclose(sp.exponents[:, 0], math.log(0.7), rtol=0, atol=1e-12)


@pytest.mark.parametrize("betas", [(-0.5, 0.5), (-0.2, 0.8), (-0.8, 0.4)])
def test_psi_zero_lstmlif_second_quadrant_both_exponents_are_zero(betas):
    # J is constant with eigenvalues on the unit circle: the exponents sum to 0 exactly and each
    # finite-time one lies within log cond(V) / K of 0 (||J^K|| <= cond(V), V the eigenvectors).
    model = LSTMLIF(beta1=betas[0], beta2=betas[1])
    current = _current(model, 3001, 4, seed=8)
    sp = L.lyapunov_spectrum(model, current, psi_zero=True)
    assert simulate(model, current).spikes.mean() > 0.01
    J = subthreshold_jacobian(model)
    lam, V = np.linalg.eig(J)
    np.testing.assert_allclose(np.abs(lam), 1.0, atol=1e-14)
    bound = math.log(np.linalg.cond(V)) / sp.steps
    np.testing.assert_allclose(sp.exponents.sum(-1), 0.0, atol=1e-12)
    assert np.all(np.abs(sp.exponents) <= bound + 1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_psi_zero_below_threshold_gives_the_logs_of_the_eigenvalue_moduli(name):
    # At rest (no input, no spike) and psi = 0: J_t is the sub-threshold J at every step. The
    # sorted finite-time exponents lie within n log cond(V) / K of log|eig J|.
    model = _verify_model(name)
    J = subthreshold_jacobian(model)
    lam, V = np.linalg.eig(J)
    cond = np.linalg.cond(V)
    if not np.isfinite(cond) or cond > 1e8:
        pytest.skip(f"{name}: sub-threshold J is (nearly) defective")
    current = np.zeros((4001, 2))
    trace = simulate(model, current)
    assert trace.spikes.sum() == 0
    sp = L.lyapunov_spectrum(model, current, psi_zero=True)
    expected = np.sort(np.log(np.abs(lam)))[::-1]
    n = len(expected)
    np.testing.assert_allclose(sp.exponents.sum(-1), expected.sum(), rtol=0, atol=1e-12)
    tol = n * max(math.log(cond), 0.0) / sp.steps + 1e-12
    assert np.all(np.abs(sp.exponents - expected) <= tol + 2.0 / sp.steps), (sp.exponents, expected)


# ----------------------------------------------------------------------------- networks


def _torch_layer_step(model, W, drive_t):
    p = model.coefficients(TORCH_OPS)

    def f(X):
        st = {nm: X[:, a] for a, nm in enumerate(model.state_names)}
        S = TORCH_OPS.spike(model.spike_argument(p, st, TORCH_OPS), model.surrogate)
        st["S"] = S
        new, _ = model.step(p, st, torch.as_tensor(drive_t) + torch.as_tensor(W) @ S, TORCH_OPS)
        return torch.stack([new[nm] for nm in model.state_names], 1)

    return f


@pytest.mark.parametrize("name", MODELS)
def test_network_jacobian_equals_autograd_and_the_structured_product(name):
    model = _verify_model(name)
    rng = np.random.default_rng(10)
    T, B, H = 40, 2, 5
    mean, std = type(model).input_stats
    drive = rng.normal(mean, std, (T, B, H))
    W = rng.normal(0.0, 0.6, (H, H))
    trace = L.simulate_recurrent(model, drive, W)
    assert trace.spikes.sum() > 0
    J = L.network_jacobians(trace, W)
    n = len(model.state_names)
    assert np.any(np.abs(J[:, :, :n, n:]) > 0), "no recurrent spike-path coupling was exercised"
    for t in (1, 17, T - 1):
        for b in range(B):
            X = torch.tensor(np.stack([trace.states[nm][t - 1, b] for nm in model.state_names], 1))
            f = _torch_layer_step(model, W, trace.current[t, b] - trace.spikes[t - 1, b] @ W.T)
            ref = torch.autograd.functional.jacobian(f, X).reshape(H * n, H * n).numpy()
            np.testing.assert_allclose(J[t - 1, b], ref, rtol=0, atol=1e-12)
    sp = L.network_spectrum(trace, W, k=H * n, with_det=True)
    res = L.backward_qr(L._dense_chunks(J, 1000, True), H * n, (B,))
    np.testing.assert_allclose(sp.exponents, res.exponents, rtol=1e-10, atol=1e-12)
    regular = np.abs(np.linalg.det(J)).min(axis=0) > 1e-10
    np.testing.assert_allclose(
        sp.exponents.sum(-1)[regular], sp.log_det[regular], rtol=1e-11, atol=1e-11
    )


def test_recurrent_simulation_is_the_experiments_layer():
    from lstmlif.experiments import RecurrentSpikingLayer, build_neuron_layer

    torch.manual_seed(0)
    layer = RecurrentSpikingLayer(build_neuron_layer("lstmlif", 12), 3).double()
    layer.input_gain = 2.0
    x = torch.rand(50, 4, 3, dtype=torch.float64)
    with torch.no_grad():
        spikes, drive = layer(x)
    W = layer.w_rec.weight.detach().numpy()
    trace = L.simulate_recurrent(layer.neuron.model(), drive.numpy(), W)
    assert spikes.sum() > 0
    np.testing.assert_array_equal(trace.spikes, spikes.numpy())


def test_a_detached_reset_keeps_psi_on_the_recurrent_path():
    model = LIF(alpha=0.8, detach_reset=True)
    rng = np.random.default_rng(11)
    drive = rng.normal(0.3, 0.6, (300, 2, 6))
    W = rng.normal(0.0, 0.5, (6, 6))
    trace = L.simulate_recurrent(model, drive, W)
    sp = L.network_spectrum(trace, W, k=6)
    alone = L.network_spectrum(trace, np.zeros((6, 6)), k=6)
    np.testing.assert_allclose(alone.exponents, math.log(0.8), atol=1e-12)
    assert np.all(np.abs(sp.exponents[:, 0] - math.log(0.8)) > 1e-3)


# ----------------------------------------------------------------------------- horizons


def test_learnable_delay_is_floor_over_the_decay_rate():
    D = L.learnable_delay(np.array([math.log(0.8), -0.01, 0.0, 0.2]), floor_decades=3.0)
    assert D[0] == pytest.approx(3.0 / -math.log10(0.8), rel=1e-14)
    assert D[1] == pytest.approx(300.0 * math.log(10), rel=1e-14)
    assert np.isinf(D[2]) and np.isinf(D[3])
    with pytest.raises(ValueError, match="floor_decades"):
        L.learnable_delay(-1.0, 0.0)


def test_variants_must_share_the_forward_run():
    with pytest.raises(ValueError, match="only the surrogate and detach_reset"):
        L.lyapunov_spectra([LIF(alpha=0.8), LIF(alpha=0.9)], np.zeros((10, 1)))
    a = LIF(surrogate="triangle")
    b = LIF(surrogate="sigmoid", detach_reset=True)
    current = _current(a, 100, 3)
    both = L.lyapunov_spectra([a, b], current)
    np.testing.assert_array_equal(both[0].exponents, L.lyapunov_spectrum(a, current).exponents)
    np.testing.assert_array_equal(both[1].exponents, L.lyapunov_spectrum(b, current).exponents)


# ----------------------------------------------------------------------------- CLI


def test_cli_json_reports_the_spectrum_largest_first(capsys):
    code = main(["lyapunov", "lstmlif", "--steps", "300", "--batch", "8", "--seeds", "0", "1",
                 "--json"])  # fmt: skip
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    ex = rep["exponents"]
    assert len(ex) == 2 and ex[0] >= ex[1]
    assert rep["sum_of_exponents"] == pytest.approx(rep["mean_log_abs_det"], abs=1e-12)
    assert rep["seeds"] == [0, 1] and rep["steps"] == 300
    assert rep["prediction"]["method"] == "density-2d"
    assert math.isfinite(rep["prediction"]["top"]) and rep["prediction"]["top"] < 0
    ind = rep["independent_steps"]["top"]
    assert rep["correlation_gap"] == pytest.approx(ex[0] - ind, abs=1e-15)
    assert rep["product_rank"] == 2


@pytest.mark.parametrize("reset", ["soma", "zero"])
def test_cli_reports_minus_inf_past_the_rank_and_an_honest_sum(reset, capsys):
    args = ["lyapunov", "lstmlif", "--reset", reset, "--steps", "500", "--seeds", "0"]
    assert main([*args, "--no-predict", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert math.isfinite(rep["exponents"][0]) and rep["exponents"][1] == "-inf"
    assert rep["sum_of_exponents"] == "-inf" and rep["mean_log_abs_det"] == "-inf"
    assert rep["product_rank"] == 1 and "rank <= 1" in rep["singular_note"]
    assert main([*args, "--no-predict"]) == 0
    out = capsys.readouterr().out
    assert "lambda_2 = -inf (the product is exactly singular)" in out
    assert "sum of exponents -inf; mean log|det J_t| -inf" in out


def test_cli_lif_hard_reset_zero_products_are_minus_inf_measured_and_predicted(capsys):
    # a hard reset from above the window (S = 1, psi = 0) makes J = 0 exactly: the measured
    # and the predicted exponents are -inf, the gap between two -inf is undefined (null)
    args = ["lyapunov", "lif", "--reset", "zero", "--steps", "300", "--batch", "8", "--json"]
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["exponents"] == ["-inf"] and rep["product_rank"] == 0
    assert rep["correlation_gap"] is None
    pred = rep["prediction"]
    assert pred["top"] == "-inf" and 0 < pred["p_zero"] < 0.1 and pred["top_nonzero"] < 0


def test_cli_constant_input_is_measured_and_the_density_prediction_is_not_applicable(capsys):
    # std 0: LIF at mean 0.3 settles below threshold (v -> 0.3 / 0.2 = 1.5 > 1: it fires
    # periodically); the measurement needs no density, the prediction says why it cannot
    args = ["lyapunov", "lif", "--input-std", "0", "--steps", "300", "--batch", "2"]
    assert main([*args, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["input_std"] == 0 and math.isfinite(rep["exponents"][0])
    assert rep["prediction"]["top"] == "not applicable"
    assert rep["prediction"]["reason"].startswith("input std is 0")
    assert main(args) == 0
    assert "predicted           not applicable (density-1d): input std is 0" in (
        capsys.readouterr().out
    )


def test_cli_refuses_an_input_beyond_range_naming_it(capsys):
    assert main(["lyapunov", "lif", "--input-mean", "1e300"]) == 2
    err = capsys.readouterr().err
    assert "--input-mean 1e+300 is beyond the accepted range |mean| <= 1e+100" in err
    assert "overflow" in err and "does not reach" not in err
    assert main(["lyapunov", "lif", "--input-std", "1e200"]) == 2
    assert "--input-std 1e+200 is beyond" in capsys.readouterr().err


def test_cli_detached_lif_is_ln_alpha(capsys):
    code = main(["lyapunov", "lif", "--param", "alpha=0.9", "--detach-reset", "--surrogate",
                 "sigmoid", "--steps", "200", "--batch", "4", "--json"])  # fmt: skip
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["exponents"][0] == pytest.approx(math.log(0.9), abs=1e-12)
    assert rep["surrogate"] == "sigmoid" and rep["detach_reset"] is True


@pytest.mark.parametrize(
    "args, option",
    [
        (["--steps", "0"], "--steps"),
        (["--steps", "10000000"], "--steps"),
        (["--steps", "100000", "--batch", "4096"], "--steps"),
        (["--batch", "0"], "--batch"),
        (["--seeds", *map(str, range(70))], "--seeds"),
        (["--seeds", "1", "1"], "--seeds"),
        (["--seeds", "-1"], "--seeds"),
        (["--surrogate", "nope"], "--surrogate"),
        (["--input-std", "-1"], "--input-std"),
        (["--input-mean", "nan"], "--input-mean"),
        (["--param", "alpha"], "--param"),
        (["--convention", "other"], "--convention"),
    ],
)
def test_cli_bad_input_exits_2_naming_the_option(args, option, capsys):
    assert main(["lyapunov", "lif", *args]) == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err


def test_check_budget_names_the_limit():
    with pytest.raises(ValueError, match="exceeds the limit"):
        L.check_budget(10**6, 4096, 3, 2)
    est = L.check_budget(2000, 64, 3, 2, extra=201)
    assert est["work"] == pytest.approx(2201 * 64 * 3 * 4)


def test_get_model_errors_name_the_parameter(capsys):
    assert main(["lyapunov", "lif", "--param", "alpha=2"]) == 2
    assert "alpha" in capsys.readouterr().err
    assert get_model("lif").alpha == 0.8


def test_cli_refuses_a_repeated_parameter(capsys):
    """``--param alpha=0.5 --param alpha=0.6`` is refused, as by ``lstmlif inspect``, and
    never silently the last value (nothing is measured)."""
    assert main(["lyapunov", "lif", "--param", "alpha=0.5", "--param", "alpha=0.6"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "lstmlif lyapunov: error: --param alpha is given twice (0.5 and 0.6); give it once\n"
    )
    assert captured.out == ""


# ----------------------------------------------------------------------------- figures


def test_rate_figure_detached_lif_line_is_log10_alpha():
    from lstmlif.figures import fig_lyapunov_rate as F

    data = F.compute(steps=150, batch=2, models=("lif",))
    labels = list(data["lif/labels"])
    detached = labels.index("triangle, detached")
    np.testing.assert_allclose(data["lif/top"][detached], math.log(0.8), atol=1e-12)
    assert np.all(np.diff(data["lif/rate"]) >= 0) and data["lif/rate"][-1] > 0.3
    kept = data["lif/top"][labels.index("triangle (own)")]
    assert np.all(kept[data["lif/rate"] > 0.05] < math.log(0.8) - 1e-3)


def test_phase_figure_horizon_and_shapes():
    from lstmlif.figures import fig_lyapunov_phase as F

    data = F.compute(steps=80, batch=2, models=("lstmlif",))
    assert data["lstmlif/top"].shape == (F.N_STD, F.N_MEAN)
    H = F.log10_horizon(np.array([math.log(0.8), 0.0, 0.1, -1e-9]))
    assert H[0] == pytest.approx(math.log10(3.0 / -math.log10(0.8)))
    assert np.all(H[1:] == F.MAX_LOG10_HORIZON)


RUN_FILES = ("recall_lif_D100_s0_0186cec3.json", "recall_lstmlif_D100_s0_b8f048dd.json")


def _committed(name: str) -> dict:
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "results" / "recall" / name
    if not path.is_file():
        pytest.skip(f"committed run {name} not present")
    return json.loads(path.read_text())


def test_rebuilt_networks_are_the_untrained_networks_of_the_runs():
    import torch.nn.functional as Fn

    from lstmlif.experiments.tasks import recall_batch
    from lstmlif.figures import fig_lyapunov_learnability as F

    for name in RUN_FILES:
        record = _committed(name)
        net, task = F.rebuild_network(record)
        c = record["config"]
        x, y = recall_batch(task, c["batch"], (c["seed"], 3))
        with torch.no_grad():
            loss = float(Fn.cross_entropy(net(x)["logits"], y))
        assert loss == pytest.approx(record["result"]["init"]["loss"], abs=1e-5)


def test_learnability_figure_predicts_lifs_measured_gradient_decay(tmp_path):
    import shutil
    import warnings

    from lstmlif.figures import fig_lyapunov_learnability as F

    folder = tmp_path / "results" / "recall"
    folder.mkdir(parents=True)
    for name in RUN_FILES:
        _committed(name)
        shutil.copy(
            __import__("pathlib").Path(__file__).resolve().parents[1] / "results/recall" / name,
            folder / name,
        )
    data = F.compute(tmp_path / "results")
    rows = {r["model"]: r for r in F.summary(data)}
    lif = rows["lif"]
    # LIF at rate 0.05: lambda_1 close to ln alpha; the measured slope of the committed run
    assert lif["measured_decay"] == pytest.approx(lif["predicted_decay"], rel=0.05)
    assert lif["predicted_decay"] == pytest.approx(-math.log10(0.8), rel=0.05)
    assert rows["lstmlif"]["predicted_delay"] > 5 * lif["predicted_delay"]
    result = F.make(tmp_path / "out", tmp_path / "results")
    assert all(p.is_file() for p in result["paths"])
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        empty = F.make(tmp_path / "out2", tmp_path / "nothing")
    assert empty["paths"] == []
