"""Surrogate derivatives: forward H(x) with H(0) = 1, backward psi(x) = d Phi / dx.

Each surrogate's hand-written torch backward is checked against autograd of its smooth
primitive Phi written out here in torch (independently of the package) and against a central
difference of the package's NumPy primitive; psi(0) and the integral of psi against the
documented closed forms (scipy quad).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch
from scipy import integrate

from lstmlif.neurons import get_surrogate
from lstmlif.neurons.ops import SYMPY_MATH, SpikeFunction
from lstmlif.neurons.surrogates import SURROGATES


def _ndtr(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(z / math.sqrt(2)))


# name, parameters, torch primitive Phi (Phi' = psi), peak psi(0), integral of psi over R,
# points where Phi is not twice differentiable (kept away from when sampling).
CASES = [
    (
        "triangle",
        {"width": 1.0},
        lambda x: torch.where(
            x < 0, 0.5 * (1 + x.clamp(-1, 1)) ** 2, 1 - 0.5 * (1 - x.clamp(-1, 1)) ** 2
        ),
        1.0,
        1.0,
        (-1.0, 0.0, 1.0),
    ),
    (
        "triangle",
        {"width": 0.5},
        lambda x: torch.where(
            x < 0, 0.5 * (1 + (2 * x).clamp(-1, 1)) ** 2, 1 - 0.5 * (1 - (2 * x).clamp(-1, 1)) ** 2
        ),
        2.0,
        1.0,
        (-0.5, 0.0, 0.5),
    ),
    ("rectangle", {"width": 1.0}, lambda x: (x + 0.5).clamp(0, 1), 1.0, 1.0, (-0.5, 0.5)),
    ("rectangle", {"width": 2.0}, lambda x: ((x + 1) / 2).clamp(0, 1), 0.5, 1.0, (-1.0, 1.0)),
    (
        "fast_sigmoid",
        {"slope": 25.0},
        lambda x: x / (1 + 25 * x.abs()) + 1 / 25,
        1.0,
        2 / 25,
        (0.0,),
    ),
    (
        "fast_sigmoid",
        {"slope": 5.0},
        lambda x: x / (1 + 5 * x.abs()) + 1 / 5,
        1.0,
        2 / 5,
        (0.0,),
    ),
    ("sigmoid", {"slope": 4.0}, lambda x: torch.sigmoid(4 * x), 1.0, 1.0, ()),
    ("sigmoid", {"slope": 10.0}, lambda x: torch.sigmoid(10 * x), 2.5, 1.0, ()),
    (
        "arctan",
        {"alpha": 2.0},
        lambda x: 0.5 + torch.atan(math.pi / 2 * 2 * x) / math.pi,
        1.0,
        1.0,
        (),
    ),
    (
        "arctan",
        {"alpha": 3.0},
        lambda x: 0.5 + torch.atan(math.pi / 2 * 3 * x) / math.pi,
        1.5,
        1.0,
        (),
    ),
    (
        "multi_gaussian",
        {"sigma": 0.5, "h": 0.15, "s": 6.0, "scale": 0.5},
        lambda x: (
            0.5
            * (1.15 * _ndtr(x / 0.5) - 0.15 * _ndtr((x - 0.5) / 3) - 0.15 * _ndtr((x + 0.5) / 3))
        ),
        0.5
        * (
            1.15 / (0.5 * math.sqrt(2 * math.pi))
            - 2 * 0.15 * math.exp(-(0.5**2) / (2 * 3.0**2)) / (3.0 * math.sqrt(2 * math.pi))
        ),
        0.5 * (1 - 0.15),
        (),
    ),
    (
        "double_gaussian",
        {"p": 0.15, "sigma1": 0.5, "sigma2": 3.0, "scale": 0.5},
        lambda x: 0.5 * (1.15 * _ndtr(x / 0.5) - 0.3 * _ndtr(x / 3.0)),
        0.5 * (1.15 / 0.5 - 0.3 / 3.0) / math.sqrt(2 * math.pi),
        0.5 * (1 - 0.15),
        (),
    ),
    (
        "double_gaussian",
        {"p": 0.3, "sigma1": 0.4, "sigma2": 2.0, "scale": 1.0},
        lambda x: 1.3 * _ndtr(x / 0.4) - 0.6 * _ndtr(x / 2.0),
        (1.3 / 0.4 - 0.6 / 2.0) / math.sqrt(2 * math.pi),
        1.0 - 0.3,
        (),
    ),
    (
        "exponential",
        {"alpha": 5.0, "c": 0.4},
        lambda x: torch.where(
            x < 0, 0.2 * torch.exp(5 * x.clamp(max=0)), 0.4 - 0.2 * torch.exp(-5 * x.clamp(min=0))
        ),
        1.0,
        0.4,
        (0.0,),
    ),
    (
        "exponential",
        {"alpha": 2.0, "c": 0.2},
        lambda x: torch.where(
            x < 0, 0.1 * torch.exp(2 * x.clamp(max=0)), 0.2 - 0.1 * torch.exp(-2 * x.clamp(min=0))
        ),
        0.2,
        0.2,
        (0.0,),
    ),
]
IDS = [f"{c[0]}-{'-'.join(f'{v:g}' for v in c[1].values())}" for c in CASES]


def _sample(kinks: tuple[float, ...], n: int = 400) -> np.ndarray:
    """Points on [-1.5, 1.5] at least 1e-3 away from every kink."""
    x = np.random.default_rng(7).uniform(-1.5, 1.5, size=n)
    for k in kinks:
        x = x[np.abs(x - k) > 1e-3]
    return x


@pytest.mark.parametrize("name, params, primitive, peak, total, kinks", CASES, ids=IDS)
def test_backward_equals_autograd_of_primitive(name, params, primitive, peak, total, kinks):
    sur = get_surrogate(name, **params)
    x = torch.tensor(_sample(kinks), dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(primitive(x).sum(), x)
    xs = x.detach().clone().requires_grad_(True)
    (got,) = torch.autograd.grad(SpikeFunction.apply(xs, sur).sum(), xs)
    assert torch.count_nonzero(expected) > len(expected) // 5
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, params, primitive, peak, total, kinks", CASES, ids=IDS)
def test_numpy_primitive_derivative_is_psi(name, params, primitive, peak, total, kinks):
    sur = get_surrogate(name, **params)
    x = _sample(kinks)
    h = 1e-6
    numeric = (sur.primitive(x + h) - sur.primitive(x - h)) / (2 * h)
    np.testing.assert_allclose(sur(x), numeric, rtol=1e-6, atol=1e-7)
    # The primitive runs from 0 to the integral: Phi(-inf) = 0, Phi(+inf) = integral.
    assert sur.primitive(np.array(-1e6)) == pytest.approx(0.0, abs=1e-6)
    assert sur.primitive(np.array(1e6)) == pytest.approx(total, abs=1e-6)


@pytest.mark.parametrize("name, params, primitive, peak, total, kinks", CASES, ids=IDS)
def test_peak_and_integral(name, params, primitive, peak, total, kinks):
    sur = get_surrogate(name, **params)
    assert sur.peak == pytest.approx(peak, rel=1e-14)
    assert float(sur(np.array(0.0))) == pytest.approx(peak, rel=1e-14)
    x0 = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(SpikeFunction.apply(x0, sur).sum(), x0)
    assert float(g) == pytest.approx(peak, rel=1e-14)
    assert sur.integral == pytest.approx(total, rel=1e-14)
    breaks = sorted({*kinks, 0.0})
    pieces = [-np.inf, *breaks, np.inf]
    area = sum(
        integrate.quad(lambda z: float(sur(np.array(z))), a, b, limit=200, epsabs=1e-13)[0]
        for a, b in zip(pieces[:-1], pieces[1:], strict=True)
    )
    assert area == pytest.approx(total, rel=1e-8)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_forward_is_heaviside_with_h0_one(name):
    sur = get_surrogate(name)
    x = torch.tensor([-1.0, -1e-12, 0.0, 1e-12, 2.0], dtype=torch.float64)
    assert SpikeFunction.apply(x, sur).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    x32 = x.float()
    assert SpikeFunction.apply(x32, sur).dtype == torch.float32


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_three_views_of_psi_agree(name):
    sur = get_surrogate(name)
    x = np.random.default_rng(3).uniform(-2, 2, size=25)
    in_numpy = sur(x)
    xt = torch.tensor(x, requires_grad=True)
    (in_torch,) = torch.autograd.grad(SpikeFunction.apply(xt, sur).sum(), xt)
    z = sp.Symbol("z", real=True)
    expr = sur.psi(z, SYMPY_MATH)
    in_sympy = np.array([float(expr.subs(z, sp.Float(v, 30))) for v in x])
    np.testing.assert_allclose(in_torch.numpy(), in_numpy, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(in_sympy, in_numpy, rtol=1e-13, atol=1e-15)


def test_catalogue_surrogates_at_their_published_values():
    """BRF's double Gaussian has g(0) = 0.4388 and SE-adLIF's SLAYER exponential peaks at 1.0
    (docs/catalogue.md), at their defaults."""
    assert get_surrogate("double_gaussian").peak == pytest.approx(0.4388, abs=5e-5)
    assert get_surrogate("exponential").peak == 1.0
    assert get_surrogate("exponential", c=0.2).peak == 0.5  # the ECG setting


def test_default_is_triangle_width_one():
    sur = get_surrogate(None)
    assert sur.name == "triangle" and sur.width == 1.0
    assert get_surrogate(sur) is sur
