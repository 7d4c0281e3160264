"""analysis.flossing: the differentiable exponents against analysis.lyapunov (same trajectory:
to rounding; other seeds: within the 95% intervals), their gradients against finite differences
in float64 (spikes present), QR every m steps against every step, the regulariser and
pre-flossing on the experiments' recall network, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from lstmlif.analysis import flossing as F
from lstmlif.analysis import lyapunov as L
from lstmlif.neurons import LIF, model_class, model_names

MODELS = model_names()


def _verify_model(name: str, **switches):
    cls = model_class(name)
    return cls(**cls.verify_params, **switches)


@pytest.mark.parametrize("name", MODELS)
def test_same_trajectory_as_network_spectrum_to_rounding(name):
    model = _verify_model(name)
    rng = np.random.default_rng(1)
    T, B, H = 120, 2, 5
    mean, std = type(model).input_stats
    drive = rng.normal(mean, std, (T, B, H))
    W = rng.normal(0.0, 0.6, (H, H))
    trace = L.simulate_recurrent(model, drive, W)
    assert trace.spikes.sum() > 0
    k = min(4, H * len(model.state_names))
    ref = L.network_spectrum(trace, W, start=6, k=k, burn=10)
    with torch.no_grad():
        run = F.run_layer(model, torch.tensor(drive), torch.tensor(W))
        lam = F.layer_exponents(run, k, burn=10, start=6).numpy()
    np.testing.assert_array_equal(run.spikes.numpy(), trace.spikes)
    assert lam.shape == (B, k)
    # -inf (a step with J = 0) must be -inf in both; finite values agree to rounding
    np.testing.assert_allclose(lam, ref.exponents, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", MODELS)
def test_feed_forward_layer_is_lstmlif_lyapunov_per_neuron(name):
    model = _verify_model(name)
    n = len(model.state_names)
    mean, std = type(model).input_stats
    T, B, H = 150, 2, 4
    current = np.random.default_rng(2).normal(mean, std, (T, B * H))
    ref = L.lyapunov_spectrum(model, current, k=n, burn=10, warmup=5)
    with torch.no_grad():
        lam = F.exponents(model, torch.tensor(current).reshape(T, B, H), k=n, burn=10, warmup=5)
    assert lam.shape == (B, H, n)
    np.testing.assert_allclose(lam.numpy().reshape(B * H, n), ref.exponents, rtol=0, atol=1e-10)


def _interval(per_seed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = per_seed.shape[0]
    half = stats.t.ppf(0.975, s - 1) * per_seed.std(axis=0, ddof=1) / math.sqrt(s)
    return per_seed.mean(axis=0), half


@pytest.mark.parametrize("name", ["lif", "lstmlif"])
def test_other_seeds_agree_with_the_cli_estimate_within_its_interval(name):
    """``lstmlif lyapunov``'s estimate (``estimate_spectrum``, seeds 0-2) against this module's
    on seeds 10-14: the difference of the means lies within the combined 95% half-widths."""
    model = _verify_model(name)
    n = len(model.state_names)
    mean, std = type(model).input_stats
    est = L.estimate_spectrum(model, steps=800, seeds=(0, 1, 2), batch=32, warmup=100, burn=100)
    mine = []
    for seed in range(10, 15):
        current = np.random.default_rng(seed).normal(mean, std, (1001, 1, 32))
        with torch.no_grad():
            lam = F.exponents(model, torch.tensor(current), k=n, burn=100, warmup=100)
        mine.append(lam.numpy().reshape(32, n).mean(axis=0))
    m, h = _interval(np.array(mine))
    diff = np.abs(m - est.exponents)
    assert np.all(diff <= np.hypot(h, est.ci95)), (m, h, est.exponents, est.ci95)


def test_other_seeds_agree_with_the_network_exponents_within_the_interval():
    """A recurrent LIF layer (fixed weights): network_spectrum on drive seeds 0-4 against this
    module on seeds 5-9."""
    model = LIF(alpha=0.8)
    H, T = 12, 500
    W = np.random.default_rng(99).normal(0.0, 0.5, (H, H))

    def drive(seed: int) -> np.ndarray:
        return np.random.default_rng(seed).normal(0.3, 0.6, (T, 4, H))

    ref = [
        L.network_spectrum(L.simulate_recurrent(model, drive(s), W), W, k=3, burn=50)
        for s in range(5)
    ]
    ref = np.array([r.exponents.mean(axis=0) for r in ref])
    mine = []
    for s in range(5, 10):
        with torch.no_grad():
            lam = F.exponents(model, torch.tensor(drive(s)), torch.tensor(W), k=3, burn=50)
        mine.append(lam.numpy().mean(axis=0))
    (m1, h1), (m2, h2) = _interval(ref), _interval(np.array(mine))
    assert np.all(np.abs(m1 - m2) <= np.hypot(h1, h2)), (m1, h1, m2, h2)


# ----------------------------------------------------------------------------- gradients


def _fd_case(name: str, params: dict, trajectory: str = "exact"):
    cls = model_class(name)
    base = cls(**params, surrogate="sigmoid")  # smooth psi: finite differences see no kink
    rng = np.random.default_rng(3)
    T, B, H = 80, 2, 6
    drive = torch.tensor(rng.normal(0.3, 0.6, (T, B, H)))
    W0 = torch.tensor(rng.normal(0.0, 0.5, (H, H)))
    weights = torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)

    def objective(W: torch.Tensor, theta: dict) -> torch.Tensor:
        lam = F.exponents(base.replace(**theta), drive, W, k=3, burn=5, trajectory=trajectory)
        return (lam.mean(0) * weights).sum()

    theta = {k: torch.tensor(float(v), dtype=torch.float64) for k, v in base.params().items()}
    return base, drive, W0, theta, objective


@pytest.mark.parametrize(
    "name, params",
    [
        ("lif", {"tau_m": 5.0, "v_th": 1.0}),
        ("alif", {}),
        ("lstmlif", {"beta1": -0.5, "beta2": 0.5}),
    ],
)
def test_gradient_of_the_exponents_matches_finite_differences(name, params):
    """The true derivative (trajectory="exact": the hard threshold's own derivative in the
    run) of a weighted sum of the top 3 exponents, with respect to W (a random direction) and
    every model parameter, against central differences (eps 1e-6) in float64; no spike flips
    under the perturbations."""
    params = params or dict(model_class(name).verify_params)
    base, drive, W0, theta, objective = _fd_case(name, params)
    W = W0.clone().requires_grad_(True)
    th = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
    grads = torch.autograd.grad(objective(W, th), [W, *th.values()])
    spikes = F.run_layer(base, drive, W0).spikes
    assert 0 < float(spikes.mean()) < 1
    eps = 1e-6
    D = torch.tensor(np.random.default_rng(4).normal(size=W0.shape))
    with torch.no_grad():
        for sign in (1, -1):
            assert torch.equal(F.run_layer(base, drive, W0 + sign * eps * D).spikes, spikes)
        fd = (objective(W0 + eps * D, theta) - objective(W0 - eps * D, theta)) / (2 * eps)
        ad = (grads[0] * D).sum()
        assert torch.isfinite(ad) and abs(float(ad)) > 1e-6
        assert float(ad) == pytest.approx(float(fd), rel=1e-5, abs=1e-9)
        for (key, value), g in zip(theta.items(), grads[1:], strict=True):
            up = objective(W0, {**theta, key: value + eps})
            down = objective(W0, {**theta, key: value - eps})
            assert torch.isfinite(g) and abs(float(g)) > 1e-6, key
            assert float(g) == pytest.approx(float((up - down) / (2 * eps)), rel=1e-5, abs=1e-9)


def test_every_trajectory_mode_gives_a_finite_nonzero_gradient():
    base, drive, W0, theta, _ = _fd_case("lif", {"alpha": 0.8})
    norms = {}
    for mode in F.TRAJECTORIES:
        W = W0.clone().requires_grad_(True)
        lam = F.exponents(base, drive, W, k=2, trajectory=mode)
        (g,) = torch.autograd.grad(lam.mean(0).sum(), [W])
        assert torch.isfinite(g).all()
        norms[mode] = float(g.norm())
        assert norms[mode] > 0
    # the surrogate and exact modes add the trajectory's dependence to the detached one
    assert norms["surrogate"] != pytest.approx(norms["detached"])
    assert norms["exact"] != pytest.approx(norms["detached"])


# ----------------------------------------------------------------------------- QR every m steps


def test_qr_every_m_steps_changes_only_rounding():
    """In exact arithmetic the diagonal of the product of the R factors does not depend on m:
    in float64 the estimates with m = 2..20 agree with m = 1 to 1e-12 (8 exponents of a
    recurrent LSTM-LIF layer of 32 neurons)."""
    model = _verify_model("lstmlif")
    rng = np.random.default_rng(5)
    drive = torch.tensor(rng.normal(*type(model).input_stats, (300, 2, 32)))
    W = torch.tensor(rng.normal(0.0, 1 / math.sqrt(32), (32, 32)))
    with torch.no_grad():
        run = F.run_layer(model, drive, W)
        ref = F.layer_exponents(run, 8, 1, burn=30)
        assert float(ref[:, 0].mean() - ref[:, -1].mean()) > 1e-3  # a spread to collapse
        for m in (2, 5, 20):
            lam = F.layer_exponents(run, 8, m, burn=30)
            assert float((lam - ref).abs().max()) < 1e-12, m


# ----------------------------------------------------------------------------- flossing


def _recall_net():
    from lstmlif.experiments.networks import RecallNetwork

    torch.manual_seed(0)
    net = RecallNetwork("lif", 4, 16, 2, 5).double()
    net.hidden.input_gain = 0.7
    x = (torch.rand(80, 6, 4, dtype=torch.float64) < 0.2).double()
    return net, x


def test_prefloss_moves_the_top_exponent_of_a_lif_layer_to_the_target():
    """Seeded: a recurrent LIF layer (16 neurons, alpha 0.8 trained) starts at lambda_1 near
    ln 0.8 = -0.223; 15 Adam steps (lr 0.1) on (lambda_1 - 0)^2 bring it at least halfway to
    0, and the loss falls."""
    net, x = _recall_net()
    res = F.prefloss(net, x, k=1, target=0.0, updates=15, lr=0.1, warmup=10, burn=10)
    before, after = res["before"][0][0], res["after"][0][0]
    assert out_spikes(net, x) > 0
    assert before == pytest.approx(math.log(0.8), abs=0.05)
    assert abs(after) < 0.5 * abs(before), (before, after)
    assert res["losses"][-1] < res["losses"][0]


def out_spikes(net, x) -> float:
    with torch.no_grad():
        return float(net(x)["spikes"][0].sum())


def test_regularizer_adds_its_term_on_due_updates_only():
    net, x = _recall_net()
    reg = F.FlossingRegularizer(k=2, target=[0.0, -0.1], every=3, weight=0.5)
    assert [reg.due(i) for i in range(7)] == [True, False, False, True, False, False, True]
    term = reg(net, x)
    lam = F.network_exponents(net, x, k=2)[0].detach().mean(0)
    expected = 0.5 * float((lam[0] - 0.0) ** 2 + (lam[1] + 0.1) ** 2)
    assert float(term.detach()) == pytest.approx(expected, rel=1e-12)
    assert reg.last[0] == pytest.approx(lam.tolist(), rel=1e-12)
    term.backward()
    g = net.hidden.w_rec.weight.grad
    assert g is not None and torch.isfinite(g).all() and float(g.norm()) > 0
    assert net.readout.weight.grad is None  # the readout does not enter the exponents
    part = F.FlossingRegularizer(k=1, batch=2)
    with torch.no_grad():
        head = F.network_exponents(net, x[:, :2], k=1)[0].mean(0)
        assert float(part(net, x)) == pytest.approx(float(head[0] ** 2), rel=1e-12)


def test_network_layers_and_inputs_are_found_from_outside():
    from lstmlif.experiments.networks import DigitsNetwork

    torch.manual_seed(1)
    net = DigitsNetwork("lif", 6, 8).double()
    x = torch.rand(30, 2, 1, dtype=torch.float64)
    layers = F.flossing_layers(net)
    assert layers == [net.layers[1], net.layers[2]]  # the layer without w_rec is skipped
    inputs = F.layer_inputs(net, x, layers)
    assert [tuple(i.shape) for i in inputs] == [(30, 2, 6), (30, 2, 8)]
    lams = F.network_exponents(net, x, k=2, layers=[1])
    assert len(lams) == 1 and lams[0].shape == (2, 2)


def test_bad_input_is_named():
    model = LIF(alpha=0.8)
    drive = torch.zeros(10, 2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="trajectory"):
        F.run_layer(model, drive, trajectory="smooth")
    with pytest.raises(ValueError, match="shape"):
        F.run_layer(model, torch.zeros(10, 3))
    with pytest.raises(ValueError, match="w_rec"):
        F.run_layer(model, drive, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="NaN"):
        F.run_layer(model, drive + float("nan"))
    with pytest.raises(ValueError, match="k must be at most"):
        F.exponents(model, drive, torch.zeros(3, 3, dtype=torch.float64), k=4)
    with pytest.raises(ValueError, match="burn"):
        F.exponents(model, drive, k=1, burn=9)
    with pytest.raises(ValueError, match="qr_every"):
        F.exponents(model, drive, k=1, qr_every=0)
    with pytest.raises(ValueError, match="targets"):
        F.FlossingRegularizer(k=2, target=[0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="weight"):
        F.FlossingRegularizer(weight=-1.0)
    net, x = _recall_net()
    with pytest.raises(ValueError, match="layers must be indices"):
        F.prefloss(net, x, layers=[1])
    with pytest.raises(ValueError, match="lr"):
        F.prefloss(net, x, lr=0.0)
    with pytest.raises(ValueError, match="no recurrent spiking layer"):
        F.flossing_layers(torch.nn.Linear(2, 2))
    # a hard reset from outside the surrogate window zeroes J: the loss refuses -inf
    hard = LIF(alpha=0.8, reset="zero")
    spiking = torch.full((20, 1, 1), 2.0, dtype=torch.float64)
    lam = F.exponents(hard, spiking, k=1)
    assert torch.isneginf(lam).all()
    with pytest.raises(ValueError, match="non-finite exponent"):
        F.flossing_loss([lam], 0.0)


def test_weight_lr_and_trajectory_refusals_say_what_is_wrong():
    """The exact messages of the number and trajectory checks the regulariser and prefloss
    share with run_layer (NaN, inf and booleans are not finite numbers)."""
    for w in (-1.0, float("nan"), math.inf, True):
        with pytest.raises(ValueError) as err:
            F.FlossingRegularizer(weight=w)
        want = f"FlossingRegularizer: weight must be a finite number >= 0, got {w!r}"
        assert str(err.value) == want
    with pytest.raises(ValueError) as err:
        F.FlossingRegularizer(trajectory="smooth")
    assert str(err.value) == (
        "FlossingRegularizer: unknown trajectory 'smooth'; choose one of "
        "('surrogate', 'exact', 'detached')"
    )
    net, x = _recall_net()
    for lr in (0, -1e-3, float("nan"), math.inf, False):
        with pytest.raises(ValueError) as err:
            F.prefloss(net, x, lr=lr)
        assert str(err.value) == f"prefloss: lr must be a finite number > 0, got {lr!r}"
