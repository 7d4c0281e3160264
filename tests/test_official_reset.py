"""The official TC-LIF hard reset, ``reset="soma"``: the soma goes to v_reset = 0 after a spike,
the dendrite is left alone (gamma unused).

The reference is a transcription of the official update (TCLIFNode with hard_reset=True,
v_reset = 0, detach_reset False), written here: per step
    v1 <- v1 - sigmoid(c1) v2 + x;   v2 <- v2 + sigmoid(c2) v1;   spike = H(v2 - v_th);
    v2 <- (1 - spike) v2 + spike * 0         (v1 untouched)
with H(0) = 1 forward and the triangle max(0, 1 - |x|) backward. It is compared with
``LSTMLIF.from_logits(c1, c2, convention="code", reset="soma")``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmlif.analysis.adjoint import adjoint
from lstmlif.analysis.gradcheck import check_case, make_case, switch_sets
from lstmlif.analysis.hand_adjoint import hand_adjoint, has_hand_recursion
from lstmlif.analysis.symbolic import derive_report
from lstmlif.neurons import LSTMLIF, TwoCompartment, exact_simulate, make_layer, simulate


class _Triangle(torch.autograd.Function):
    """H(x) (H(0) = 1) forward, max(0, 1 - |x|) backward: the official triangle, width 1."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.clamp(1.0 - x.abs(), min=0.0)


def official_hard_reset(x, c1, c2, v_th=1.0, gamma=0.5):
    """The official TCLIFNode update with hard_reset=True (torch; gamma is not read).
    Returns spikes (T, *batch) and the soma compared with the threshold (T, *batch)."""
    del gamma  # the official hard reset never reads it
    b1, b2 = torch.sigmoid(c1), torch.sigmoid(c2)
    v1 = torch.zeros_like(x[0])
    v2 = torch.zeros_like(x[0])
    spikes, somas = [], []
    for t in range(x.shape[0]):
        v1 = v1 - b1 * v2 + x[t]
        v2 = v2 + b2 * v1
        spike = _Triangle.apply(v2 - v_th)
        spikes.append(spike)
        somas.append(v2)
        v2 = (1.0 - spike) * v2 + spike * 0.0
    return torch.stack(spikes), torch.stack(somas)


def _input(T=300, B=6, seed=0, mean=0.1, std=0.5):
    return mean + std * np.random.default_rng(seed).standard_normal((T, B))


@pytest.mark.parametrize("c1,c2", [(0.0, 0.0), (1.5, -0.5), (-1.4, 1.4)])
def test_forward_and_gradients_match_the_official_update(c1, c2):
    x = torch.tensor(_input(), requires_grad=True)
    l1 = torch.tensor(c1, dtype=torch.float64, requires_grad=True)
    l2 = torch.tensor(c2, dtype=torch.float64, requires_grad=True)
    ref_s, ref_v = official_hard_reset(x, l1, l2)
    assert float(ref_s.detach().sum()) > 0
    w = torch.linspace(-1, 1, ref_s.numel(), dtype=torch.float64).reshape(ref_s.shape)
    ref_grads = torch.autograd.grad((ref_s * w).sum() + (ref_v * w).sum(), [x, l1, l2])

    x2 = x.detach().clone().requires_grad_(True)
    k1 = l1.detach().clone().requires_grad_(True)
    k2 = l2.detach().clone().requires_grad_(True)
    model = LSTMLIF.from_logits(k1, k2, convention="code", reset="soma")
    tr = simulate(model, x2)
    assert torch.equal(tr.spikes, ref_s.detach())
    torch.testing.assert_close(tr.states["s"], ref_v.detach(), rtol=0, atol=1e-12)
    grads = torch.autograd.grad((tr.spikes * w).sum() + (tr.states["s"] * w).sum(), [x2, k1, k2])
    assert all(float(g.abs().max()) > 0 and torch.isfinite(g).all() for g in grads)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # gamma is not read: any gamma gives the same run
    other = simulate(LSTMLIF.from_logits(c1, c2, convention="code", reset="soma", gamma=3.0), x)
    assert np.array_equal(other.spikes.detach().numpy(), ref_s.detach().numpy())


def test_numpy_run_matches_and_zero_reset_differs_unless_gamma_is_zero():
    x = _input(seed=1)
    ref_s, ref_v = official_hard_reset(
        torch.tensor(x), torch.tensor(0.0, dtype=torch.float64), torch.tensor(0.0)
    )
    soma = simulate(LSTMLIF(convention="code", reset="soma"), x)
    assert np.array_equal(soma.spikes, ref_s.numpy())
    np.testing.assert_allclose(soma.states["s"], ref_v.numpy(), rtol=0, atol=1e-12)
    zero = simulate(LSTMLIF(convention="code", reset="zero", gamma=0.5), x)
    assert not np.array_equal(zero.states["d"], soma.states["d"])  # zero also resets the dendrite
    zero0 = simulate(LSTMLIF(convention="code", reset="zero", gamma=0.0), x)
    assert np.array_equal(zero0.spikes, soma.spikes)
    np.testing.assert_array_equal(zero0.states["d"], soma.states["d"])


def test_paper_convention_by_hand():
    # paper form: d[t] = d + b1 s + I (pre-reset s), s[t] = s (1 - S) + b2 d[t]; d untouched
    m = LSTMLIF(beta1=-0.5, beta2=0.5, reset="soma")
    tr = simulate(m, np.array([[1.2], [2.5], [-2.0]]))
    d1, s1 = 1.2, 0.6  # no spike yet
    d2 = d1 - 0.5 * s1 + 2.5
    s2 = s1 + 0.5 * d2  # = 2.3: spikes
    d3 = d2 - 0.5 * s2 - 2.0  # the dendrite sees the pre-reset soma in the paper form
    s3 = 0.0 + 0.5 * d3
    np.testing.assert_allclose(tr.states["d"][:, 0], [d1, d2, d3], rtol=1e-15)
    np.testing.assert_allclose(tr.states["s"][:, 0], [s1, s2, s3], rtol=1e-15)
    assert tr.spikes[:, 0].tolist() == [0.0, 1.0, 0.0]


def test_hand_kernels_refuse_the_soma_reset_and_the_generic_path_takes_it():
    model = LSTMLIF(convention="code", reset="soma")
    assert not has_hand_recursion(model)
    x = _input(T=120, B=3, seed=2)
    with pytest.raises(ValueError, match="reset='soma'"):
        hand_adjoint(model, x)
    xt = torch.tensor(x)
    with pytest.raises(ValueError, match="no hand-written adjoint"):
        exact_simulate(model, xt, kernel="hand")
    # kernel="auto" runs the generic adjoint: gradients equal autograd's
    leaves = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for k, v in {"beta1": -0.5, "beta2": 0.5, "gamma": 0.5}.items()
    }
    a_in = xt.clone().requires_grad_(True)
    b_in = xt.clone().requires_grad_(True)
    tm = LSTMLIF(convention="code", reset="soma", **leaves)
    w = torch.tensor(np.random.default_rng(3).standard_normal(x.shape))
    wanted = [leaves["beta1"], leaves["beta2"], leaves["gamma"]]
    ga = torch.autograd.grad(
        (simulate(tm, a_in).spikes * w).sum(), [a_in, *wanted], allow_unused=True
    )
    gb = torch.autograd.grad(
        (exact_simulate(tm, b_in).spikes * w).sum(), [b_in, *wanted], allow_unused=True
    )
    assert float(simulate(model, x).spikes.sum()) > 0 and float(ga[0].abs().max()) > 0
    assert ga[3] is None and (gb[3] is None or float(gb[3].abs()) == 0.0)  # gamma is unused
    ga, gb = ga[:3], gb[:3]
    for p, q in zip(ga, gb, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-13)
    # and the generated NumPy adjoint agrees too
    res = adjoint(model, x, grad_spikes=w.numpy())
    np.testing.assert_allclose(res.current, ga[0].numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", ["two_compartment", "lstmlif"])
def test_verify_covers_the_soma_reset(name):
    sets = [s for s in switch_sets(name) if s[1] == "soma"]
    assert len(sets) == 4  # both conventions, detached or not
    for j, (conv, reset, detach) in enumerate(sets):
        rng = np.random.default_rng([7, j])
        row = check_case(make_case(name, conv, reset, detach, rng, 150, 3), rng)
        assert row["ok"], row
        assert row["spikes"] > 0 and row["grad_norm"] > 0
        assert row["autograd_rel_err"] <= 1e-10 and row["fd_rel_err"] <= 1e-6
        assert np.isnan(row["hand_rel_err"])  # no hand recursion for this reset


@pytest.mark.parametrize("convention", ["paper", "code"])
def test_layer_exact_backward_equals_autograd(convention):
    torch.manual_seed(0)
    kw = dict(dtype=torch.float64, convention=convention, reset="soma")
    a = make_layer("lstmlif", 5, backward="autograd", **kw)
    b = make_layer("lstmlif", 5, backward="exact", **kw)
    b.load_state_dict(a.state_dict())
    x = torch.tensor(_input(T=100, B=10, seed=4).reshape(100, 2, 5))
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    wts = torch.linspace(-1, 1, 5, dtype=torch.float64)
    oa, ob = a(xa), b(xb)
    assert torch.equal(oa, ob) and float(oa.detach().sum()) > 0
    (oa * wts).sum().backward()
    (ob * wts).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-10, atol=1e-13)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert float(p.grad.abs().max()) > 0, n
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-13)


def test_derive_states_the_soma_reset_facts():
    for conv in ("paper", "code"):
        for detach in (False, True):
            rep = derive_report(
                "two_compartment", convention=conv, reset="soma", detach_reset=detach
            )
            own = [c for c in rep["checks"] if "soma reset" in c["claim"]]
            assert len(own) == 3 and all(c["holds"] for c in own), own


def test_only_two_compartment_models_take_it():
    assert "soma" in TwoCompartment.resets and "soma" in LSTMLIF.resets
    from lstmlif.neurons import LIF

    with pytest.raises(ValueError, match="unknown reset 'soma'"):
        LIF(reset="soma")
